// Validation of chat-completion requests (runtime/request.js), the one check of what users send:
// every bound the backends rely on (runtime/backend.js) is tested here. No GPU: parseChatRequest
// only needs the manifest's model_id, generation defaults and vocabulary size.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS } from '../../runtime/sampling_limits.js';
import { readFileSync } from 'node:fs';

import { ChatTemplate } from '../../runtime/chat_template.js';
import { InvalidRequestError } from '../../runtime/errors.js';
import { Tokenizer } from '../../runtime/tokenizer.js';
import { parseChatRequest, parseCompletionRequest } from '../../runtime/request.js';

const MANIFEST = {
  model_id: 'smollm2-135m',
  architecture: { vocab_size: 49152 },
  generation: { temperature: 0.6, top_p: 0.9 },
};

const QUESTION = [{ role: 'user', content: 'What is the capital of France?' }];
const QWEN3 = readFileSync(new URL('../data/chat_templates/Qwen3-0.6B.jinja', import.meta.url), 'utf8');
// Rendering needs no vocabulary: a tokenizer with no added tokens.
const PLAIN = Tokenizer.fromJSON({ model: { type: 'BPE', vocab: { '\n': 0 }, merges: [] }, added_tokens: [] });
const parse = (fields, manifest = MANIFEST) => parseChatRequest({ messages: QUESTION, ...fields }, manifest);

function assertRejects(request, field, manifest = MANIFEST, parseRequest = parseChatRequest) {
  assert.throws(() => parseRequest(request, manifest), (error) => {
    assert.ok(error instanceof InvalidRequestError, `${error.name}: ${error.message}`);
    assert.equal(error.name, 'InvalidRequestError');
    assert.equal(error.field, field, error.message);
    assert.ok(error.message.length > 20, error.message);
    return true;
  });
}

describe('a valid request', () => {
  test('gets the manifest generation defaults, then OpenAI defaults', () => {
    const params = parse({});
    assert.deepEqual(params, {
      messages: QUESTION, stream: false, includeUsage: false, maxTokens: null, maxTokensField: null, stop: [], seed: null,
      ignoreEos: false,
      logprobs: false, topLogprobs: 0, enableThinking: undefined, responseFormat: null, tools: null,
      sampling: { temperature: 0.6, topP: 0.9, topK: 0, frequencyPenalty: 0, presencePenalty: 0, repetitionPenalty: 1,
                  logitBias: {} },
    });
    assert.equal(parse({}, { ...MANIFEST, generation: {} }).sampling.temperature, 1);
  });

  test('takes every supported field', () => {
    const params = parse({
      model: 'smollm2-135m', stream: true, stream_options: { include_usage: true }, n: 1, max_tokens: 16,
      temperature: 0, top_p: 0.5, top_k: 40, frequency_penalty: -2, presence_penalty: 2, repetition_penalty: 1.1,
      logit_bias: { 0: -100, 49151: 100 }, stop: ['\n\n', 'END'], seed: -7, logprobs: true, top_logprobs: 20,
      ignore_eos: true, enable_thinking: false,
    });
    assert.deepEqual(params, {
      messages: QUESTION, stream: true, includeUsage: true, maxTokens: 16, maxTokensField: 'max_tokens', stop: ['\n\n', 'END'],
      seed: -7,
      ignoreEos: true, logprobs: true, topLogprobs: 20, enableThinking: false, responseFormat: null, tools: null,
      sampling: { temperature: 0, topP: 0.5, topK: 40, frequencyPenalty: -2, presencePenalty: 2, repetitionPenalty: 1.1,
                  logitBias: { 0: -100, 49151: 100 } },
    });
  });

  test('null and undefined mean "not given"', () => {
    const params = parse({ temperature: null, max_tokens: null, stop: undefined, seed: null, logit_bias: null, model: null });
    assert.equal(params.sampling.temperature, 0.6);
    assert.equal(params.maxTokens, null);
    assert.equal(params.maxTokensField, null);
    assert.deepEqual(params.stop, []);
    assert.deepEqual(params.sampling.logitBias, {});
  });

  test('a single stop string becomes a list', () => {
    assert.deepEqual(parse({ stop: 'Paris' }).stop, ['Paris']);
  });

  test('text parts are joined with newlines; a conversation may start with a system message', () => {
    const messages = [
      { role: 'system', content: [{ type: 'text', text: 'Be brief.' }] },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: [{ type: 'text', text: 'Line one' }, { type: 'text', text: 'line two' }] },
    ];
    assert.deepEqual(parseChatRequest({ messages }, MANIFEST).messages, [
      { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Line one\nline two' },
    ]);
  });
});

describe('an invalid field value names the field', () => {
  const cases = [
    ['temperature', [-1, -0.1, 2.01, 2.5, Infinity, '1', NaN, true]],
    ['top_p', [0, 1.5, -1, NaN, '0.9']],
    ['top_k', [-1, 2.5, Infinity, NaN, '40']],
    ['max_tokens', [0, -5, 1.5, Infinity, '16']],
    ['frequency_penalty', [-2.5, 3, NaN, -Infinity, 'high']],
    ['presence_penalty', [2.1, -3, NaN, Infinity]],
    ['repetition_penalty', [0, -1, Infinity, NaN, '1.1']],
    ['seed', [1.5, '42', 2 ** 60]],
    ['n', [2, 0, '1']],
    ['stream', ['yes', 1]],
    ['logprobs', ['true', 1]],
    ['ignore_eos', [0, 'no']],
    ['model', ['gpt-4o', 42]],
    ['stop', [['a', 'b', 'c', 'd', 'e'], 42, {}]],
    ['logit_bias', [[1, 2], 'none', 5]],
    ['enable_thinking', ['yes', 1]],
    ['chat_template_kwargs', [true, 'x', []]],
  ];
  for (const [field, values] of cases) {
    for (const value of values) {
      test(`${field}: ${typeof value === 'number' ? String(value) : JSON.stringify(value)}`, () => {
        assertRejects({ messages: QUESTION, [field]: value }, field);
      });
    }
  }

  test('top_logprobs must be an integer from 0 to 20, what the backends hold', () => {
    assert.equal(MAX_TOP_LOGPROBS, 20);
    assert.equal(parse({ logprobs: true, top_logprobs: MAX_TOP_LOGPROBS }).topLogprobs, MAX_TOP_LOGPROBS);
    for (const value of [-1, MAX_TOP_LOGPROBS + 1, 1.5, NaN, '5']) {
      assertRejects({ messages: QUESTION, logprobs: true, top_logprobs: value }, 'top_logprobs');
    }
  });

  test('an empty or non-string stop entry is named by its index', () => {
    assertRejects({ messages: QUESTION, stop: '' }, 'stop');
    assertRejects({ messages: QUESTION, stop: ['ok', ''] }, 'stop[1]');
    assertRejects({ messages: QUESTION, stop: ['ok', 7] }, 'stop[1]');
  });

  test('logit_bias keys are token ids of this vocabulary and values lie in -100..100', () => {
    assertRejects({ messages: QUESTION, logit_bias: { 49152: 1 } }, 'logit_bias.49152');
    assertRejects({ messages: QUESTION, logit_bias: { '-1': 1 } }, 'logit_bias.-1');
    assertRejects({ messages: QUESTION, logit_bias: { hello: 1 } }, 'logit_bias.hello');
    assertRejects({ messages: QUESTION, logit_bias: { 5: 101 } }, 'logit_bias.5');
    assertRejects({ messages: QUESTION, logit_bias: { 5: 'up' } }, 'logit_bias.5');
    assertRejects({ messages: QUESTION, logit_bias: { 5: -100.5 } }, 'logit_bias.5');
    assertRejects({ messages: QUESTION, logit_bias: { 5: NaN } }, 'logit_bias.5');
    assertRejects({ messages: QUESTION, logit_bias: { 5: Infinity } }, 'logit_bias.5');
    assertRejects({ messages: QUESTION, logit_bias: { 1.5: 1 } }, 'logit_bias.1.5');
    assertRejects({ messages: QUESTION, logit_bias: { '1e3': 1 } }, 'logit_bias.1e3');
  });

  test('logit_bias holds up to MAX_LOGIT_BIAS entries, what the backends hold', () => {
    const biases = (count) => Object.fromEntries(Array.from({ length: count }, (_, id) => [id, 1]));
    assert.equal(MAX_LOGIT_BIAS, 1024);
    assert.equal(Object.keys(parse({ logit_bias: biases(MAX_LOGIT_BIAS) }).sampling.logitBias).length, MAX_LOGIT_BIAS);
    assertRejects({ messages: QUESTION, logit_bias: biases(MAX_LOGIT_BIAS + 1) }, 'logit_bias');
  });

  test('top_k beyond the vocabulary keeps every token, and is passed on as the vocabulary size', () => {
    assert.equal(parse({ top_k: 49152 }).sampling.topK, 49152);
    assert.equal(parse({ top_k: 2 ** 32 + 5 }).sampling.topK, 49152); // not 5, as a 32-bit count would wrap it
  });

  test('stream_options: only with stream, only include_usage, a boolean', () => {
    assertRejects({ messages: QUESTION, stream_options: { include_usage: true } }, 'stream_options');
    assertRejects({ messages: QUESTION, stream: false, stream_options: { include_usage: true } }, 'stream_options');
    assertRejects({ messages: QUESTION, stream: true, stream_options: { chunk_size: 2 } }, 'stream_options.chunk_size');
    assertRejects({ messages: QUESTION, stream: true, stream_options: { include_usage: 'yes' } }, 'stream_options.include_usage');
    assertRejects({ messages: QUESTION, stream: true, stream_options: true }, 'stream_options');
  });

  test("stream_options.include_obfuscation, OpenAI's chunk padding against network side channels, is taken and ignored", () => {
    for (const include_obfuscation of [true, false, null]) {
      assert.equal(parse({ stream: true, stream_options: { include_usage: true, include_obfuscation } }).includeUsage, true);
    }
    assertRejects({ messages: QUESTION, stream: true, stream_options: { include_obfuscation: 'no' } },
                  'stream_options.include_obfuscation');
  });

  test('top_logprobs requires logprobs', () => {
    assertRejects({ messages: QUESTION, top_logprobs: 2 }, 'top_logprobs');
    assertRejects({ messages: QUESTION, logprobs: false, top_logprobs: 2 }, 'top_logprobs');
  });

  test('an unknown field is named, and the message lists the supported ones', () => {
    assertRejects({ messages: QUESTION, functions: [] }, 'functions');
    assertRejects({ messages: QUESTION, audio: { voice: 'alloy' } }, 'audio');
    assert.throws(() => parse({ functions: [] }), /Supported fields: messages, model, stream/);
  });

  test('an unknown field says what to do: the supported name of a typo, else leave it out', () => {
    assert.throws(() => parse({ max_token: 5 }),
                  { message: /^Unknown request field "max_token": did you mean max_tokens\? Else leave it out\. Supported fields: / });
    assert.throws(() => parse({ temprature: 0 }), { message: /"temprature": did you mean temperature\?/ });
    assert.throws(() => parse({ frobnicate: 1 }), { message: /^Unknown request field "frobnicate": leave it out\. Supported/ });
    assert.throws(() => parseCompletionRequest({ prompt: 'Hi', max_completion_tokens: 5 }, MANIFEST),
                  { message: /"max_completion_tokens" is not supported here: the completions API calls it max_tokens: send max_tokens\./ });
  });

  test("OpenAI's fields that this runtime does not take name what to send instead", () => {
    assert.throws(() => parse({ functions: [] }), { message: /"functions" is not supported here: it is the deprecated form of tools: send tools: \[/ });
    assert.throws(() => parse({ function_call: 'auto' }), { message: /deprecated form of tool_choice: send tool_choice/ });
    assert.throws(() => parse({ reasoning_effort: 'low' }), { message: /leave it out; a thinking model \(Qwen3\) takes enable_thinking/ });
    for (const field of ['verbosity', 'modalities', 'audio', 'prediction', 'web_search_options']) {
      assert.throws(() => parse({ [field]: 'x' }), { message: new RegExp(`^The OpenAI field "${field}" is not supported here: leave it out`) });
    }
  });

  test('the message says what is allowed and what was given', () => {
    assert.throws(() => parse({ temperature: 3 }), { message: 'temperature must be a number from 0 to 2 (0 = greedy); got 3.' });
    assert.throws(() => parse({ model: 'gpt-4o' }),
                  { message: 'model must be the loaded model "smollm2-135m" (or left out); got "gpt-4o".' });
  });

  test('the request itself must be an object', () => {
    for (const request of [null, undefined, 'hello', [QUESTION]]) assertRejects(request, 'request');
  });
});

describe('messages', () => {
  const reject = (messages, field, manifest) => assertRejects({ messages }, field, manifest);

  test('are required and not empty', () => {
    assertRejects({}, 'messages');
    assertRejects({ messages: null }, 'messages');
    reject([], 'messages');
    reject('What is the capital of France?', 'messages');
  });

  test('each is an object with a known role and text content', () => {
    reject(['hello'], 'messages[0]');
    reject([{ role: 'function', content: 'x' }], 'messages[0].role');
    reject([{ content: 'x' }], 'messages[0].role');
    reject([{ role: 'user', content: 'x', name: 5 }], 'messages[0].name');
    reject([{ role: 'user', content: 'x', tool_calls: [] }], 'messages[0].tool_calls');
    reject([{ role: 'user' }], 'messages[0].content');
    reject([{ role: 'user', content: 42 }], 'messages[0].content');
    reject([{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }], 'messages[0].content[0].type');
    assert.throws(() => parse({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] }),
                  /"input_audio" part; this model reads text only/);
    reject([{ role: 'user', content: [{ type: 'text', text: 5 }] }], 'messages[0].content[0].text');
  });

  test('a history tool call\'s arguments: a JSON object string parsed for the template, any other string kept, else refused', () => {
    const history = (args) => parse({ messages: [...QUESTION, { role: 'assistant', content: null, tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: args } }] }] }).messages[1].tool_calls[0].function;
    assert.deepEqual(history('{"city": "Paris"}'), { name: 'get_weather', arguments: { city: 'Paris' } });
    // OpenAI accepts any string: a model's invalid JSON sent back, or JSON that is no object
    for (const text of ['{"city": ', 'city=Paris', '[1, 2]', '"Paris"', '']) assert.equal(history(text).arguments, text);
    for (const args of [{ city: 'Paris' }, 5, undefined]) {
      assertRejects({ messages: [...QUESTION, { role: 'assistant', tool_calls: [{ id: 'call_1', type: 'function',
                                                                               function: { name: 'f', arguments: args } }] }] },
                    'messages[1].tool_calls[0].function.arguments');
    }
  });

  test('may come in any order: the chat template decides (chat_template.js)', () => {
    const orders = [
      [{ role: 'system', content: 'One.' }, { role: 'system', content: 'Two.' }, { role: 'user', content: 'Hi' }],
      [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'system', content: 'Late.' },
       { role: 'user', content: 'Hi' }],
      [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }],
      [{ role: 'system', content: 'Be brief.' }],
    ];
    for (const messages of orders) assert.deepEqual(parseChatRequest({ messages }, MANIFEST).messages, messages);
  });
});

// What today's OpenAI SDKs send (issue 12): current names, and fields that cannot change a reply here.
describe('what today\'s OpenAI clients send', () => {
  test('max_completion_tokens is max_tokens\' current name; given both, they must agree', () => {
    // maxTokensField: the name the request used, for the error of a reply the context cannot hold (engine.js)
    assert.deepEqual((({ maxTokens, maxTokensField }) => [maxTokens, maxTokensField])(parse({ max_completion_tokens: 7 })),
                     [7, 'max_completion_tokens']);
    assert.equal(parse({ max_completion_tokens: 7, max_tokens: 7 }).maxTokens, 7);
    assertRejects({ messages: QUESTION, max_completion_tokens: 7, max_tokens: 8 }, 'max_completion_tokens');
    assertRejects({ messages: QUESTION, max_completion_tokens: 0 }, 'max_completion_tokens');
    assertRejects({ prompt: 'Hi', max_completion_tokens: 7 }, 'max_completion_tokens', MANIFEST, parseCompletionRequest);
  });

  test('role developer is system\'s current name, rendered as the template\'s system role; a message name is kept', () => {
    const { messages } = parse({ messages: [{ role: 'developer', content: 'Be brief.' },
                                            { role: 'user', content: [{ type: 'text', text: 'Hi' }], name: 'ann' }] });
    assert.deepEqual(messages, [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi', name: 'ann' }]);
    const template = new ChatTemplate({ template: QWEN3, special_tokens: {}, chat_control_tokens: [] }, PLAIN);
    assert.match(template.render(messages, { addGenerationPrompt: true }), /^<\|im_start\|>system\nBe brief\.<\|im_end\|>/);
  });

  test('fields that cannot change the reply are accepted and ignored, but type-checked', () => {
    const plain = parse({});
    const ignored = { user: 'u-1', store: false, metadata: { team: 'a' }, service_tier: 'auto', prompt_cache_key: 'k',
                      safety_identifier: 'h', response_format: { type: 'text' } };
    assert.deepEqual(parse(ignored), plain);
    assertRejects({ messages: QUESTION, store: 'yes' }, 'store');
    assertRejects({ messages: QUESTION, metadata: { a: 1 } }, 'metadata.a');
    assertRejects({ messages: QUESTION, service_tier: 'fastest' }, 'service_tier');
    assertRejects({ messages: QUESTION, user: 42 }, 'user');
    assert.equal(parseCompletionRequest({ prompt: 'Hi', user: 'u-1' }, MANIFEST).prompt, 'Hi');
  });
});

describe('refusal in the history', () => {
  const ask = (content) => [{ role: 'user', content }];

  test("a reply sent back as it came (refusal: null) is taken; an OpenAI reply's refusal is the turn's text", () => {
    const reply = { role: 'assistant', content: 'Paris.', refusal: null };
    assert.deepEqual(parseChatRequest({ messages: [...ask('Capital?'), reply, ...ask('Sure?')] }, MANIFEST).messages[1],
                     { role: 'assistant', content: 'Paris.' });
    const refused = { role: 'assistant', content: null, refusal: 'I cannot help with that.' };
    assert.deepEqual(parseChatRequest({ messages: [...ask('x'), refused, ...ask('y')] }, MANIFEST).messages[1],
                     { role: 'assistant', content: 'I cannot help with that.' });
  });

  test('a refusal beside content, one not text, or on another role is refused by name', () => {
    assertRejects({ messages: [...ask('x'), { role: 'assistant', content: 'a', refusal: 'b' }] }, 'messages[1].refusal');
    assertRejects({ messages: [...ask('x'), { role: 'assistant', content: null, refusal: 1 }] }, 'messages[1].refusal');
    assertRejects({ messages: [{ role: 'user', content: 'x', refusal: null }] }, 'messages[0].refusal');
  });
});

describe('reasoning_content in the history', () => {
  const HISTORY = [
    { role: 'user', content: 'Capital of France?' },
    { role: 'assistant', content: 'Paris.', reasoning_content: 'France: Paris.' },
    { role: 'user', content: 'And of Italy?' },
  ];

  test('an assistant message may carry it (a string, or null: none); it reaches the template as given', () => {
    assert.deepEqual(parseChatRequest({ messages: HISTORY }, MANIFEST).messages, HISTORY);
    const none = HISTORY.with(1, { ...HISTORY[1], reasoning_content: null });
    assert.deepEqual(parseChatRequest({ messages: none }, MANIFEST).messages[1], { role: 'assistant', content: 'Paris.' });
  });

  test('only on an assistant message, and only as text', () => {
    assertRejects({ messages: [{ role: 'user', content: 'x', reasoning_content: 'y' }] }, 'messages[0].reasoning_content');
    assertRejects({ messages: HISTORY.with(1, { ...HISTORY[1], reasoning_content: ['y'] }) },
                  'messages[1].reasoning_content');
  });

  test('Qwen3\'s template drops earlier turns\' thinking, given as the field or left in the content', () => {
    const qwen3 = new ChatTemplate({ template: QWEN3, special_tokens: {}, chat_control_tokens: [] }, PLAIN);
    const render = (messages) => qwen3.render(parseChatRequest({ messages }, MANIFEST).messages,
                                              { addGenerationPrompt: true });
    const withoutThinking = render(HISTORY.with(1, { role: 'assistant', content: 'Paris.' }));
    assert.equal(withoutThinking, '<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n'
                 + '<|im_start|>user\nAnd of Italy?<|im_end|>\n<|im_start|>assistant\n');
    assert.equal(render(HISTORY), withoutThinking);
    assert.equal(render(HISTORY.with(1, { role: 'assistant', content: '<think>\nFrance: Paris.\n</think>\n\nParis.' })),
                 withoutThinking);
  });
});

describe('enable_thinking', () => {
  test('top-level or in chat_template_kwargs, as vLLM takes it; left out, the template\'s default', () => {
    assert.equal(parse({ enable_thinking: true }).enableThinking, true);
    assert.equal(parse({ chat_template_kwargs: { enable_thinking: false } }).enableThinking, false);
    assert.equal(parse({ chat_template_kwargs: {} }).enableThinking, undefined);
    assert.equal(parse({ enable_thinking: false, chat_template_kwargs: { enable_thinking: false } }).enableThinking, false);
  });

  test('chat_template_kwargs takes only enable_thinking, a boolean, given once', () => {
    assertRejects({ messages: QUESTION, chat_template_kwargs: { tools: [] } }, 'chat_template_kwargs.tools');
    assertRejects({ messages: QUESTION, chat_template_kwargs: { enable_thinking: 'no' } },
                  'chat_template_kwargs.enable_thinking');
    assertRejects({ messages: QUESTION, enable_thinking: true, chat_template_kwargs: { enable_thinking: false } },
                  'chat_template_kwargs.enable_thinking');
  });
});

describe('response_format', () => {
  const schema = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'], additionalProperties: false };
  const withSchema = (jsonSchema) => ({ response_format: { type: 'json_schema', json_schema: { name: 'form', ...jsonSchema } } });
  const schemaField = 'response_format.json_schema.schema';

  test('text is no constraint; json_object, json_schema and a GBNF grammar become grammar sources', () => {
    assert.equal(parse({ response_format: { type: 'text' } }).responseFormat, null);
    assert.deepEqual(parse({ response_format: { type: 'json_object' } }).responseFormat, { kind: 'json_object' });
    assert.deepEqual(parse(withSchema({ schema, strict: true })).responseFormat, { kind: 'json_schema', schema });
    assert.deepEqual(parse(withSchema({ description: 'd' })).responseFormat, { kind: 'json_object' });
    assert.deepEqual(parse({ response_format: { type: 'grammar', grammar: 'root ::= "a" item+\nitem ::= [0-9]' } }).responseFormat,
                     { kind: 'ebnf', ebnf: 'root ::= "a" rule1+\nrule1 ::= [0-9]' });
  });

  test('completions have no response_format (OpenAI\'s legacy API has none)', () => {
    assertRejects({ prompt: 'x', response_format: { type: 'json_object' } }, 'response_format', MANIFEST, parseCompletionRequest);
  });

  test('the object\'s shape: a known type, known fields, OpenAI\'s name rule', () => {
    assertRejects({ messages: QUESTION, response_format: 'json' }, 'response_format');
    assertRejects({ messages: QUESTION, response_format: { type: 'xml' } }, 'response_format.type');
    assertRejects({ messages: QUESTION, response_format: { type: 'json_object', schema } }, 'response_format.schema');
    assertRejects({ messages: QUESTION, ...withSchema({ name: 'a b', schema }) }, 'response_format.json_schema.name');
    assertRejects({ messages: QUESTION, response_format: { type: 'json_schema' } }, 'response_format.json_schema');
    assertRejects({ messages: QUESTION, ...withSchema({ schema, strict: 'yes' }) }, 'response_format.json_schema.strict');
    assertRejects({ messages: QUESTION, ...withSchema({ schema: '{"type": "object"}' }) }, schemaField);
    assertRejects({ messages: QUESTION, response_format: { type: 'grammar', grammar: '' } }, 'response_format.grammar');
  });

  test('a malformed schema is refused at the offending keyword', () => {
    const bad = (part) => withSchema({ schema: { type: 'object', properties: { a: part } } });
    const at = `${schemaField}.properties.a`;
    assertRejects({ messages: QUESTION, ...bad({ type: 'text' }) }, `${at}.type`);
    assertRejects({ messages: QUESTION, ...bad({ type: 'array', minItems: -1 }) }, `${at}.minItems`);
    assertRejects({ messages: QUESTION, ...bad({ enum: [] }) }, `${at}.enum`);
    assertRejects({ messages: QUESTION, ...bad({ $ref: '#/$defs/missing' }) }, `${at}.$ref`);
    assertRejects({ messages: QUESTION, ...bad({ type: 'string', pattern: '(' }) }, `${at}.pattern`);
    assertRejects({ messages: QUESTION, ...bad(false) }, at);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'object', properties: {}, required: ['x'] } }) },
                  `${schemaField}.required`);
    for (const name of ['a"b', 'a\\b', 'a\nb', 'a\u0000b']) {
      assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'object', properties: { [name]: { type: 'integer' } } } }) },
                    `${schemaField}.properties.${name}`);
    }
  });

  test('a keyword constrained decoding would not enforce is refused by name, never ignored', () => {
    const refused = { oneOf: [{ type: 'string' }], allOf: [{ type: 'string' }], not: { type: 'null' }, if: { type: 'string' },
                      multipleOf: 2, uniqueItems: true, contains: {}, patternProperties: {}, requird: ['a'] };
    for (const [keyword, value] of Object.entries(refused)) {
      const type = keyword === 'multipleOf' ? 'integer' : keyword === 'uniqueItems' || keyword === 'contains' ? 'array' : 'object';
      assert.throws(() => parse(withSchema({ schema: { type, [keyword]: value } })), (error) => {
        assert.equal(error.field, `${schemaField}.${keyword}`);
        assert.match(error.message, new RegExp(`"${keyword}"`));
        return true;
      });
    }
  });

  test('a keyword that would be ignored where it stands is refused: no type for it, beside $ref or const, pattern with lengths', () => {
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { minLength: 2 } }) }, `${schemaField}.minLength`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'integer', maxLength: 2 } }) }, `${schemaField}.maxLength`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { $defs: { a: { type: 'string' } }, $ref: '#/$defs/a', type: 'string' } }) },
                  `${schemaField}.type`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { const: 1, minimum: 0, type: 'integer' } }) }, `${schemaField}.minimum`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'string', pattern: '^a+$', maxLength: 3 } }) },
                  `${schemaField}.maxLength`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'string', format: 'email', minLength: 3 } }) },
                  `${schemaField}.minLength`);
    // items: false after prefixItems closes a tuple in JSON Schema: refused, naming maxItems as the way.
    assert.throws(() => parse(withSchema({ schema: { type: 'array', prefixItems: [{ type: 'integer' }], items: false } })),
                  (error) => error.field === `${schemaField}.items` && /maxItems/.test(error.message));
    // Annotations may stand anywhere; a typed keyword with its type is fine.
    parse(withSchema({ schema: { title: 't', $defs: { a: { type: 'string', minLength: 1, maxLength: 9 } }, $ref: '#/$defs/a' } }));
  });

  test('numeric bounds: integer ranges xgrammar enforces exactly pass, others are refused by name', () => {
    for (const bounds of [{ minimum: 13, maximum: 120 }, { exclusiveMinimum: -1, exclusiveMaximum: 999 }, { minimum: 0 }, { minimum: 1 }]) {
      parse(withSchema({ schema: { type: 'integer', ...bounds } }));
    }
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'number', maximum: 1 } }) }, `${schemaField}.maximum`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'integer', minimum: 1, maximum: 65535 } }) },
                  `${schemaField}.minimum`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'integer', minimum: 2 } }) }, `${schemaField}.minimum`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { type: 'integer', minimum: 5, maximum: 4 } }) },
                  `${schemaField}.minimum`);
  });

  test('keywords that contradict each other are refused before xgrammar (which would abort its WASM module)', () => {
    const cases = [
      [{ type: 'string', minLength: 5, maxLength: 2 }, 'maxLength'],
      [{ type: 'array', items: { type: 'integer' }, minItems: 3, maxItems: 1 }, 'maxItems'],
      [{ type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string' }], maxItems: 1 }, 'maxItems'],
      [{ type: 'object', properties: { a: { type: 'integer' }, b: { type: 'integer' } }, required: ['a', 'b'], maxProperties: 1 },
       'maxProperties'],
      [{ type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: false, minProperties: 2 }, 'minProperties'],
      [{ type: 'object', properties: { a: { type: 'integer' } }, minProperties: 2 }, 'minProperties'], // strict: closed
      [{ type: 'object', minProperties: 4, maxProperties: 3, additionalProperties: true }, 'maxProperties'],
    ];
    for (const [bad, keyword] of cases) assertRejects({ messages: QUESTION, ...withSchema({ schema: bad }) }, `${schemaField}.${keyword}`);
    parse(withSchema({ schema: { type: 'string', minLength: 2, maxLength: 2 } }));
    parse(withSchema({ schema: { type: 'object', properties: { a: { type: 'integer' } }, additionalProperties: true, minProperties: 2 } }));
    parse(withSchema({ schema: { type: 'array', prefixItems: [{ type: 'integer' }], maxItems: 1 } }));
  });

  test('pattern features xgrammar cannot take are refused by name, anchors only at the ends', () => {
    const cases = [['\\p{L}+', 'Unicode property'], ['\\P{Lu}', 'Unicode property'], ['[\\p{L} ]+', 'Unicode property'],
                   ['\\bcat\\b', 'word boundary'], ['a\\Bb', 'word boundary'], ['a$b', 'anchor $'], ['^a|^b', 'anchor ^'],
                   ['(?=a)a', 'lookahead'], ['(?<!a)b', 'lookbehind'], ['(a)\\1', 'backreference'],
                   ['^\\ud800$', 'surrogate escape'], ['[\\ud800-\\udfff]', 'surrogate escape'],
                   ['^\\u{D800}$', 'surrogate escape'], ['^a\ud800b$', 'lone UTF-16 surrogate']];
    for (const [pattern, words] of cases) {
      assert.throws(() => parse(withSchema({ schema: { type: 'string', pattern } })), (error) => {
        assert.equal(error.field, `${schemaField}.pattern`);
        assert.ok(error.message.includes(words), `${pattern}: ${error.message}`);
        return true;
      });
    }
    // Escaped anchors, class members and a backspace in a class [\b] are not those features.
    for (const pattern of ['^[\\^$]+\\$x$', '[\\b ]', 'a\\\\?b', '^(a|b)$']) parse(withSchema({ schema: { type: 'string', pattern } }));
    // Strings a pattern constrains are written unescaped: one that needs a quote, backslash or control character is refused.
    for (const pattern of ['^\\n$', '[\\b]', 'a\\\\b', '^"[a-z]+"$', '^(\\t|\\r)+$']) {
      assert.throws(() => parse(withSchema({ schema: { type: 'string', pattern } })), (error) => {
        assert.equal(error.field, `${schemaField}.pattern`);
        assert.ok(error.message.includes('quote, a backslash or a control character'), `${pattern}: ${error.message}`);
        return true;
      });
    }
  });

  test('type beside const or enum must hold for each value (xgrammar reads const and enum alone)', () => {
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { const: 'x', type: 'integer' } }) }, `${schemaField}.const`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { enum: [1, 'a'], type: 'integer' } }) }, `${schemaField}.enum[1]`);
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { enum: [1.5], type: ['integer', 'null'] } }) }, `${schemaField}.enum[0]`);
    parse(withSchema({ schema: { enum: [1, null], type: ['integer', 'null'] } }));
    parse(withSchema({ schema: { const: { a: 1 }, type: 'object' } }));
  });

  test('a $ref with a malformed %-escape is refused naming the $ref (not a URIError)', () => {
    assertRejects({ messages: QUESTION, ...withSchema({ schema: { $defs: {}, $ref: '#/$defs/%zz' } }) }, `${schemaField}.$ref`);
    parse(withSchema({ schema: { $defs: { 'a b': { type: 'string' } }, $ref: '#/$defs/a%20b' } }));
  });

  test('stop strings are refused beside a grammar or callable tools (they would cut the JSON), allowed with text and tool_choice none', () => {
    const tools = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }];
    assertRejects({ messages: QUESTION, stop: ['}'], response_format: { type: 'json_object' } }, 'stop');
    assertRejects({ messages: QUESTION, stop: 'x', ...withSchema({ schema }) }, 'stop');
    assertRejects({ messages: QUESTION, stop: ['x'], tools, tool_choice: 'required' }, 'stop');
    assertRejects({ messages: QUESTION, stop: ['x'], tools, tool_choice: { type: 'function', function: { name: 'f' } } }, 'stop');
    assert.deepEqual(parse({ stop: ['x'], response_format: { type: 'text' } }).stop, ['x']);
    assertRejects({ messages: QUESTION, stop: ['x'], tools }, 'stop');
    assert.deepEqual(parse({ stop: ['x'], tools, tool_choice: 'none' }).stop, ['x']);
  });

  test('a long GBNF grammar parses in linear time (line and column are computed only for an error)', () => {
    const rules = 20000;
    const grammar = ['root ::= r0', ...Array.from({ length: rules }, (_, i) => `r${i} ::= "x" ${i + 1 < rules ? `r${i + 1}` : ''}`)].join('\n');
    const started = performance.now();
    parse({ response_format: { type: 'grammar', grammar } });
    // Quadratic (the text re-split at each of 20,000 references: 10^10 characters) would take minutes.
    assert.ok(performance.now() - started < 2000, `${performance.now() - started} ms`);
    assertRejects({ messages: QUESTION, response_format: { type: 'grammar', grammar: `${grammar}\nbad ::= (` } }, 'response_format.grammar');
  });

  test('a GBNF syntax error names the field, the line and the column', () => {
    const cases = [['root ::= "a', 'line 1, column 10'], ['root ::= item\nitem ::= ("a"', 'line 2, column 14'],
                   ['root ::= missing', 'never defined'], ['start ::= "a"', 'no rule "root"'],
                   ['root ::= "a"{2,1}', 'maximum below'], ['root ::= "\\q"', 'unknown escape'],
                   ['root ::= <think>', 'token references'], ['root ::= "a"\nroot ::= "b"', 'defined twice'],
                   ['root ::= [] "a"', 'line 1, column 10: the character class [] is empty'],
                   ['root ::= "\\uD800"', 'surrogate'], ['root ::= [a-\\uDFFF]', 'surrogate'], ['root ::= "\uD800"', 'surrogate']];
    for (const [grammar, words] of cases) {
      assert.throws(() => parse({ response_format: { type: 'grammar', grammar } }), (error) => {
        assert.equal(error.name, 'InvalidRequestError');
        assert.equal(error.field, 'response_format.grammar');
        assert.ok(error.message.includes(words), error.message);
        return true;
      });
    }
  });
});

describe('completions requests', () => {
  const complete = (fields) => parseCompletionRequest({ prompt: 'Once upon a time', ...fields }, MANIFEST);
  const assertRefused = (fields, field) => assertRejects({ prompt: 'Once upon a time', ...fields }, field, MANIFEST,
                                                         parseCompletionRequest);

  test('read the sampling fields as chat does; max_tokens 16 by default (OpenAI\'s)', () => {
    const fields = { temperature: 0, top_p: 0.5, top_k: 40, frequency_penalty: -2, presence_penalty: 2,
                     repetition_penalty: 1.1, logit_bias: { 0: -100 }, stop: 'END', seed: 3, stream: true,
                     stream_options: { include_usage: true }, ignore_eos: true, model: 'smollm2-135m', n: 1, max_tokens: 8 };
    const { messages, enableThinking, logprobs, topLogprobs, responseFormat, tools, ...chat } = parse(fields);
    const { prompt, echo, logprobs: wants, topLogprobs: count, ...completion } = complete(fields);
    assert.deepEqual(completion, chat);
    assert.deepEqual([prompt, echo, wants, count], ['Once upon a time', false, false, 0]);
    assert.deepEqual([complete({}).maxTokens, complete({}).maxTokensField], [16, null], 'a default, not a demand');
    assert.equal(complete({}).sampling.temperature, 0.6, 'the manifest default');
  });

  test('prompt: one string, or an array of one string', () => {
    assert.equal(complete({ prompt: ['Hi'] }).prompt, 'Hi');
    for (const prompt of ['', [], ['a', 'b'], [1, 2], [[1]], 7]) assertRefused({ prompt }, 'prompt');
    assertRejects({}, 'prompt', MANIFEST, parseCompletionRequest);
    assertRejects('Hi', 'request', MANIFEST, parseCompletionRequest);
  });

  test('logprobs: an integer 0 to 5, the alternatives per token; echo', () => {
    assert.deepEqual([complete({ logprobs: 0 }).logprobs, complete({ logprobs: 0 }).topLogprobs], [true, 0]);
    assert.equal(complete({ logprobs: 5 }).topLogprobs, 5);
    for (const logprobs of [6, -1, true, 1.5]) assertRefused({ logprobs }, 'logprobs');
    assert.equal(complete({ echo: true }).echo, true);
  });

  test('what cannot be honoured is refused by name', () => {
    assertRefused({ suffix: ' The end.' }, 'suffix');
    assertRefused({ best_of: 2 }, 'best_of');
    assert.equal(complete({ best_of: 1 }).prompt, 'Once upon a time');
    assertRefused({ n: 2 }, 'n');
    assertRefused({ echo: true, logprobs: 1 }, 'echo');
    assertRefused({ messages: QUESTION }, 'messages');
    assertRefused({ top_logprobs: 2 }, 'top_logprobs');
  });
});
