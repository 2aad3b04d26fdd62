// The in-thread engine: OpenAI-style chat completions, and completions (a prompt continued as
// written, for base models), over one loaded model. This module runs generations (the decode
// loop, the KV-cache reuse and the queue of requests); the model itself is a backend's
// (backend.js, the only way in), requests are checked by request.js, reply text is assembled by
// reply_text.js, responses shaped by openai_response.js and load progress told by load_progress.js.
//
//   const engine = await CreateEngine(manifestUrl, { initProgressCallback, gpu, maxContext, weightsUrl, backend });
//   engine.backend;   // 'webgpu' | 'wasm': which backend runs the model (usage.extra.backend says it
//                     // too; on the CPU, usage.extra.threads how many threads it uses)
//   const reply = await engine.chat.completions.create({ messages, max_tokens: 64 });
//   const stream = await engine.chat.completions.create({ messages, stream: true });
//   for await (const chunk of stream) { ... }
//   await engine.chat.completions.create({ messages }, { onProgress: (report) => ... });
//   const completion = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 32 });
//   const prepared = engine.chat.completions.prepare(request); // checked, encoded, not run: throws
//   const reply = await prepared.create(options);              // what create() finds before running
//   engine.interruptGenerate(); await engine.resetChat(); await engine.unload();
//
// One generation at a time: the model has one KV cache. Generations queue and run in the order
// they start: a non-streaming create() starts at once, a stream at its first read. A stream holds
// the engine from then until it ends or the consumer stops iterating (break, return()), so a
// consumer must drain or close every stream it reads from.
//
// Stopping: interruptGenerate() ends every request created before the call and not finished yet:
// the running generation at its next token, or between two chunks of its prompt (backend.js prefillChunk),
// and those still waiting for their turn at once, without running. Each ends as a reply, not an
// error: finish_reason "abort" with the text generated so far (none for a request stopped before
// its first token), as a stream's last chunks or a non-streamed completion. Requests created after
// the call run as usual. (OpenAI has no such call; WebLLM's interruptGenerate() ends its one
// running generation.) create()'s `signal` option does the same for one request.
//
// The KV cache outlives requests: the engine remembers the token ids it holds (the last prompt
// plus the reply tokens run so far) and a new request prefills only what follows the longest
// prefix it shares with them. Resending a conversation with one more turn therefore costs only
// the new turn. usage.extra.prefill_tokens (and OpenAI's prompt_tokens_details.cached_tokens)
// say how much was reused.
//
// create()'s second argument holds request options, as in the OpenAI SDK's create(body, options):
// onProgress(report) hears what happens before the reply's first token: waiting for the turn,
// then the prompt running in chunks (request_progress.js defines the reports); signal (an
// AbortSignal) stops that request as interruptGenerate() does: an aborted reply, not the OpenAI
// SDK's rejection (an engine host stops its clients' requests one by one with it).
//
// Thinking: where the model's chat template thinks (its text writes <think> and </think>, and the
// tokenizer decodes them as text: Qwen3, DeepSeek-R1's distills), a chat reply's thinking block is
// kept out of message.content and handed out as message.reasoning_content (reply_text.js splits
// it, openai_response.js shapes it), as vLLM and DeepSeek's API do; usage.completion_tokens_details
// .reasoning_tokens counts its tokens. A reply starts inside the block when the prompt ends with
// <think> (the template opened it), else when the model opens it first thing.
//
// Structured output: a chat request's response_format (runtime/response_format.js checks it before
// the request queues, so a schema or grammar it cannot take fails create() itself) is compiled by
// grammar.js when the request's turn comes (so a stream never read holds no grammar). While the
// reply runs, every token is drawn under the grammar's mask (backend.js tokenMask), so the reply is
// always a valid prefix, and the model's stop tokens are allowed only where the grammar may end: a
// reply that ends with finish_reason "stop" is complete (valid JSON for the schema, a sentence of
// the grammar); one cut by max_tokens ("length") may not be. (`stop` strings, which would end a
// reply mid-grammar, are refused beside a grammar: request.js.) A grammar that allows no token,
// first or later (grammar.js assertAllowsAToken), fails the request with an InvalidRequestError
// naming its field. The
// grammar governs the reply from its first token, so a prompt that opens a thinking block cannot
// take one (the reply would be the block's content).
//
// Tool calling (runtime/tool_calls.js): a chat request's tools are rendered by the model's own
// template, and its reply is split as it streams into content and tool calls by the template's
// tool-call syntax (tool_calls.js ToolCallStream): message.tool_calls, streamed as delta.tool_calls
// (a call's id and name first, then its arguments as they are written), finish_reason "tool_calls".
// The calls decode under the grammar of the syntax and the tools' parameters (tool_calls.js
// toolCallGrammar, compiled as a response_format's is), so their arguments validate: with
// tool_choice "required" or a named function the whole reply; with "auto", text until the syntax's
// open tag (a grammar of text or calls), or, where calls begin with a special token (Mistral's
// [TOOL_CALLS], Phi-4-mini's <|tool_call|>), free decoding until the model samples that token and
// the calls' grammar from there (a forced choice makes it the first token). Llama 3's JSON calls,
// which no text or token announces, decode freely under "auto" and are parsed. parallel_tool_calls
// false allows one call. A template without tool support refuses tools (InvalidRequestError naming tools).

import { loadBackend } from './backend.js';
import { ChatTemplate } from './chat_template.js';
import { ContextWindowExceededError, InvalidRequestError, ModelNotLoadedError } from './errors.js';
import { GrammarCompiler, assertAllowsAToken } from './grammar.js';
import { progressReporter } from './load_progress.js';
import { ModelFiles } from './model_cache.js';
import { CHAT, TEXT_COMPLETION, collectCompletion, logprobsEntry, responseHeader, streamChunks, usageOf } from './openai_response.js';
import { createRandom, randomSeed } from './random.js';
import { ReplyText, isEmptyPiece } from './reply_text.js';
import { parseChatRequest, parseCompletionRequest } from './request.js';
import { progressListener, waitingReport } from './request_progress.js';
import { Tokenizer } from './tokenizer.js';
import { ToolCallStream, isForcedChoice, templateInput, toolCallGrammar, toolCallSyntaxOf, withCallToken } from './tool_calls.js';
import { TurnQueue } from './turn_queue.js';

/**
 * Load the model of `manifestUrl` (and its tokenizer) and return an Engine.
 * initProgressCallback receives load_progress.js ProgressReports: { progress (0..1), loaded,
 * total, stage, text, timeElapsed (s) }, and while the weights load (stage 'weights', loaded/total
 * in bytes) also fromCache, bytesPerSecond and secondsLeft.
 * `gpu` replaces navigator.gpu (Node passes Dawn's); `maxContext` caps the context window;
 * `weightsUrl` is the folder of the shard files when they are hosted elsewhere (default: the
 * manifest's folder). Files are cached and verified as model_cache.js describes.
 * `backend`: backend.js loadBackend's choice: 'auto' (the default: WebGPU where a usable adapter
 * exists, else the CPU through WebAssembly), 'webgpu' or 'wasm'.
 * Rejects with what model_cache.js, the tokenizer, the chat template and backend.js loadBackend
 * reject with (WebGPUNotAvailableError where backend is 'webgpu', UnsupportedModelError, IntegrityError, QuotaExceededError, ...).
 */
export async function CreateEngine(manifestUrl, { initProgressCallback, gpu, maxContext, weightsUrl, backend = 'auto' } = {}) {
  const report = progressReporter(initProgressCallback);
  const files = new ModelFiles(manifestUrl, { weightsUrl });
  const manifest = await files.manifest();
  await files.checkRoom(manifest);
  // The tokenizer downloads while the weights do; whichever fails, nothing stays allocated.
  const loads = await Promise.allSettled([
    loadBackend(manifest, { backend, gpu, maxContext, onProgress: report, readShard: (shard, onBytes) => files.shard(shard, onBytes) }),
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
  #backend;
  #runsOn; // { backend, threads (the CPU backend's; null on the GPU) }: every usage's extra says them
  #tokenizer;
  #chatTemplate;
  #thinkingTags; // { open, close } of a template that thinks, else null
  #toolSyntax; // tool_calls.js SYNTAXES entry of the template, else null (no tool support)
  #callToken; // the id of the syntax's callToken, null where it has none
  #turns = new TurnQueue();
  #cachedIds = []; // token ids whose keys and values the model's KV cache holds, in order
  #interrupt = new AbortController(); // aborted (and replaced) by interruptGenerate(): the requests created before
  #lost;
  #grammarCompiler = null; // Promise<GrammarCompiler>, made at the first request with a response_format

  /**
   * model: a backend's Model (backend.js); tokenizer: tokenizer.js Tokenizer of its manifest;
   * chatTemplate: chat_template.js ChatTemplate of its manifest and that tokenizer.
   * Throws a TypeError for a model without a whole positive prefillChunk (its prompts would never end).
   */
  constructor(model, tokenizer, chatTemplate) {
    if (!(Number.isInteger(model.prefillChunk) && model.prefillChunk > 0)) {
      throw new TypeError(`Engine: the model's prefillChunk is ${model.prefillChunk}; a backend's Model (backend.js) has a whole number of tokens above 0.`);
    }
    this.#model = model;
    this.#lost = model.lost;
    this.#modelId = model.manifest.model_id;
    this.#backend = model.backend;
    this.#runsOn = { backend: model.backend, threads: model.threads ?? null };
    this.#tokenizer = tokenizer;
    this.#chatTemplate = chatTemplate;
    this.#thinkingTags = thinkingTagsOf(model.manifest.chat_template?.template, tokenizer);
    const toolSyntax = toolCallSyntaxOf(model.manifest.chat_template?.template);
    this.#callToken = toolSyntax?.callToken ? tokenizer.tokenToId(toolSyntax.callToken) ?? null : null;
    // A syntax whose calls begin with a special token the tokenizer lacks cannot be written.
    this.#toolSyntax = toolSyntax?.callToken && this.#callToken === null ? null : toolSyntax;
    this.chat = { completions: this.#api(CHAT, (request, manifest) => {
      const params = parseChatRequest(request, manifest);
      const grammar = this.#grammarSourceOf(params);
      const input = params.tools ? templateInput(this.#toolSyntax, params.messages, params.tools.tools)
        : { messages: params.messages, tools: null };
      // Any BOS is in the template's text; message text stays text (chat_template.js).
      const promptIds = this.#chatTemplate.encode(input.messages, { addGenerationPrompt: true, tools: input.tools,
                                                                    enableThinking: params.enableThinking });
      const thinking = this.#thinkingOf(promptIds);
      if (grammar && !grammar.freeStart && thinking?.opened) {
        throw new InvalidRequestError(`${grammar.field} cannot be used while the prompt opens a thinking block: the grammar `
                                      + 'governs the reply from its first token. Set enable_thinking to false.', { field: grammar.field });
      }
      // With tool_choice "none" the reply is text as written.
      const toolSyntax = params.tools && params.tools.choice !== 'none' ? this.#toolSyntax : null;
      // (counted only where the prompt does not fit: whether its last message alone is what does not)
      const messageTokens = () => this.#chatTemplate.encode(input.messages.slice(-1), { addGenerationPrompt: true,
        tools: input.tools, enableThinking: params.enableThinking }).length;
      return { params: { ...params, thinking, grammar, toolSyntax }, promptIds, messageTokens };
    }) };
    this.completions = this.#api(TEXT_COMPLETION, (request, manifest) => {
      const params = parseCompletionRequest(request, manifest);
      return { params, promptIds: this.#encodePrompt(params.prompt, manifest) };
    });
  }

  /** The loaded model's id (its folder name under models/). */
  get modelId() {
    return this.#modelId;
  }

  /** Which backend runs the model: 'webgpu' | 'wasm' (backend.js Model.backend); also each usage's extra.backend. */
  get backend() {
    return this.#backend;
  }

  /**
   * Settles with a DeviceLostError when the model's backend can no longer run it, e.g. its GPU
   * device was lost (every request fails with it from then on); stays pending while it can.
   */
  get lost() {
    return this.#lost;
  }

  /**
   * End every request created before this call that has not finished: the running generation at
   * its next token (or prompt slice), the waiting ones at once; each as a reply with
   * finish_reason "abort" (see the top of this file).
   */
  interruptGenerate() {
    this.#interrupt.abort();
    this.#interrupt = new AbortController();
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

  /**
   * End the running and waiting generations as interruptGenerate() does and free the model's
   * memory (backend.js destroy); requests after this fail with ModelNotLoadedError.
   */
  async unload() {
    const model = this.#model;
    this.#model = null;
    this.interruptGenerate();
    const release = await this.#turns.acquire();
    try {
      await model?.destroy();
      (await this.#grammarCompiler?.catch(() => null))?.dispose();
      this.#grammarCompiler = null;
    } finally {
      release();
    }
  }

  #requireModel() {
    if (!this.#model) throw new ModelNotLoadedError('The model was unloaded; create a new engine to chat again.');
    return this.#model;
  }

  // One API's entry points (engine.chat.completions, engine.completions): create(request, options)
  // and prepare(request). `api`: openai_response.js CHAT or TEXT_COMPLETION; encode(request,
  // manifest): the request's { params, promptIds, messageTokens? }, validated (request.js) and encoded.
  #api(api, encode) {
    /**
     * Check `request` and encode its prompt, without running it: everything create() finds wrong
     * before the request waits for its turn, thrown here (InvalidRequestError naming the field,
     * from request.js, the chat template or the model's tool support; ContextWindowExceededError;
     * ModelNotLoadedError after unload()). Returns { create(options) }, which runs it as
     * create(request, options) would; what it can still reject with is found only while the
     * request runs (a grammar that allows no token, a lost device). An engine host checks each
     * request so before it queues (engine_host.js), to tell its client at once.
     * @param {object} request  an OpenAI chat-completions (completions) request
     * @returns {{ create: (options?: { onProgress?: Function, signal?: AbortSignal }) => Promise<object | AsyncIterable<object>> }}
     */
    const prepare = (request) => {
      const model = this.#requireModel();
      const { params, promptIds, messageTokens } = encode(request, model.manifest);
      assertFitsContextWindow(promptIds.length, params, model.contextLength, messageTokens);
      return { create: (options) => this.#create(api, params, promptIds, options) };
    };
    return { create: async (request, options) => prepare(request).create(options), prepare };
  }

  // Runs a prepared request (`params`, `promptIds`: #api's prepare()) as `api`'s response; options:
  // { onProgress(report), signal } (request_progress.js: reports, and a callback that throws).
  async #create(api, params, promptIds, { onProgress, signal } = {}) {
    const report = progressListener(onProgress);
    const stop = signal ? AbortSignal.any([this.#interrupt.signal, signal]) : this.#interrupt.signal;
    const model = this.#requireModel();
    const header = responseHeader(model.manifest.model_id, api);
    const events = this.#generate(params, promptIds, report, stop);
    return params.stream ? streamChunks(events, header, params, api) : collectCompletion(events, header, params, api);
  }

  // The grammar a chat reply decodes under, null for none: { source (grammar.js), field (the request
  // field it comes from), freeStart (text may come first: tool_choice "auto"), callToken (the id of
  // the syntax's call token: the grammar starts after it, null: from the first token), forced (the
  // reply must begin with that token) }: the response_format's, or the tool choice's
  // (tool_calls.js toolCallGrammar). Throws InvalidRequestError naming tools where the model has no
  // tool support.
  #grammarSourceOf({ responseFormat, tools }) {
    if (tools && !this.#toolSyntax) {
      throw new InvalidRequestError(`${this.#modelId} has no tool support (its chat template renders no tools, or its `
        + 'tokenizer lacks the special token its calls begin with), so the model cannot call functions: leave tools out, '
        + 'or use a model whose template takes tools (Qwen2.5, Qwen3, Llama 3.1/3.2, Mistral v0.3, Phi-4-mini).', { field: 'tools' });
    }
    if (responseFormat) return { source: responseFormat, field: 'response_format' };
    const source = tools && tools.choice !== 'none' ? toolCallGrammar(this.#toolSyntax, tools) : null;
    if (!source) return null;
    const forced = isForcedChoice(tools);
    return { source, field: 'tool_choice', freeStart: !forced, callToken: this.#callToken, forced };
  }

  // The grammar.js CompiledGrammar of a #grammarSourceOf() grammar. The compiler (the vocabulary's
  // tables: a tenth of a second or more) is built once, at the first such request.
  // response_format.js and tool_calls.js have checked the source; should xgrammar still refuse it,
  // that is the request's problem, said as such.
  async #compileGrammar(model, { source, field }) {
    this.#grammarCompiler ??= GrammarCompiler.create(this.#tokenizer, { vocabSize: model.vocabSize,
                                                                        stopTokenIds: model.manifest.stop_token_ids });
    const compiler = await this.#grammarCompiler.catch((error) => {
      this.#grammarCompiler = null;
      throw error;
    });
    try {
      return await compiler.compile(source);
    } catch (error) {
      throw new InvalidRequestError(`${field} could not be compiled into a grammar (${error.message}); `
                                    + 'simplify the schema or grammar.', { field });
    }
  }

  // The reply's thinking tags (reply_text.js ThinkingTags) for a chat prompt, null where the
  // template does not think. The prompt opened the block if its text ends with the open tag (and
  // whitespace): DeepSeek-R1's generation prompt does; Qwen3's leaves it to the model, or with
  // enable_thinking false ends with an empty block, closed.
  #thinkingOf(promptIds) {
    if (!this.#thinkingTags) return null;
    const tail = this.#tokenizer.decode(promptIds.slice(-PROMPT_TAIL_TOKENS)).trimEnd();
    return { ...this.#thinkingTags, opened: tail.endsWith(this.#thinkingTags.open) };
  }

  // A completions prompt as token ids: the tokenizer's BOS rule (manifest tokenizer.add_bos_token)
  // and no chat template; special-token text in it stays text, as in chat messages
  // (chat_template.js), so a prompt cannot forge control tokens.
  #encodePrompt(prompt, manifest) {
    const ids = this.#tokenizer.encode(prompt, { splitSpecialTokens: true });
    const { add_bos_token: addBos, bos_token_id: bos } = manifest.tokenizer;
    return addBos ? [bos, ...ids] : ids;
  }

  // The generation's events (openai_response.js): { reasoning, content, reasoningLogprobs,
  // logprobs, toolCalls, finishReason: null } as reply text (and tool calls) become final, then one
  // with the finishReason and usage (and any text held back until then); a reply that made tool
  // calls and ended by itself finishes with "tool_calls", as OpenAI's do. `report`: the request's
  // progress listener, if any (request_progress.js); `stop`: the AbortSignal that interrupts it.
  // params.grammar (#grammarSourceOf) is compiled here, under the turn (the compiler's cache may
  // free a grammar no running request holds, and a stream never read compiles nothing), while the
  // prompt's prefill runs.
  async *#generate(params, promptIds, report, stop) {
    const release = await this.#turns.acquire({ onWait: report && ((owners) => report(waitingReport(owners))), signal: stop });
    if (!release) { // stopped while it waited: nothing ran
      yield abortedEvent({ promptTokens: promptIds.length, cachedTokens: 0, prefillTokens: 0 }, this.#runsOn);
      return;
    }
    let grammar = null;
    let matcher = null;
    let ran = false; // whether the model ran (until then the KV cache is as the last request left it)
    let queued; // run ahead and not used yet: a step's draw (a Promise), a forward pass (null), or none (undefined)
    let drawing = null; // the draw of the token being read back (a Promise), awaited in `finally`
    try {
      const model = this.#requireModel(); // it may have been unloaded while this request waited
      const started = performance.now();
      ran = true;
      // The grammar compiles while the prompt runs on the GPU: a schema's first compile takes a
      // tenth of a second or more on a 128k vocabulary (README), often as long as the prefill.
      const prefilled = handled(this.#prefill(model, promptIds, report, stop));
      // A grammar after a call token waits for it (forced: the reply's first token is the call token).
      const callToken = params.grammar?.callToken ?? null;
      let firstMask;
      try {
        grammar = params.grammar ? await this.#compileGrammar(model, params.grammar) : null;
        matcher = callToken === null ? await grammar?.matcher() : null;
        firstMask = callToken !== null && params.grammar.forced ? onlyTokenMask(callToken, model.vocabSize)
          : await matcher?.nextTokenMask();
        if (firstMask) assertAllowsAToken(firstMask, { field: params.grammar.field, first: true });
      } catch (error) {
        await prefilled.catch(() => {}); // the turn ends after the prompt's run: nothing of it is left running
        throw error;
      }
      const { cachedTokens, prefillTokens } = await prefilled;
      if (stop.aborted) { // stopped while the prompt ran: the cache keeps what ran (#cachedIds)
        yield abortedEvent({ promptTokens: promptIds.length, cachedTokens, prefillTokens }, this.#runsOn);
        return;
      }
      model.resetPenalties(promptIds);
      const manifest = model.manifest;
      const stopIds = new Set(params.ignoreEos ? [] : manifest.stop_token_ids);
      // Special tokens (an ignored EOS, a stray turn marker) are not reply text, as in `tokenizers`' decode().
      const decoder = this.#tokenizer.createStreamDecoder({ skipSpecialTokens: true });
      const reply = new ReplyText(params.toolSyntax?.callToken ? withCallToken(decoder, this.#callToken, params.toolSyntax.callToken)
        : decoder, params.stop, { thinking: params.thinking });
      // Calls decoded under the tool grammar stream their arguments as they are written.
      const toolCalls = params.toolSyntax && new ToolCallStream(params.toolSyntax, params.tools.tools, {
        constrained: Boolean(params.grammar), parallel: params.tools.parallel });
      let called = false;
      // A reply piece with its content split into content and tool calls (none without tools).
      const split = (piece, end) => {
        const parts = toolCalls ? (end ? toolCalls.finish(piece.content) : toolCalls.push(piece.content))
          : { content: piece.content, toolCalls: [] };
        called ||= parts.toolCalls.length > 0;
        return { ...piece, ...parts };
      };
      const nextOptions = samplingOptions(params, () => matcher);
      const limit = Math.min(params.maxTokens ?? Infinity, model.contextLength - promptIds.length);
      // Run ahead: the step after each token is queued before that token is read back, where it
      // may be used (the reply has room for one more token): without a grammar the whole step
      // (backend.js stepAhead); under one, whose mask needs the token, its forward pass alone
      // (forwardAhead), the mask computed while the device runs it, then sample() with it. A
      // backend with neither runs step() after each readback. One not used is discarded in `finally`.
      const ahead = grammar ? typeof model.forwardAhead === 'function' && 'forward'
        : typeof model.stepAhead === 'function' && 'step';
      // -> `queued`: the draw of a step run ahead (a Promise, not awaited here: the device runs it
      // while the host reads the token before it back), null for a forward pass (no draw), or
      // undefined: nothing queued (`tokens`: drawn so far, counting the unread one). A forward pass
      // that cannot be queued throws here (backend.js forwardAhead), a step's draw rejects.
      const queueAhead = (tokens) => {
        if (!ahead || tokens >= limit) return undefined;
        if (ahead === 'step') return handled(nextOptions().then((options) => model.stepAhead(options)));
        model.forwardAhead();
        return null;
      };
      drawing = handled(model.sample(await nextOptions(firstMask)));
      queued = queueAhead(1);
      let sampled = await drawing;
      const firstTokenAt = performance.now();
      let lastTokenAt = firstTokenAt;
      let completionTokens = 1;
      let finishReason = null;
      while (finishReason === null) {
        matcher?.acceptToken(sampled.token);
        if (sampled.token === callToken && !matcher) matcher = await grammar.matcher(); // the calls begin
        if (stopIds.has(sampled.token) || matcher?.isTerminated) { // a grammar ends on a stop token even with ignore_eos
          finishReason = 'stop';
          break;
        }
        const entry = params.logprobs ? logprobsEntry(sampled, this.#tokenizer) : null;
        const piece = split(reply.push(sampled.token, entry), false);
        if (!isEmptyPiece(piece)) yield { ...piece, finishReason: null };
        finishReason = reply.stopped ? 'stop' : completionTokens >= limit ? 'length' : stop.aborted ? 'abort' : null;
        if (finishReason === null) {
          this.#cachedIds.push(sampled.token);
          // token t+1: the draw of the step run ahead, a draw from the forward pass run ahead, or a step now
          drawing = queued ?? handled(queued === null ? model.sample(await nextOptions())
            : model.step(sampled.token, await nextOptions()));
          queued = undefined; // used: should queueing the next one fail, `finally` must not undo this one
          queued = queueAhead(completionTokens + 1);
          sampled = await drawing;
          lastTokenAt = performance.now();
          completionTokens += 1;
        }
      }
      const rest = split(reply.finish(), true); // before usage: it settles reasoningTokens
      if (called && finishReason === 'stop') finishReason = 'tool_calls';
      const usage = withBackend(usageOf({ promptTokens: promptIds.length, cachedTokens, prefillTokens, completionTokens,
                                          reasoningTokens: reply.reasoningTokens, started, firstTokenAt, lastTokenAt }),
                                this.#runsOn);
      yield { ...rest, finishReason, usage };
    } catch (error) {
      if (ran) this.#cachedIds = []; // a failed prefill or step leaves the cache in an unknown state
      throw error;
    } finally {
      // Before the next request runs: the draw being read back is read (the sampler takes no new
      // request while one is in flight), and a step run ahead past the end is undone once its
      // readback is done with. A failure here is the backend's (a lost device), which the next
      // request hears.
      await drawing?.catch(() => {});
      if (queued !== undefined) {
        await Promise.resolve(queued).then((unused) => this.#model?.discard(unused)).catch(() => {});
      }
      matcher?.dispose();
      grammar?.dispose();
      release();
    }
  }

  // Runs the part of the prompt the KV cache does not hold yet, one backend chunk (backend.js
  // prefillChunk) a call until it has all run or `stop` aborts, telling `report` (if any) how far it
  // got. Whole chunks run the same dispatches as one call would; one chunk is the shortest wait for
  // a stop, which matters on a slow device (SwiftShader read a 276-token prompt in 57 s, 26 s a
  // 128-token chunk). Each call costs the device an idle moment while the engine hears it has run
  // (a millisecond or a few, against a 512-row chunk's tens of milliseconds on a GPU). Returns
  // { cachedTokens: the prompt's prefix the cache held, prefillTokens: how many ran }; #cachedIds
  // follows the cache slice by slice, so that a stopped prompt's prefix serves the next request.
  async #prefill(model, promptIds, report, stop) {
    // At least one token must run, so that there are logits to sample the reply's first token from.
    const cachedTokens = Math.min(commonPrefixLength(this.#cachedIds, promptIds), promptIds.length - 1);
    const total = promptIds.length - cachedTokens;
    model.truncate(cachedTokens);
    this.#cachedIds = promptIds.slice(0, cachedTokens);
    report?.({ stage: 'prefill', done: 0, total });
    let done = 0;
    while (done < total && !stop.aborted) {
      const ran = done;
      const slice = promptIds.slice(cachedTokens + ran, cachedTokens + ran + model.prefillChunk);
      await model.prefill(slice, report && { onProgress: (n) => report({ stage: 'prefill', done: ran + n, total }) });
      done += slice.length;
      this.#cachedIds = promptIds.slice(0, cachedTokens + done);
    }
    return { cachedTokens, prefillTokens: done };
  }
}

// The last event of a request stopped before its reply's first token: no text, no tokens sampled.
function abortedEvent({ promptTokens, cachedTokens, prefillTokens }, runsOn) {
  const usage = withBackend(usageOf({ promptTokens, cachedTokens, prefillTokens, completionTokens: 0, firstTokenAt: null }),
                            runsOn);
  return { reasoning: '', content: '', reasoningLogprobs: [], logprobs: [], toolCalls: [], finishReason: 'abort', usage };
}

// openai_response.js usageOf's `usage` with extra.backend: which backend ran the request ('webgpu' |
// 'wasm'), and on the CPU extra.threads (how many threads split its work: runtime/wasm/threads.js),
// so that a reply's speed reads against the hardware that made it.
function withBackend(usage, { backend, threads }) {
  return { ...usage, extra: { ...usage.extra, backend, ...(threads && { threads }) } };
}

// Enough of a prompt's last tokens to hold an open tag and whitespace, even as plain-text pieces.
const PROMPT_TAIL_TOKENS = 8;

// The thinking tags of a chat template that thinks, else null. Its text must write both tags (the
// generation prompt or the handling of earlier turns does), and the tokenizer must decode them as
// text: a special token's text is skipped in replies (as `tokenizers`' decode skips it), so a
// tokenizer making them special would hide the tags from the splitter.
// (The build could record this in the manifest's chat_template section; computed here meanwhile.)
function thinkingTagsOf(template, tokenizer) {
  const tags = { open: '<think>', close: '</think>' };
  if (typeof template !== 'string' || !template.includes(tags.open) || !template.includes(tags.close)) return null;
  const special = tokenizer.addedTokens.some(({ content, special: isSpecial }) => isSpecial
    && (content === tags.open || content === tags.close));
  return special ? null : tags;
}

// The prompt and its reply must fit the model's KV cache (contextLength tokens): at least one token
// of reply, and every token a max_tokens (or max_completion_tokens) that the request gives asks
// for: OpenAI's API refuses such a request (400 context_length_exceeded) rather than cut the reply
// short. A max_tokens not given (request.js maxTokensField null) runs to the context's end at most.
// `field` names the request field to change where it is max_tokens (the prompt's field otherwise:
// openai_endpoint.js knows which API it is). `messageTokens()` (chat requests): the tokens of the
// last message alone, in the chat template; where that alone does not fit, the error says so and
// carries it as `messageTokens` (a new chat cannot help then, a shorter message can).
function assertFitsContextWindow(promptTokens, { maxTokens, maxTokensField }, contextLength, messageTokens) {
  if (promptTokens >= contextLength) {
    const alone = messageTokens?.();
    if (alone >= contextLength) {
      throw new ContextWindowExceededError(
        `The last message alone is ${alone} tokens (in the chat template); with at least one token of reply it does ` +
        `not fit the model's context window of ${contextLength} tokens. Shorten that message.`,
        { promptTokens, contextLength, messageTokens: alone });
    }
    throw new ContextWindowExceededError(
      `The prompt is ${promptTokens} tokens; with at least one token of reply it does not fit the model's context ` +
      `window of ${contextLength} tokens. Shorten it (in a chat: start a new chat or drop early messages).`,
      { promptTokens, contextLength });
  }
  if (maxTokensField !== null && promptTokens + maxTokens > contextLength) {
    const room = contextLength - promptTokens;
    throw new ContextWindowExceededError(
      `The prompt is ${promptTokens} tokens and ${maxTokensField} asks for ${maxTokens} more; this model's context is ` +
      `${contextLength} tokens: lower ${maxTokensField} to at most ${room} (or leave it out: the reply then stops at ` +
      'the context\'s end), or shorten the prompt.', { promptTokens, contextLength, maxTokens, field: maxTokensField });
  }
}

// The model's sampling options for each token (a promise): the request's settings, a fresh number
// from the request's random sequence (seeded, so a seed reproduces the reply) and, under a
// grammar, the mask of the tokens the current matcher (matcherNow(): grammar.js GrammarMatcher, or
// null) allows next, or `mask` where the caller has it already (the first token's, checked there).
// A matcher's mask that allows nothing rejects with the grammar's InvalidRequestError.
function samplingOptions({ sampling, seed, logprobs, topLogprobs, grammar }, matcherNow) {
  const random = createRandom(seed ?? randomSeed());
  return async (mask) => {
    const matcher = matcherNow();
    const tokenMask = mask ?? (matcher ? await matcher.nextTokenMask() : null);
    if (!mask && tokenMask) assertAllowsAToken(tokenMask, { field: grammar.field, first: false });
    return { ...sampling, logprobs, topLogprobs, random: random(), tokenMask };
  };
}

// `promise`, marked as handled: work started before its result is awaited (the prefill beside the
// grammar's compile, a step queued ahead) may fail (a lost device) before that await, or never be
// awaited (the loop ended on an error); whoever awaits it still sees its rejection.
function handled(promise) {
  promise.catch(() => {});
  return promise;
}

// A backend tokenMask (backend.js: bit t & 31 of word t >> 5) allowing `token` alone.
function onlyTokenMask(token, vocabSize) {
  const mask = new Uint32Array(Math.ceil(vocabSize / 32));
  mask[token >> 5] = 1 << (token & 31);
  return mask;
}

function commonPrefixLength(a, b) {
  const end = Math.min(a.length, b.length);
  let i = 0;
  while (i < end && a[i] === b[i]) i += 1;
  return i;
}
