// OpenAI's response objects from a generation: for chat completions (CHAT) one
// `chat.completion`, or a stream of `chat.completion.chunk`s; for completions (TEXT_COMPLETION)
// one `text_completion`, or a stream of `text_completion` chunks; with OpenAI's ids, usage and
// logprobs shapes (plus usage.extra: speeds and how much of the prompt the KV cache already held).
// The engine (engine.js) produces the generation events; this module only shapes them, by one
// mechanism for both APIs: an API object says what its choices look like.
//
// A generation is an async iterable of events (reply_text.js Pieces with a finish reason):
//   { reasoning, content, reasoningLogprobs, logprobs, toolCalls, finishReason: null }
//                                   reply text (and logprobs entries, tool calls) now final; not all empty
//   { ..., finishReason, usage }    the last one: the rest of the reply (may be empty),
//                                   'stop' | 'length' | 'tool_calls' | 'abort', usageOf()
// reasoning and content are strings (reasoning: the model's thinking, '' for a model that does
// not think; absent counts as ''); logprobs and reasoningLogprobs are arrays of logprobsEntry()
// objects (empty unless the request asked for logprobs); toolCalls (absent counts as []) holds
// OpenAI's delta.tool_calls entries (tool_calls.js ToolCallStream): a call's first,
// { index, id, type, function: { name, arguments: '' } }, then { index, function: { arguments } }
// fragments. A whole response joins them into message.tool_calls; a stream sends each entry as
// one chunk's delta.tool_calls, as OpenAI does, so the chunks join into the same calls.
//
// Thinking (chat completions of a model whose template thinks, params.thinking set): the thinking
// goes to message.reasoning_content (streamed: delta.reasoning_content chunks, before the
// delta.content ones), the field vLLM, SGLang and DeepSeek's API use; null where the reply had
// none. Its tokens' logprobs entries go to logprobs.reasoning_content, beside OpenAI's
// logprobs.content (as OpenAI puts a refusal's in logprobs.refusal), so logprobs.content keeps
// OpenAI's meaning: the tokens of message.content. The tags' own tokens have no entry in either.
//
// Fields OpenAI's objects always carry that mean nothing here are there, null, so clients typed by
// the openai SDK find them: message.refusal and logprobs.refusal (CHAT below), system_fingerprint
// on every object of a response (responseHeader).

/**
 * @typedef {object} Api  one OpenAI API's response shapes
 * @property {string} idPrefix  of response ids
 * @property {string} object  the `object` of a whole response
 * @property {string} chunkObject  the `object` of a streamed chunk
 * @property {(params: object) => string} echo  text the response repeats before the reply
 * @property {(piece: Piece, params: object) => object} choice  the choice of a whole response
 * @property {(piece: Piece, params: object, first: boolean) => object} delta  the choice of a
 *   chunk; `first`: no chunk with a choice came before it
 *
 * @typedef {object} Piece
 * @property {'content' | 'reasoning_content' | 'tool_calls'} field  which part of the reply a chunk's
 *   text is (a whole response: 'content'); 'tool_calls': the chunk carries `toolCalls` deltas
 * @property {object[]} toolCalls  (whole chat responses) the tool calls; (chunks of field
 *   'tool_calls') OpenAI's delta.tool_calls entries
 * @property {string} text  the reply's text (a chunk: its part of it)
 * @property {object[]} logprobs  logprobsEntry() objects of its tokens
 * @property {string} reasoning  (whole chat responses) the thinking's text
 * @property {object[]} reasoningLogprobs  (whole chat responses) logprobsEntry() objects of the thinking
 * @property {string | null} finishReason  null but in the last (or, streamed, the finish chunk)
 * @property {number} offset  where `text` starts in the response's whole text (echo included)
 */

/**
 * Chat completions. params: { logprobs: boolean } (parseChatRequest), and thinking (truthy where
 * the model's template thinks: the message and logprobs then carry reasoning_content, see the top
 * of this file). The first delta names the speaker, as OpenAI's do; the finish chunk has no
 * content and no logprobs.
 * @type {Api}
 */
export const CHAT = {
  idPrefix: 'chatcmpl',
  object: 'chat.completion',
  chunkObject: 'chat.completion.chunk',
  echo: () => '',
  choice: ({ text, logprobs, reasoning, reasoningLogprobs, toolCalls = [], finishReason }, params) => {
    const thinks = Boolean(params.thinking);
    const calls = toolCalls.length ? { tool_calls: toolCalls } : {};
    return {
      index: 0,
      // refusal (and logprobs.refusal): where OpenAI's models put a refusal instead of content (one
      // under a response_format schema comes there, outside it). A model here has no such channel: it
      // refuses in content (under a grammar, in the grammar's terms), so both are always null, as
      // OpenAI's are on a reply that refused nothing; the openai SDK's types require them.
      message: { role: 'assistant', content: toolCalls.length && !text ? null : text, refusal: null,
                 ...(thinks ? { reasoning_content: reasoning || null } : {}), ...calls },
      logprobs: params.logprobs
        ? { content: logprobs, refusal: null, ...(thinks ? { reasoning_content: reasoningLogprobs } : {}) } : null,
      finish_reason: finishReason,
    };
  },
  delta: ({ field, text, logprobs, toolCalls, finishReason }, params, first) => {
    const calls = field === 'tool_calls';
    return {
      index: 0,
      delta: { ...(first ? { role: 'assistant' } : {}), ...(finishReason ? {} : { [field]: calls ? toolCalls : text }) },
      logprobs: params.logprobs && !finishReason && !calls
        ? { content: field === 'content' ? logprobs : null, refusal: null,
            ...(field === 'content' ? {} : { [field]: logprobs }) } : null,
      finish_reason: finishReason,
    };
  },
};

/**
 * Completions (OpenAI's legacy API, for base models). params: { logprobs: boolean, echo: boolean,
 * prompt: string } (parseCompletionRequest); with echo the response's text begins with the prompt.
 * Logprobs take the legacy shape: { tokens, token_logprobs, top_logprobs: [{ text: logprob }],
 * text_offset } (offsets in UTF-16 code units of the response's text, counted from each token's
 * own text: a character split across tokens counts in each).
 * @type {Api}
 */
export const TEXT_COMPLETION = {
  idPrefix: 'cmpl',
  object: 'text_completion',
  chunkObject: 'text_completion',
  echo: (params) => (params.echo ? params.prompt : ''),
  choice: ({ text, logprobs, finishReason, offset }, params) => ({
    index: 0, text, logprobs: params.logprobs ? completionLogprobs(logprobs, offset) : null, finish_reason: finishReason,
  }),
  delta: (piece, params) => TEXT_COMPLETION.choice(piece, { logprobs: params.logprobs && !piece.finishReason }),
};

function completionLogprobs(entries, offset) {
  let at = offset;
  const textOffset = entries.map(({ token }) => {
    const start = at;
    at += token.length;
    return start;
  });
  return {
    tokens: entries.map(({ token }) => token),
    token_logprobs: entries.map(({ logprob }) => logprob),
    top_logprobs: entries.map(({ top_logprobs: top }) => Object.fromEntries(top.map(({ token, logprob }) => [token, logprob]))),
    text_offset: textOffset,
  };
}

/**
 * The fields every object of one response shares: { id: '<api.idPrefix>-<24 hex digits>',
 * created (Unix seconds), model: modelId, system_fingerprint: null }.
 * @param {string} modelId
 * @param {Api} api  CHAT or TEXT_COMPLETION
 */
export function responseHeader(modelId, api) {
  // system_fingerprint (OpenAI's chat.completion, its chunks and text_completion carry it): "the
  // backend configuration the model runs with", which a client compares across replies to learn
  // whether a seed still reproduces one. null, as vLLM sends it and OpenAI did for models without
  // one: a seeded reply here depends on the visitor's GPU and driver, the f16 or f32 path and the
  // kernel variants chosen for that adapter, none of which the engine can name through backend.js;
  // a stable string (runtime and model) would stay equal where replies differ, promising a
  // determinism there is not. `model` names the model, usage.extra.backend the runtime's backend.
  return { id: `${api.idPrefix}-${randomHex(12)}`, created: Math.floor(Date.now() / 1000), model: modelId,
           system_fingerprint: null };
}

/**
 * OpenAI's usage object. Times are performance.now() milliseconds: `started` when the request's
 * turn began, `firstTokenAt` when the first token was sampled (null: the request was stopped
 * before that), `lastTokenAt` the last.
 * completionTokens counts every sampled token, a final stop token included (it was generated);
 * cachedTokens is the prompt's prefix the KV cache already held, prefillTokens the part of the
 * prompt that ran (all the rest, unless the request was stopped while it ran or before);
 * reasoningTokens those of the completion tokens that were thinking (reply_text.js reasoningTokens).
 * @returns {{ prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details: { cached_tokens },
 *   completion_tokens_details: { reasoning_tokens },
 *   extra: { prefill_tokens, prefill_tokens_per_s, decode_tokens_per_s, time_to_first_token_s } }}
 *   (the speeds are null where no time passed to measure them on; the time to first token is
 *   null where there was no first token)
 */
export function usageOf({ promptTokens, cachedTokens, prefillTokens, completionTokens, reasoningTokens = 0, started,
                          firstTokenAt, lastTokenAt }) {
  const sampled = firstTokenAt !== null;
  const timeToFirstToken = sampled ? (firstTokenAt - started) / 1000 : null; // the prefill and the first token's sampling
  const decodeSeconds = sampled ? (lastTokenAt - firstTokenAt) / 1000 : 0;
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
    completion_tokens_details: { reasoning_tokens: reasoningTokens },
    extra: {
      prefill_tokens: prefillTokens,
      prefill_tokens_per_s: timeToFirstToken > 0 ? prefillTokens / timeToFirstToken : null,
      // The first token comes from the prefill; decoding produced the rest.
      decode_tokens_per_s: decodeSeconds > 0 ? (completionTokens - 1) / decodeSeconds : null,
      time_to_first_token_s: timeToFirstToken,
    },
  };
}

/**
 * OpenAI's logprobs entry of one generated token: { token (its text), bytes (its own raw bytes, as
 * numbers 0..255: a token holding part of a character gives that part, so a client joins them
 * across tokens, as OpenAI documents), logprob, top_logprobs: [{ token, bytes, logprob }] }.
 * @param {{ token: number, logprob: number, topLogprobs: null | { token: number, logprob: number }[] }} sampled
 *   what the model's sample()/step() returned (runtime/backend.js)
 * @param {{ decode: (ids: number[]) => string, tokenBytes: (id: number) => Uint8Array }} tokenizer
 *   the model's tokenizer.js Tokenizer
 */
export function logprobsEntry({ token, logprob, topLogprobs }, tokenizer) {
  const textOf = (id) => ({ token: tokenizer.decode([id]), bytes: [...tokenizer.tokenBytes(id)] });
  const alternatives = (topLogprobs ?? []).map((top) => ({ ...textOf(top.token), logprob: top.logprob }));
  return { ...textOf(token), logprob, top_logprobs: alternatives };
}

/**
 * Run a generation to its end and return the whole response (`chat.completion`, `text_completion`).
 * @param {AsyncIterable} events  the generation (above)
 * @param {object} header  responseHeader()
 * @param {object} params  the request's parsed settings, as `api` reads them
 * @param {Api} api  CHAT or TEXT_COMPLETION
 */
export async function collectCompletion(events, header, params, api) {
  const echoed = api.echo(params);
  let text = echoed;
  let reasoning = '';
  const logprobs = [];
  const reasoningLogprobs = [];
  const toolCalls = [];
  let last;
  for await (const event of events) {
    text += event.content;
    reasoning += event.reasoning ?? '';
    joinToolCalls(toolCalls, event.toolCalls ?? []);
    logprobs.push(...event.logprobs);
    reasoningLogprobs.push(...(event.reasoningLogprobs ?? []));
    last = event;
  }
  const choice = api.choice({ field: 'content', text, logprobs, reasoning, reasoningLogprobs, toolCalls,
                              finishReason: last.finishReason, offset: echoed.length }, params);
  return { ...header, object: api.object, choices: [choice], usage: last.usage };
}

/**
 * The generation as chunks (`chat.completion.chunk`, `text_completion`): first any echoed text,
 * then per event one with its reasoning (text or logprobs), if any, one with its content (text or
 * logprobs), if any, so all reasoning chunks come before the content ones, and one per tool-call
 * entry (see the top of this file); one with the finish_reason, then, with includeUsage,
 * one with no choices and the usage (OpenAI's stream_options.include_usage).
 * @param {AsyncIterable} events  the generation (above); ending the returned iterator early ends it
 * @param {object} header  responseHeader()
 * @param {{ includeUsage: boolean }} params  and what `api` reads
 * @param {Api} api  CHAT or TEXT_COMPLETION
 */
export async function* streamChunks(events, header, params, api) {
  const chunk = (choices, extra = {}) => ({ ...header, object: api.chunkObject, choices, ...extra });
  let offset = 0; // text streamed so far
  let first = true;
  const piece = (field, text, logprobs, finishReason, toolCalls) => {
    const delta = api.delta({ field, text, logprobs, finishReason, offset, toolCalls }, params, first);
    if (field === 'content') offset += text.length;
    first = false;
    return chunk([delta]);
  };
  const echoed = api.echo(params);
  if (echoed) yield piece('content', echoed, [], null);
  for await (const { reasoning = '', reasoningLogprobs = [], content, logprobs, toolCalls = [], finishReason, usage } of events) {
    if (reasoning || reasoningLogprobs.length) yield piece('reasoning_content', reasoning, reasoningLogprobs, null);
    if (content || logprobs.length) yield piece('content', content, logprobs, null);
    for (const entry of toolCalls) yield piece('tool_calls', '', [], null, [entry]);
    if (finishReason) {
      yield piece('content', '', [], finishReason);
      if (params.includeUsage) yield chunk([], { usage });
    }
  }
}

// Adds delta.tool_calls `entries` (see the top of this file) to the whole `calls` they build.
function joinToolCalls(calls, entries) {
  for (const { index, id, type, function: fn } of entries) {
    if (id) calls[index] = { id, type, function: { name: fn.name, arguments: fn.arguments } };
    else calls[index].function.arguments += fn.arguments;
  }
}

function randomHex(bytes) {
  const values = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (value) => value.toString(16).padStart(2, '0')).join('');
}
