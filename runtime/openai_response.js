// OpenAI's chat-completions response objects from a generation: one `chat.completion`, or a
// stream of `chat.completion.chunk`s, with OpenAI's ids, usage and logprobs shapes (plus
// usage.extra: speeds and how much of the prompt the KV cache already held). The engine
// (engine.js) produces the generation events; this module only shapes them.
//
// A generation is an async iterable of events:
//   { content, logprobs, finishReason: null }      reply text (and logprobs entries) now final;
//                                                  at least one of the two is non-empty
//   { content, logprobs, finishReason, usage }     the last one: the rest of the reply (may be
//                                                  empty), 'stop' | 'length' | 'abort', usageOf()
// content is a string; logprobs is an array of logprobsEntry() objects (empty unless the request
// asked for logprobs).

/**
 * The fields every object of one response shares: { id: 'chatcmpl-<24 hex digits>', created
 * (Unix seconds), model: modelId }.
 */
export function responseHeader(modelId) {
  return { id: `chatcmpl-${randomHex(12)}`, created: Math.floor(Date.now() / 1000), model: modelId };
}

/**
 * OpenAI's usage object. Times are performance.now() milliseconds: `started` when the request's
 * turn began, `firstTokenAt` when the first token was sampled, `lastTokenAt` the last.
 * completionTokens counts every sampled token, a final stop token included (it was generated);
 * prefillTokens is the part of the prompt that ran (the rest was in the KV cache).
 * @returns {{ prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details: { cached_tokens },
 *   extra: { prefill_tokens, prefill_tokens_per_s, decode_tokens_per_s, time_to_first_token_s } }}
 *   (the speeds are null where no time passed to measure them on)
 */
export function usageOf({ promptTokens, prefillTokens, completionTokens, started, firstTokenAt, lastTokenAt }) {
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

/**
 * OpenAI's logprobs entry of one generated token: { token, bytes (its UTF-8), logprob,
 * top_logprobs: [{ token, bytes, logprob }] }.
 * @param {{ token: number, logprob: number, topLogprobs: null | { token: number, logprob: number }[] }} sampled
 *   what the model's sample()/step() returned (runtime/backend.js)
 * @param {(id: number) => string} decodeToken  the text of one token id
 */
export function logprobsEntry({ token, logprob, topLogprobs }, decodeToken) {
  const textOf = (id) => {
    const text = decodeToken(id);
    return { token: text, bytes: [...UTF8.encode(text)] };
  };
  const alternatives = (topLogprobs ?? []).map((top) => ({ ...textOf(top.token), logprob: top.logprob }));
  return { ...textOf(token), logprob, top_logprobs: alternatives };
}

const UTF8 = new TextEncoder();

/**
 * Run a generation to its end and return the `chat.completion` object.
 * @param {AsyncIterable} events  the generation (above)
 * @param {object} header  responseHeader()
 * @param {{ logprobs: boolean }} params  whether the request asked for logprobs (choice.logprobs null if not)
 */
export async function collectCompletion(events, header, { logprobs: wantLogprobs }) {
  let content = '';
  const logprobs = [];
  let last;
  for await (const event of events) {
    content += event.content;
    logprobs.push(...event.logprobs);
    last = event;
  }
  const choice = { index: 0, message: { role: 'assistant', content }, logprobs: wantLogprobs ? { content: logprobs } : null,
                   finish_reason: last.finishReason };
  return { ...header, object: 'chat.completion', choices: [choice], usage: last.usage };
}

/**
 * The generation as `chat.completion.chunk` objects: one per event with text or logprobs (the
 * first delta says role 'assistant'), one with the finish_reason, then, with includeUsage, one
 * with no choices and the usage (OpenAI's stream_options.include_usage).
 * @param {AsyncIterable} events  the generation (above); ending the returned iterator early ends it
 * @param {object} header  responseHeader()
 * @param {{ logprobs: boolean, includeUsage: boolean }} params
 */
export async function* streamChunks(events, header, { logprobs: wantLogprobs, includeUsage }) {
  const chunk = (choices, extra = {}) => ({ ...header, object: 'chat.completion.chunk', choices, ...extra });
  let speaker = { role: 'assistant' }; // the first delta says who speaks, as OpenAI's do
  for await (const { content, logprobs, finishReason, usage } of events) {
    if (content || logprobs.length) {
      yield chunk([{ index: 0, delta: { ...speaker, content }, logprobs: wantLogprobs ? { content: logprobs } : null,
                     finish_reason: null }]);
      speaker = {};
    }
    if (finishReason) {
      yield chunk([{ index: 0, delta: speaker, logprobs: null, finish_reason: finishReason }]);
      if (includeUsage) yield chunk([], { usage });
    }
  }
}

function randomHex(bytes) {
  const values = globalThis.crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (value) => value.toString(16).padStart(2, '0')).join('');
}
