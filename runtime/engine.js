// The in-thread engine: OpenAI-style chat completions over one loaded model. This module runs
// generations (the decode loop, the KV-cache reuse and the queue of requests); the model itself
// is a backend's (backend.js, the only way in), requests are checked by request.js, reply text
// is assembled by reply_text.js, responses shaped by openai_response.js and load progress told
// by load_progress.js.
//
//   const engine = await CreateEngine(manifestUrl, { initProgressCallback, gpu, maxContext, weightsUrl });
//   const reply = await engine.chat.completions.create({ messages, max_tokens: 64 });
//   const stream = await engine.chat.completions.create({ messages, stream: true });
//   for await (const chunk of stream) { ... }
//   await engine.chat.completions.create({ messages }, { onProgress: (report) => ... });
//   engine.interruptGenerate(); await engine.resetChat(); await engine.unload();
//
// One generation at a time: the model has one KV cache. Generations queue and run in the order
// they start: a non-streaming create() starts at once, a stream at its first read. A stream holds
// the engine from then until it ends or the consumer stops iterating (break, return()), so a
// consumer must drain or close every stream it reads from.
//
// The KV cache outlives requests: the engine remembers the token ids it holds (the last prompt
// plus the reply tokens run so far) and a new request prefills only what follows the longest
// prefix it shares with them. Resending a conversation with one more turn therefore costs only
// the new turn. usage.extra.prefill_tokens (and OpenAI's prompt_tokens_details.cached_tokens)
// say how much was reused.
//
// create()'s second argument holds request options, as in the OpenAI SDK's create(body, options):
// onProgress(report) hears what happens before the reply's first token: waiting for the turn,
// then the prompt running in chunks (request_progress.js defines the reports).

import { loadBackend } from './backend.js';
import { ChatTemplate } from './chat_template.js';
import { ContextWindowExceededError, ModelNotLoadedError } from './errors.js';
import { progressReporter } from './load_progress.js';
import { ModelFiles } from './model_cache.js';
import { collectCompletion, logprobsEntry, responseHeader, streamChunks, usageOf } from './openai_response.js';
import { createRandom, randomSeed } from './random.js';
import { ReplyText } from './reply_text.js';
import { parseChatRequest } from './request.js';
import { progressListener, waitingReport } from './request_progress.js';
import { Tokenizer } from './tokenizer.js';
import { TurnQueue } from './turn_queue.js';

/**
 * Load the model of `manifestUrl` (and its tokenizer) and return an Engine.
 * initProgressCallback receives load_progress.js ProgressReports: { progress (0..1), loaded,
 * total, stage, text, timeElapsed (s) }, and while the weights load (stage 'weights', loaded/total
 * in bytes) also fromCache, bytesPerSecond and secondsLeft.
 * `gpu` replaces navigator.gpu (Node passes Dawn's); `maxContext` caps the context window;
 * `weightsUrl` is the folder of the shard files when they are hosted elsewhere (default: the
 * manifest's folder). Files are cached and verified as model_cache.js describes.
 * Rejects with what model_cache.js, the tokenizer, the chat template and backend.js loadBackend
 * reject with (WebGPUNotAvailableError, UnsupportedModelError, IntegrityError, QuotaExceededError, ...).
 */
export async function CreateEngine(manifestUrl, { initProgressCallback, gpu, maxContext, weightsUrl } = {}) {
  const report = progressReporter(initProgressCallback);
  const files = new ModelFiles(manifestUrl, { weightsUrl });
  const manifest = await files.manifest();
  await files.checkRoom(manifest);
  // The tokenizer downloads while the weights do; whichever fails, nothing stays allocated.
  const loads = await Promise.allSettled([
    loadBackend(manifest, { gpu, maxContext, onProgress: report, readShard: (shard, onBytes) => files.shard(shard, onBytes) }),
    files.tokenizer(manifest).then((json) => {
      const tokenizer = Tokenizer.fromJSON(json);
      return { tokenizer, chatTemplate: new ChatTemplate(manifest.chat_template, tokenizer) };
    }),
  ]);
  const [model, text] = loads.map((load) => load.value);
  const failure = loads.find((load) => load.status === 'rejected');
  if (failure) {
    await model?.destroy();
    throw failure.reason;
  }
  // Housekeeping: a cache that fails to drop old files must not fail a good load.
  await files.prune(manifest).catch(() => {});
  report({ stage: 'ready', loaded: manifest.total_bytes, total: manifest.total_bytes });
  return new Engine(model, text.tokenizer, text.chatTemplate);
}

export class Engine {
  #model;
  #modelId;
  #tokenizer;
  #chatTemplate;
  #turns = new TurnQueue();
  #cachedIds = []; // token ids whose keys and values the model's KV cache holds, in order
  #interrupted = false;
  #lost;

  /**
   * model: a backend's Model (backend.js); tokenizer: tokenizer.js Tokenizer of its manifest;
   * chatTemplate: chat_template.js ChatTemplate of its manifest and that tokenizer.
   */
  constructor(model, tokenizer, chatTemplate) {
    this.#model = model;
    this.#lost = model.lost;
    this.#modelId = model.manifest.model_id;
    this.#tokenizer = tokenizer;
    this.#chatTemplate = chatTemplate;
    this.chat = { completions: { create: (request, options) => this.#create(request, options) } };
  }

  /** The loaded model's id (its folder name under models/). */
  get modelId() {
    return this.#modelId;
  }

  /**
   * Settles with a DeviceLostError when the model's backend can no longer run it, e.g. its GPU
   * device was lost (every request fails with it from then on); stays pending while it can.
   */
  get lost() {
    return this.#lost;
  }

  /** End the running generation at its next token, with finish_reason "abort". (Queued ones still run.) */
  interruptGenerate() {
    this.#interrupted = true;
  }

  /** Forget the conversation in the KV cache (after the running generation, if any). */
  async resetChat() {
    const release = await this.#turns.acquire();
    try {
      this.#requireModel().truncate(0);
      this.#cachedIds = [];
    } finally {
      release();
    }
  }

  /** Abort the running generation, fail the waiting ones and free the model's memory (backend.js destroy). */
  async unload() {
    const model = this.#model;
    this.#model = null;
    this.#interrupted = true;
    const release = await this.#turns.acquire();
    try {
      await model?.destroy();
    } finally {
      release();
    }
  }

  #requireModel() {
    if (!this.#model) throw new ModelNotLoadedError('The model was unloaded; create a new engine to chat again.');
    return this.#model;
  }

  // options: { onProgress(report) } (request_progress.js: reports, and a callback that throws).
  async #create(request, { onProgress } = {}) {
    const report = progressListener(onProgress);
    const model = this.#requireModel();
    const params = parseChatRequest(request, model.manifest);
    // Any BOS is in the template's text; message text stays text (chat_template.js).
    const promptIds = this.#chatTemplate.encode(params.messages, { addGenerationPrompt: true,
                                                                   enableThinking: params.enableThinking });
    assertFitsContextWindow(promptIds.length, model.contextLength);
    const header = responseHeader(model.manifest.model_id);
    const events = this.#generate(params, promptIds, report);
    return params.stream ? streamChunks(events, header, params) : collectCompletion(events, header, params);
  }

  // The generation's events (openai_response.js): { content, logprobs, finishReason: null } as
  // reply text becomes final, then one with the finishReason and usage (and any text held back
  // until then). `report`: the request's progress listener, if any (request_progress.js).
  async *#generate(params, promptIds, report) {
    const release = await this.#turns.acquire({ onWait: report && ((owners) => report(waitingReport(owners))) });
    try {
      const model = this.#requireModel(); // it may have been unloaded while this request waited
      this.#interrupted = false;
      const started = performance.now();
      const prefillTokens = await this.#prefill(model, promptIds, report);
      model.resetPenalties(promptIds);
      const manifest = model.manifest;
      const stopIds = new Set(params.ignoreEos ? [] : manifest.stop_token_ids);
      // Special tokens (an ignored EOS, a stray turn marker) are not reply text, as in `tokenizers`' decode().
      const reply = new ReplyText(this.#tokenizer.createStreamDecoder({ skipSpecialTokens: true }), params.stop);
      const nextOptions = samplingOptions(params);
      const decodeToken = (id) => this.#tokenizer.decode([id]);
      const limit = Math.min(params.maxTokens ?? Infinity, model.contextLength - promptIds.length);
      let sampled = await model.sample(nextOptions());
      const firstTokenAt = performance.now();
      let lastTokenAt = firstTokenAt;
      let completionTokens = 1;
      let finishReason = null;
      while (finishReason === null) {
        if (stopIds.has(sampled.token)) {
          finishReason = 'stop';
          break;
        }
        const entry = params.logprobs ? logprobsEntry(sampled, decodeToken) : null;
        const piece = reply.push(sampled.token, entry);
        if (piece.content || piece.logprobs.length) yield { ...piece, finishReason: null };
        finishReason = reply.stopped ? 'stop' : completionTokens >= limit ? 'length' : this.#interrupted ? 'abort' : null;
        if (finishReason === null) {
          this.#cachedIds.push(sampled.token);
          sampled = await model.step(sampled.token, nextOptions());
          lastTokenAt = performance.now();
          completionTokens += 1;
        }
      }
      const usage = usageOf({ promptTokens: promptIds.length, prefillTokens, completionTokens,
                              started, firstTokenAt, lastTokenAt });
      yield { ...reply.finish(), finishReason, usage };
    } catch (error) {
      this.#cachedIds = []; // a failed prefill or step leaves the cache in an unknown state
      throw error;
    } finally {
      release();
    }
  }

  // Runs the part of the prompt the KV cache does not hold yet, telling `report` (if any) how far
  // it got; returns how many tokens that was.
  async #prefill(model, promptIds, report) {
    // At least one token must run, so that there are logits to sample the reply's first token from.
    const reused = Math.min(commonPrefixLength(this.#cachedIds, promptIds), promptIds.length - 1);
    const total = promptIds.length - reused;
    model.truncate(reused);
    report?.({ stage: 'prefill', done: 0, total });
    await model.prefill(promptIds.slice(reused), report && { onProgress: (done) => report({ stage: 'prefill', done, total }) });
    this.#cachedIds = promptIds.slice();
    return total;
  }
}

// The prompt and at least one token of reply must fit the model's KV cache.
function assertFitsContextWindow(promptTokens, contextLength) {
  if (promptTokens < contextLength) return;
  throw new ContextWindowExceededError(
    `The conversation is ${promptTokens} tokens; with at least one token of reply it does not fit the model's context ` +
    `window of ${contextLength} tokens. Start a new chat or drop early messages.`, { promptTokens, contextLength });
}

// The model's sampling options for each token: the request's settings and a fresh number from
// the request's random sequence (seeded, so a seed reproduces the reply).
function samplingOptions({ sampling, seed, logprobs, topLogprobs }) {
  const random = createRandom(seed ?? randomSeed());
  return () => ({ ...sampling, logprobs, topLogprobs, random: random() });
}

function commonPrefixLength(a, b) {
  const end = Math.min(a.length, b.length);
  let i = 0;
  while (i < end && a[i] === b[i]) i += 1;
  return i;
}
