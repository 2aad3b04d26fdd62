// The in-thread engine: OpenAI-style chat completions over one loaded model.
//
//   const engine = await CreateEngine(manifestUrl, { initProgressCallback, gpu, maxContext, weightsUrl });
//   const reply = await engine.chat.completions.create({ messages, max_tokens: 64 });
//   const stream = await engine.chat.completions.create({ messages, stream: true });
//   for await (const chunk of stream) { ... }
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

import { formatConversation } from './chat_format.js';
import { ContextWindowExceededError, ModelNotLoadedError } from './errors.js';
import { ModelFiles } from './model_cache.js';
import { loadModel } from './model.js';
import { createRandom, randomSeed } from './random.js';
import { parseChatRequest } from './request.js';
import { Tokenizer } from './tokenizer.js';
import { formatBytes, formatBytesOf, formatDuration } from './units.js';

/**
 * Load the model of `manifestUrl` (and its tokenizer) and return an Engine.
 * initProgressCallback receives { progress (0..1), loaded, total, stage, text, timeElapsed (s) };
 * while the weights load (stage 'weights', loaded/total in bytes) also fromCache (bytes of them
 * read from the cache), bytesPerSecond and secondsLeft (of the download; null until measurable).
 * `gpu` replaces navigator.gpu (Node passes Dawn's); `maxContext` caps the context window;
 * `weightsUrl` is the folder of the shard files when they are hosted elsewhere (default: the
 * manifest's folder). Files are cached and verified as model_cache.js describes.
 */
export async function CreateEngine(manifestUrl, { initProgressCallback, gpu, maxContext, weightsUrl } = {}) {
  const report = progressReporter(initProgressCallback);
  const files = new ModelFiles(manifestUrl, { weightsUrl });
  const manifest = await files.manifest();
  await files.checkRoom(manifest);
  // The tokenizer downloads while the weights do; whichever fails, nothing stays allocated.
  const loads = await Promise.allSettled([
    loadModel(manifest, { gpu, maxContext, onProgress: report, readShard: (shard, onBytes) => files.shard(shard, onBytes) }),
    files.tokenizer(manifest).then((json) => Tokenizer.fromJSON(json)),
  ]);
  const [model, tokenizer] = loads.map((load) => load.value);
  const failure = loads.find((load) => load.status === 'rejected');
  if (failure) {
    await model?.destroy();
    throw failure.reason;
  }
  // Housekeeping: a cache that fails to drop old files must not fail a good load.
  await files.prune(manifest).catch(() => {});
  report({ stage: 'ready', loaded: manifest.total_bytes, total: manifest.total_bytes });
  return new Engine(model, tokenizer);
}

export class Engine {
  #model;
  #modelId;
  #tokenizer;
  #turns = new TurnQueue();
  #cachedIds = []; // token ids whose keys and values the model's KV cache holds, in order
  #interrupted = false;
  #lost;

  constructor(model, tokenizer) {
    this.#model = model;
    this.#lost = model.gpu.lost.then((error) => error ?? new Promise(() => {}));
    this.#modelId = model.manifest.model_id;
    this.#tokenizer = tokenizer;
    this.chat = { completions: { create: (request) => this.#create(request) } };
  }

  /** The loaded model's id (its folder name under models/). */
  get modelId() {
    return this.#modelId;
  }

  /**
   * Settles with a DeviceLostError when the GPU device is lost (every request fails with it from
   * then on); stays pending while the device lives.
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

  /** Abort the running generation, fail the waiting ones and free the model's GPU memory. */
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

  async #create(request) {
    const model = this.#requireModel();
    const params = parseChatRequest(request, model.manifest);
    const text = formatConversation(model.manifest.chat_format, params.messages, { addGenerationPrompt: true });
    const promptIds = this.#tokenizer.encode(text); // the chat format's text already holds any BOS
    checkContextWindow(promptIds.length, model.contextLength);
    const reply = { id: `chatcmpl-${randomHex(12)}`, created: Math.floor(Date.now() / 1000), model: model.manifest.model_id };
    const events = this.#generate(params, promptIds);
    return params.stream ? streamChunks(events, reply, params) : collectCompletion(events, reply, params);
  }

  // Yields { content, logprobs, finishReason: null } as reply text becomes final, then one event
  // with the finishReason and usage (and any text held back until then).
  async *#generate(params, promptIds) {
    const release = await this.#turns.acquire();
    try {
      const model = this.#requireModel(); // it may have been unloaded while this request waited
      this.#interrupted = false;
      const started = performance.now();
      const prefillTokens = await this.#prefill(model, promptIds);
      model.resetPenalties(promptIds);
      const manifest = model.manifest;
      const stopIds = new Set(params.ignoreEos ? [] : manifest.stop_token_ids);
      const stopStrings = params.ignoreEos ? params.stop : [...params.stop, ...manifest.chat_format.stop_strings];
      // Special tokens (an ignored EOS, a stray turn marker) are not reply text, as in `tokenizers`' decode().
      const reply = new ReplyText(this.#tokenizer.createStreamDecoder({ skipSpecialTokens: true }), stopStrings);
      const nextOptions = samplingOptions(params);
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
        const piece = reply.push(sampled.token, params.logprobs ? this.#logprobsOf(sampled) : null);
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

  // Runs the part of the prompt the KV cache does not hold yet; returns how many tokens that was.
  async #prefill(model, promptIds) {
    // At least one token must run, so that there are logits to sample the reply's first token from.
    const reused = Math.min(commonPrefixLength(this.#cachedIds, promptIds), promptIds.length - 1);
    model.truncate(reused);
    await model.prefill(promptIds.slice(reused));
    this.#cachedIds = promptIds.slice();
    return promptIds.length - reused;
  }

  // OpenAI's per-token logprobs entry.
  #logprobsOf({ token, logprob, topLogprobs }) {
    const alternatives = (topLogprobs ?? []).map((top) => ({ ...this.#tokenText(top.token), logprob: top.logprob }));
    return { ...this.#tokenText(token), logprob, top_logprobs: alternatives };
  }

  #tokenText(id) {
    const token = this.#tokenizer.decode([id]);
    return { token, bytes: [...UTF8.encode(token)] };
  }
}

const UTF8 = new TextEncoder();

function checkContextWindow(promptTokens, contextLength) {
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

// completion_tokens counts every sampled token, a final stop token included (it was generated).
function usageOf({ promptTokens, prefillTokens, completionTokens, started, firstTokenAt, lastTokenAt }) {
  const timeToFirstToken = (firstTokenAt - started) / 1000; // the prefill and the first token's sampling
  const decodeSeconds = (lastTokenAt - firstTokenAt) / 1000;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: promptTokens - prefillTokens },
    extra: {
      prefill_tokens: prefillTokens,
      prefill_tokens_per_s: timeToFirstToken > 0 ? prefillTokens / timeToFirstToken : null,
      // The first token comes from the prefill; decoding produced the rest.
      decode_tokens_per_s: decodeSeconds > 0 ? (completionTokens - 1) / decodeSeconds : null,
      time_to_first_token_s: timeToFirstToken,
    },
  };
}

// Reply text from generated tokens: decodes them as a stream (never splitting a UTF-8
// character), ends the reply before the first stop string, and holds back text that may be the
// start of one until the next tokens show it is not. A stop string can span tokens. Each token's
// logprobs entry is released with the first text it contributes, and dropped if all its text
// falls inside a stop string.
class ReplyText {
  #decoder;
  #stops;
  #text = '';
  #released = 0; // length of the text handed out so far
  #pending = []; // { start: offset of the token's text, entry: its logprobs entry }
  stopped = false;

  constructor(decoder, stops) {
    this.#decoder = decoder;
    this.#stops = stops;
  }

  /** Add a token; returns { content, logprobs } that are now final. */
  push(token, logprobsEntry) {
    if (logprobsEntry) this.#pending.push({ start: this.#text.length, entry: logprobsEntry });
    this.#text += this.#decoder.push(token);
    return this.#releaseUpTo(this.#stopAt() ?? this.#text.length - this.#heldBack());
  }

  /** The generation ended: returns the rest of the reply. */
  finish() {
    if (this.stopped) return { content: '', logprobs: [] };
    this.#text += this.#decoder.flush();
    const stopAt = this.#stopAt();
    const { content, logprobs } = this.#releaseUpTo(stopAt ?? this.#text.length);
    // Tokens that decoded to no text at all (at the very end) still were part of the reply.
    if (stopAt === null) logprobs.push(...this.#pending.splice(0).map(({ entry }) => entry));
    return { content, logprobs };
  }

  // Where the first stop string starts, if one has appeared. Text already released cannot hold
  // one: its possible beginnings were held back.
  #stopAt() {
    const starts = this.#stops.map((stop) => this.#text.indexOf(stop, this.#released)).filter((at) => at >= 0);
    if (!starts.length) return null;
    this.stopped = true;
    return Math.min(...starts);
  }

  // The length of the longest unreleased tail of the text that could begin a stop string.
  #heldBack() {
    const unreleased = this.#text.length - this.#released;
    let longest = 0;
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, unreleased); n > longest; n -= 1) {
        if (this.#text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }

  #releaseUpTo(end) {
    const content = this.#text.slice(this.#released, end);
    this.#released = Math.max(this.#released, end);
    const ready = this.#pending.findIndex(({ start }) => start >= end);
    const entries = this.#pending.splice(0, ready < 0 ? this.#pending.length : ready).map(({ entry }) => entry);
    if (this.stopped) this.#pending = [];
    return { content, logprobs: entries };
  }
}

async function collectCompletion(events, reply, params) {
  let content = '';
  const logprobs = [];
  let last;
  for await (const event of events) {
    content += event.content;
    logprobs.push(...event.logprobs);
    last = event;
  }
  const choice = { index: 0, message: { role: 'assistant', content }, logprobs: params.logprobs ? { content: logprobs } : null,
                   finish_reason: last.finishReason };
  return { ...reply, object: 'chat.completion', choices: [choice], usage: last.usage };
}

async function* streamChunks(events, reply, params) {
  const chunk = (choices, extra = {}) => ({ ...reply, object: 'chat.completion.chunk', choices, ...extra });
  let speaker = { role: 'assistant' }; // the first delta says who speaks, as OpenAI's do
  for await (const { content, logprobs, finishReason, usage } of events) {
    if (content || logprobs.length) {
      yield chunk([{ index: 0, delta: { ...speaker, content }, logprobs: params.logprobs ? { content: logprobs } : null,
                     finish_reason: null }]);
      speaker = {};
    }
    if (finishReason) {
      yield chunk([{ index: 0, delta: speaker, logprobs: null, finish_reason: finishReason }]);
      if (params.includeUsage) yield chunk([], { usage });
    }
  }
}

// Callers take turns in call order: acquire() resolves, with the function that ends the turn,
// once every earlier turn has ended.
export class TurnQueue {
  #last = Promise.resolve();

  acquire() {
    const previous = this.#last;
    let release;
    this.#last = new Promise((resolve) => { release = resolve; });
    return previous.then(() => release);
  }
}

// Reports loading progress as WebLLM's InitProgressReport does (one overall fraction and a
// line of text), plus the model loader's stage and its loaded/total counts. Each stage covers a
// fixed share of the bar; the weights dominate the wait, so they get most of it. Progress 1 is
// reported once, with stage "ready", when the engine can take requests.
const LOAD_STAGES = {
  manifest: { from: 0, to: 0.01, text: () => 'Reading the model manifest' },
  weights: { from: 0.01, to: 0.95, text: weightsText },
  pipelines: { from: 0.95, to: 0.99, text: ({ loaded, total }) => `Compiling GPU kernels: ${loaded} of ${total}` },
  ready: { from: 1, to: 1, text: ({ timeElapsed }) => `Ready (loaded in ${timeElapsed.toFixed(1)} s)` },
};

function progressReporter(callback) {
  const started = performance.now();
  const download = new DownloadRate();
  let progress = 0;
  return ({ stage, loaded, total, fromCache }) => {
    if (!callback) return;
    const { from, to, text } = LOAD_STAGES[stage] ?? { from: progress, to: progress, text: () => `Loading (${stage})` };
    progress = Math.max(progress, from + (to - from) * (total > 0 ? Math.min(loaded / total, 1) : 1));
    const report = { progress, loaded, total, stage, timeElapsed: (performance.now() - started) / 1000 };
    if (stage === 'weights') Object.assign(report, { fromCache, ...download.update(loaded, total, fromCache) });
    callback({ ...report, text: text(report) });
  };
}

// Download speed and time left while the weights load, over the bytes that come from the network
// only: cached shards load at once and would inflate the rate. The rate is the average since the
// download began (GPU uploads between shards included: they are part of the wait); the time left
// assumes the rest comes from the network too (when an interrupted download resumes, its cached
// shards come first anyway: downloads run in shard order).
const MIN_RATE_SECONDS = 0.5; // no rate before there is this much to measure it on

class DownloadRate {
  #started = null; // when the first network bytes were asked for: the report before they came
  #previous = performance.now();

  update(loaded, total, fromCache) {
    const now = performance.now();
    const downloaded = loaded - fromCache;
    if (downloaded > 0 && this.#started === null) this.#started = this.#previous;
    this.#previous = now;
    const seconds = this.#started === null ? 0 : (now - this.#started) / 1000;
    const bytesPerSecond = seconds >= MIN_RATE_SECONDS ? downloaded / seconds : null;
    return { bytesPerSecond, secondsLeft: bytesPerSecond ? (total - loaded) / bytesPerSecond : null };
  }
}

function weightsText({ loaded, total, fromCache, bytesPerSecond, secondsLeft }) {
  if (loaded === 0) return `Loading weights: ${formatBytesOf(0, total)}`;
  if (fromCache === loaded) return `Loading weights from the cache: ${formatBytesOf(loaded, total)}`;
  const speed = bytesPerSecond ? `, ${formatBytes(bytesPerSecond)}/s, ${formatDuration(secondsLeft)} left` : '';
  return `Downloading weights: ${formatBytesOf(loaded, total)}${speed}`;
}

function randomHex(bytes) {
  const values = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (value) => value.toString(16).padStart(2, '0')).join('');
}
