// OpenAI response shaping (runtime/openai_response.js): a generation's events into one
// chat.completion or chat.completion.chunk objects, text_completion objects and chunks, usage and
// logprobs entries. No GPU.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  CHAT, TEXT_COMPLETION, collectCompletion, logprobsEntry, responseHeader, streamChunks, usageOf,
} from '../../runtime/openai_response.js';

const HEADER = { id: 'chatcmpl-0123', created: 1700000000, model: 'tiny-llama' };
const USAGE = { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 };
const entry = (token) => ({ token, bytes: [...new TextEncoder().encode(token)], logprob: -0.5, top_logprobs: [] });

async function* generation(events) {
  yield* events;
}

const EVENTS = [
  { content: 'Par', logprobs: [entry('Par')], finishReason: null },
  { content: 'is', logprobs: [entry('is')], finishReason: null },
  { content: '.', logprobs: [entry('.')], finishReason: 'stop', usage: USAGE },
];

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('chat.completion', () => {
  test('joins the reply text; logprobs only when asked for', async () => {
    const reply = await collectCompletion(generation(EVENTS), HEADER, { logprobs: false }, CHAT);
    assert.deepEqual(reply, {
      ...HEADER, object: 'chat.completion', usage: USAGE,
      choices: [{ index: 0, message: { role: 'assistant', content: 'Paris.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    });
    const withLogprobs = await collectCompletion(generation(EVENTS), HEADER, { logprobs: true }, CHAT);
    assert.deepEqual(withLogprobs.choices[0].logprobs, { content: [entry('Par'), entry('is'), entry('.')], refusal: null });
  });
});

describe('chat.completion.chunk stream', () => {
  test('the first delta names the assistant; then a finish chunk; usage last when asked for', async () => {
    const chunks = await collect(streamChunks(generation(EVENTS), HEADER, { logprobs: false, includeUsage: true }, CHAT));
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.id, HEADER.id);
      assert.equal(chunk.model, HEADER.model);
    }
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0]?.delta), [
      { role: 'assistant', content: 'Par' }, { content: 'is' }, { content: '.' }, {}, undefined,
    ]);
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0]?.finish_reason), [null, null, null, 'stop', undefined]);
    assert.deepEqual(chunks.at(-1).choices, []);
    assert.deepEqual(chunks.at(-1).usage, USAGE);
    assert.equal(chunks.slice(0, -1).some((chunk) => 'usage' in chunk), false);
  });

  test('no usage chunk unless asked; logprobs on the text chunks when asked', async () => {
    const chunks = await collect(streamChunks(generation(EVENTS), HEADER, { logprobs: true, includeUsage: false }, CHAT));
    assert.equal(chunks.length, 4);
    assert.deepEqual(chunks[1].choices[0].logprobs, { content: [entry('is')], refusal: null });
    assert.equal(chunks[3].choices[0].logprobs, null);
  });

  test('a reply with no text at all still names the assistant in its finish chunk', async () => {
    const empty = [{ content: '', logprobs: [], finishReason: 'stop', usage: USAGE }];
    const chunks = await collect(streamChunks(generation(empty), HEADER, { logprobs: false, includeUsage: false }, CHAT));
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0].delta), [{ role: 'assistant' }]);
  });
});

describe('text_completion', () => {
  const CMPL = { ...HEADER, id: 'cmpl-0123' };
  const topped = (token, alternative) => ({ ...entry(token), top_logprobs: [{ ...entry(token), logprob: -0.5 },
                                                                           { ...entry(alternative), logprob: -1.5 }] });
  const LOGPROB_EVENTS = [
    { content: 'Par', logprobs: [topped('Par', 'Lon')], finishReason: null },
    { content: 'is.', logprobs: [topped('is', 'don'), topped('.', '!')], finishReason: 'stop', usage: USAGE },
  ];

  test('one text_completion: the text, legacy logprobs with offsets, usage', async () => {
    const reply = await collectCompletion(generation(LOGPROB_EVENTS), CMPL, { logprobs: true }, TEXT_COMPLETION);
    assert.deepEqual(reply, {
      ...CMPL, object: 'text_completion', usage: USAGE,
      choices: [{ index: 0, text: 'Paris.', finish_reason: 'stop', logprobs: {
        tokens: ['Par', 'is', '.'], token_logprobs: [-0.5, -0.5, -0.5], text_offset: [0, 3, 5],
        top_logprobs: [{ Par: -0.5, Lon: -1.5 }, { is: -0.5, don: -1.5 }, { '.': -0.5, '!': -1.5 }] } }],
    });
    const plain = await collectCompletion(generation(EVENTS), CMPL, { logprobs: false }, TEXT_COMPLETION);
    assert.equal(plain.choices[0].logprobs, null);
  });

  test('echo puts the prompt before the text', async () => {
    const params = { logprobs: false, echo: true, prompt: 'The capital of France is ' };
    const reply = await collectCompletion(generation(EVENTS), CMPL, params, TEXT_COMPLETION);
    assert.equal(reply.choices[0].text, 'The capital of France is Paris.');
    const chunks = await collect(streamChunks(generation(EVENTS), CMPL, { ...params, includeUsage: false }, TEXT_COMPLETION));
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0].text), ['The capital of France is ', 'Par', 'is', '.', '']);
  });

  test('chunks: text pieces with their logprobs and offsets, a finish chunk, usage last when asked for', async () => {
    const chunks = await collect(streamChunks(generation(LOGPROB_EVENTS), CMPL, { logprobs: true, includeUsage: true },
                                              TEXT_COMPLETION));
    assert.ok(chunks.every((chunk) => chunk.object === 'text_completion' && chunk.id === 'cmpl-0123'));
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0]?.text), ['Par', 'is.', '', undefined]);
    assert.deepEqual(chunks[1].choices[0].logprobs.text_offset, [3, 5]);
    assert.deepEqual(chunks[2].choices[0], { index: 0, text: '', logprobs: null, finish_reason: 'stop' });
    assert.deepEqual(chunks[3], { ...CMPL, object: 'text_completion', choices: [], usage: USAGE });
  });

  test('responseHeader: a cmpl id', () => {
    assert.match(responseHeader('tiny-llama', TEXT_COMPLETION).id, /^cmpl-[0-9a-f]{24}$/);
  });
});

describe('parts', () => {
  test('responseHeader: a chatcmpl id, Unix seconds and the model', () => {
    const header = responseHeader('smollm2-135m', CHAT);
    assert.match(header.id, /^chatcmpl-[0-9a-f]{24}$/);
    assert.notEqual(responseHeader('smollm2-135m', CHAT).id, header.id);
    assert.ok(Math.abs(header.created - Date.now() / 1000) < 5);
    assert.equal(header.model, 'smollm2-135m');
  });

  // The openai SDK's ChatCompletion, ChatCompletionChunk and Completion types: message.refusal and
  // Logprobs.refusal required (string | null), system_fingerprint on each object.
  test("the fields of the openai SDK's types that mean nothing here are there, null: refusal, system_fingerprint", async () => {
    const chat = responseHeader('tiny-llama', CHAT);
    const reply = await collectCompletion(generation(EVENTS), chat, { logprobs: true }, CHAT);
    assert.equal(reply.system_fingerprint, null);
    assert.deepEqual([reply.choices[0].message.refusal, reply.choices[0].logprobs.refusal], [null, null]);
    const chunks = await collect(streamChunks(generation(EVENTS), chat, { logprobs: true, includeUsage: true }, CHAT));
    assert.deepEqual(chunks.map((chunk) => chunk.system_fingerprint), [null, null, null, null, null], 'usage chunk too');
    assert.deepEqual(chunks.slice(0, 3).map((chunk) => chunk.choices[0].logprobs.refusal), [null, null, null]);
    const text = responseHeader('tiny-llama', TEXT_COMPLETION);
    assert.equal((await collectCompletion(generation(EVENTS), text, { logprobs: false }, TEXT_COMPLETION)).system_fingerprint,
                 null);
    const textChunks = await collect(streamChunks(generation(EVENTS), text, { logprobs: false, includeUsage: true },
                                                  TEXT_COMPLETION));
    assert.ok(textChunks.every((chunk) => Object.hasOwn(chunk, 'system_fingerprint') && chunk.system_fingerprint === null));
  });

  test('usageOf: token counts, cached tokens and speeds', () => {
    const usage = usageOf({ promptTokens: 100, cachedTokens: 60, prefillTokens: 40, completionTokens: 11,
                            started: 1000, firstTokenAt: 1500, lastTokenAt: 3500 });
    assert.deepEqual(usage, {
      prompt_tokens: 100, completion_tokens: 11, total_tokens: 111, prompt_tokens_details: { cached_tokens: 60 },
      completion_tokens_details: { reasoning_tokens: 0 },
      extra: { prefill_tokens: 40, prefill_tokens_per_s: 80, decode_tokens_per_s: 5, time_to_first_token_s: 0.5 },
    });
    const instant = usageOf({ promptTokens: 1, cachedTokens: 0, prefillTokens: 1, completionTokens: 1,
                              started: 7, firstTokenAt: 7, lastTokenAt: 7 });
    assert.equal(instant.extra.prefill_tokens_per_s, null);
    assert.equal(instant.extra.decode_tokens_per_s, null);
  });

  test('usageOf: a request stopped before its first token has no time to first token and no speeds', () => {
    // Stopped after 128 of its 90 + 150 prompt tokens had run (90 from the cache).
    const usage = usageOf({ promptTokens: 240, cachedTokens: 90, prefillTokens: 128, completionTokens: 0, firstTokenAt: null });
    assert.deepEqual(usage, {
      prompt_tokens: 240, completion_tokens: 0, total_tokens: 240, prompt_tokens_details: { cached_tokens: 90 },
      completion_tokens_details: { reasoning_tokens: 0 },
      extra: { prefill_tokens: 128, prefill_tokens_per_s: null, decode_tokens_per_s: null, time_to_first_token_s: null },
    });
  });

  test('usageOf: the thinking\'s tokens as OpenAI\'s completion_tokens_details.reasoning_tokens', () => {
    const usage = usageOf({ promptTokens: 10, cachedTokens: 0, prefillTokens: 10, completionTokens: 30, reasoningTokens: 21,
                            started: 0, firstTokenAt: 1, lastTokenAt: 2 });
    assert.deepEqual(usage.completion_tokens_details, { reasoning_tokens: 21 });
  });

  test('logprobsEntry: token texts with their own bytes, alternatives in order', () => {
    const tokens = { 1: { text: 'é', bytes: [0xc3, 0xa9] }, 2: { text: '\uFFFD', bytes: [0xe6, 0x88] } };
    const tokenizer = { decode: ([id]) => tokens[id].text, tokenBytes: (id) => Uint8Array.from(tokens[id].bytes) };
    const sampled = { token: 1, logprob: -0.1, topLogprobs: [{ token: 1, logprob: -0.1 }, { token: 2, logprob: -2.4 }] };
    assert.deepEqual(logprobsEntry(sampled, tokenizer), {
      token: 'é', bytes: [0xc3, 0xa9], logprob: -0.1,
      top_logprobs: [{ token: 'é', bytes: [0xc3, 0xa9], logprob: -0.1 }, { token: '\uFFFD', bytes: [0xe6, 0x88], logprob: -2.4 }],
    });
    assert.deepEqual(logprobsEntry({ token: 2, logprob: -1, topLogprobs: null }, tokenizer).top_logprobs, []);
  });
});

describe('thinking (reasoning_content)', () => {
  const piece = (reasoning, content, reasoningIds = [], contentIds = []) => ({
    reasoning, content, reasoningLogprobs: reasoningIds.map(entry), logprobs: contentIds.map(entry), finishReason: null });
  const THINKING = [
    piece('The capital', '', ['The', ' capital']),
    piece(' is Paris.', 'Par', [' is', ' Paris.'], ['Par']),
    { ...piece('', 'is.', [], ['is.']), finishReason: 'stop', usage: USAGE },
  ];
  const thinking = { open: '<think>', close: '</think>', opened: false };

  test('chat.completion: message.reasoning_content beside the content; logprobs of each part apart', async () => {
    const reply = await collectCompletion(generation(THINKING), HEADER, { logprobs: true, thinking }, CHAT);
    assert.deepEqual(reply.choices[0].message,
                     { role: 'assistant', content: 'Paris.', refusal: null, reasoning_content: 'The capital is Paris.' });
    assert.deepEqual(reply.choices[0].logprobs, { content: [entry('Par'), entry('is.')], refusal: null,
                                                  reasoning_content: ['The', ' capital', ' is', ' Paris.'].map(entry) });
  });

  test('chat.completion: null reasoning_content where the reply did not think; none for a model that cannot', async () => {
    const reply = await collectCompletion(generation(EVENTS), HEADER, { logprobs: false, thinking }, CHAT);
    assert.deepEqual(reply.choices[0].message, { role: 'assistant', content: 'Paris.', refusal: null, reasoning_content: null });
    const plain = await collectCompletion(generation(THINKING), HEADER, { logprobs: true }, CHAT);
    assert.deepEqual(plain.choices[0].message, { role: 'assistant', content: 'Paris.', refusal: null });
    assert.deepEqual(Object.keys(plain.choices[0].logprobs), ['content', 'refusal']);
  });

  test('chat.completion: a reply stopped while thinking has empty content', async () => {
    const cut = [piece('Hmm', ''), { ...piece(', so', ''), finishReason: 'length', usage: USAGE }];
    const reply = await collectCompletion(generation(cut), HEADER, { logprobs: false, thinking }, CHAT);
    assert.deepEqual(reply.choices[0].message, { role: 'assistant', content: '', refusal: null, reasoning_content: 'Hmm, so' });
    assert.equal(reply.choices[0].finish_reason, 'length');
  });

  test('chunks: delta.reasoning_content pieces, then delta.content pieces, each with its logprobs', async () => {
    const chunks = await collect(streamChunks(generation(THINKING), HEADER, { logprobs: true, includeUsage: true, thinking },
                                              CHAT));
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0]?.delta), [
      { role: 'assistant', reasoning_content: 'The capital' }, { reasoning_content: ' is Paris.' }, { content: 'Par' },
      { content: 'is.' }, {}, undefined,
    ]);
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0]?.logprobs), [
      { content: null, refusal: null, reasoning_content: [entry('The'), entry(' capital')] },
      { content: null, refusal: null, reasoning_content: [entry(' is'), entry(' Paris.')] },
      { content: [entry('Par')], refusal: null }, { content: [entry('is.')], refusal: null }, null, undefined,
    ]);
    assert.deepEqual(chunks.at(-1).usage, USAGE);
  });
});

describe('tool calls', () => {
  const CALLS = [{ id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } },
                 { id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '{}' } }];
  // As ToolCallStream hands them out: a call's first entry, then its arguments in fragments.
  const begin = (index, { id, type, function: { name } }) => ({ index, id, type, function: { name, arguments: '' } });
  const fragment = (index, text) => ({ index, function: { arguments: text } });
  const EVENTS_WITH_CALLS = [
    { content: 'Checking.', logprobs: [], toolCalls: [begin(0, CALLS[0]), fragment(0, '{"city": ')], finishReason: null },
    { content: '', logprobs: [], toolCalls: [fragment(0, '"Paris"}')], finishReason: null },
    { content: '', logprobs: [], toolCalls: [begin(1, CALLS[1]), fragment(1, '{}')], finishReason: 'tool_calls', usage: USAGE },
  ];

  test('a whole response: message.tool_calls beside the text; content null when there is none', async () => {
    const reply = await collectCompletion(generation(EVENTS_WITH_CALLS), HEADER, { logprobs: false }, CHAT);
    assert.deepEqual(reply.choices[0], { index: 0, message: { role: 'assistant', content: 'Checking.', refusal: null, tool_calls: CALLS },
                                         logprobs: null, finish_reason: 'tool_calls' });
    const silent = [{ ...EVENTS_WITH_CALLS[0], content: '' }, EVENTS_WITH_CALLS[1]];
    assert.equal((await collectCompletion(generation(silent), HEADER, { logprobs: false }, CHAT)).choices[0].message.content, null);
  });

  test('streamed as OpenAI does: per call its index, id, type and name, then its arguments\' fragments', async () => {
    const chunks = await collect(streamChunks(generation(EVENTS_WITH_CALLS), HEADER, { logprobs: false }, CHAT));
    assert.deepEqual(chunks.map((chunk) => chunk.choices[0].delta), [
      { role: 'assistant', content: 'Checking.' },
      { tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city": ' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] },
      { tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: 'get_time', arguments: '' } }] },
      { tool_calls: [{ index: 1, function: { arguments: '{}' } }] },
      {},
    ]);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
    for (const chunk of chunks) assert.equal(chunk.object, 'chat.completion.chunk');
  });
});
