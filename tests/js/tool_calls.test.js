// Tool calling (runtime/tool_calls.js, through request.js, chat_template.js, grammar.js and the
// engine): the checks of tools and tool_choice, the real templates rendering tools and tool-call
// history as transformers does (build/js-fixtures/tool_templates.json, made by
// tests/js/fixtures/make_model_fixtures.py), the syntax parsers, and on tiny random Qwen2, Qwen3
// and Llama models carrying their real templates: forced calls always valid, streaming equal to the
// whole response, a full round trip reusing the KV cache.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { ChatTemplate } from '../../runtime/chat_template.js';
import { CreateEngine } from '../../runtime/engine.js';
import { InvalidRequestError } from '../../runtime/errors.js';
import { parseChatRequest } from '../../runtime/request.js';
import { SYNTAXES, ToolCallStream, toolCallSyntaxOf } from '../../runtime/tool_calls.js';
import { Tokenizer } from '../../runtime/tokenizer.js';
import { FIXTURES, collect, manifestOf } from './helpers/chat.js';

const TEMPLATES = new URL('../data/chat_templates/', import.meta.url);
const MANIFEST = { model_id: 'tiny', generation: {}, architecture: { vocab_size: 100 } };
const PARAMETERS = {
  // The city bounded by an ASCII pattern rather than maxLength: xgrammar 0.1.27 lets invalid UTF-8 (overlong
  // sequences...) into strings, each invalid byte decoding to one U+FFFD, so a random model's string could
  // outgrow a maxLength; an unbounded one could outlast max_tokens.
  type: 'object', properties: { city: { type: 'string', pattern: '^[A-Za-z ]{1,20}$' }, unit: { type: 'string', enum: ['c', 'f'] } },
  required: ['city', 'unit'], additionalProperties: false,
};
const WEATHER = { type: 'function', function: { name: 'get_weather', description: 'The weather in a city.', parameters: PARAMETERS } };
const TIME = { type: 'function', function: { name: 'get_time', parameters: {
  type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'], additionalProperties: false } } };
const ASK = [{ role: 'user', content: 'What is the weather in Paris?' }];
const PLAIN = Tokenizer.fromJSON({ model: { type: 'BPE', vocab: { '\n': 0 }, merges: [] }, added_tokens: [] });

const parse = (fields) => parseChatRequest({ messages: ASK, ...fields }, MANIFEST);
const refusedAt = (field, pattern) => (error) => error instanceof InvalidRequestError && error.field === field
  && (!pattern || pattern.test(error.message));

describe('tools and tool_choice in a request', () => {
  test('are read into { tools, choice, parallel }; choice "auto" and parallel calls by default, as OpenAI\'s', () => {
    const { tools } = parse({ tools: [WEATHER] });
    assert.deepEqual(tools, { tools: [WEATHER], choice: 'auto', parallel: true });
    assert.deepEqual(parse({ tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } },
                             parallel_tool_calls: false }).tools.choice, { name: 'get_weather' });
    assert.equal(parse({}).tools, null);
    // A function without parameters takes none.
    assert.deepEqual(parse({ tools: [{ type: 'function', function: { name: 'now' } }] }).tools.tools[0].function.parameters,
                     { type: 'object', properties: {} });
  });

  test('bad input is refused naming the field', () => {
    assert.throws(() => parse({ tools: [{ type: 'function', function: { description: 'no name' } }] }),
                  refusedAt('tools[0].function.name'));
    assert.throws(() => parse({ tools: [{ type: 'function', function: { name: 'has space' } }] }), refusedAt('tools[0].function.name'));
    assert.throws(() => parse({ tools: [WEATHER, WEATHER] }), refusedAt('tools[1].function.name', /twice/));
    assert.throws(() => parse({ tools: [{ type: 'code_interpreter' }] }), refusedAt('tools[0].type'));
    const withParameters = (parameters) => ({ tools: [{ type: 'function', function: { name: 'f', parameters } }] });
    assert.throws(() => parse(withParameters({ type: 'object', properties: { a: { type: 'strin' } } })),
                  refusedAt('tools[0].function.parameters.properties.a.type'));
    assert.throws(() => parse(withParameters({ type: 'object', properties: { a: { type: 'array', uniqueItems: true } } })),
                  refusedAt('tools[0].function.parameters.properties.a.uniqueItems'));
    assert.throws(() => parse(withParameters('object')), refusedAt('tools[0].function.parameters'));
    assert.throws(() => parse({ tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_time' } } }),
                  refusedAt('tool_choice.function.name', /get_time.*get_weather/));
    assert.throws(() => parse({ tools: [WEATHER], tool_choice: 'always' }), refusedAt('tool_choice'));
    assert.throws(() => parse({ tool_choice: 'required' }), refusedAt('tool_choice', /needs tools/));
    assert.throws(() => parse({ tools: [WEATHER], response_format: { type: 'json_object' } }), refusedAt('response_format'));
  });

  test('parameters get the schema checks that keep xgrammar from aborting; stop strings only beside unforced choices', () => {
    const withParameters = (parameters) => ({ tools: [{ type: 'function', function: { name: 'f', parameters } }] });
    assert.throws(() => parse(withParameters({ type: 'object', properties: { a: { type: 'string', minLength: 3, maxLength: 1 } } })),
                  refusedAt('tools[0].function.parameters.properties.a.maxLength', /below minLength 3/));
    assert.throws(() => parse(withParameters({ type: 'object', properties: { a: { type: 'string', pattern: '\\p{L}+' } } })),
                  refusedAt('tools[0].function.parameters.properties.a.pattern', /Unicode property/));
    for (const tool_choice of ['required', { type: 'function', function: { name: 'get_weather' } }]) {
      assert.throws(() => parse({ tools: [WEATHER], tool_choice, stop: ['x'] }), refusedAt('stop', /forced tool_choice/));
    }
    assert.deepEqual(parse({ tools: [WEATHER], tool_choice: 'auto', stop: ['x'] }).stop, ['x']);
    assert.deepEqual(parse({ tools: [WEATHER], tool_choice: 'none', stop: ['x'] }).stop, ['x']);
  });

  test('history: assistant tool_calls (arguments parsed for the template) and tool results answering them', () => {
    const call = { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "c"}' } };
    const { messages } = parseChatRequest({ messages: [...ASK, { role: 'assistant', content: null, tool_calls: [call] },
                                                       { role: 'tool', tool_call_id: 'call_1', content: '21 C' }] }, MANIFEST);
    assert.deepEqual(messages.slice(1), [
      { role: 'assistant', content: '', tool_calls: [{ ...call, function: { name: 'get_weather', arguments: { city: 'Paris', unit: 'c' } } }] },
      { role: 'tool', content: '21 C', tool_call_id: 'call_1' }]);
    const history = (...rest) => parseChatRequest({ messages: [...ASK, ...rest] }, MANIFEST);
    assert.throws(() => history({ role: 'tool', tool_call_id: 'call_9', content: 'x' }), refusedAt('messages[1].tool_call_id'));
    assert.throws(() => history({ role: 'assistant', tool_calls: [{ ...call, function: { name: 'f', arguments: '{"a": ' } }] }),
                  refusedAt('messages[1].tool_calls[0].function.arguments'));
    assert.throws(() => history({ role: 'user', content: 'x', tool_call_id: 'a' }), refusedAt('messages[1].tool_call_id'));
  });
});

describe('the syntax of a template', () => {
  const syntaxOf = (file) => toolCallSyntaxOf(readFileSync(new URL(`${file}.jinja`, TEMPLATES), 'utf8'))?.name ?? null;
  test('one table: Hermes for Qwen, JSON for Llama 3.1/3.2, Mistral v0.3\'s, Phi-4-mini\'s; none without tools', () => {
    assert.deepEqual(SYNTAXES.map(({ name }) => name), ['hermes', 'mistral', 'phi4_mini', 'llama3_json']);
    const expected = { 'Qwen2.5-7B-Instruct': 'hermes', 'Qwen3-0.6B': 'hermes', 'Llama-3.1-8B-Instruct': 'llama3_json',
      'Llama-3.2-3B-Instruct': 'llama3_json', 'Mistral-7B-Instruct-v0.3': 'mistral', 'Phi-4-mini-instruct': 'phi4_mini',
      'Mistral-7B-Instruct-v0.2': null, 'TinyLlama-1.1B-Chat-v1.0': null, 'gemma-3-it': null, 'Phi-3.5-mini-instruct': null,
      'Meta-Llama-3-8B-Instruct': null };
    for (const [file, syntax] of Object.entries(expected)) assert.equal(syntaxOf(file), syntax, file);
  });
});

describe('templates render tools and tool-call history as transformers does', () => {
  const fixture = JSON.parse(readFileSync(new URL('tool_templates.json', FIXTURES), 'utf8'));
  const now = new Date(fixture.now);
  test('every template with tool support, and Phi-4-mini\'s tool list in its system message', () => {
    assert.ok(fixture.cases.length >= 11);
    for (const { name, section, tools, messages, expected, error } of fixture.cases) {
      assert.equal(error, undefined, `${name}: ${error}`);
      const rendered = new ChatTemplate(section, PLAIN).render(messages, { addGenerationPrompt: true, tools, now });
      assert.equal(rendered, expected, name);
    }
  });
});

describe('parsing replies', () => {
  const syntax = (name) => SYNTAXES.find((entry) => entry.name === name);
  const streamed = (name, pieces) => {
    const stream = new ToolCallStream(syntax(name), [WEATHER, TIME]);
    const parts = [...pieces.map((piece) => stream.push(piece)), stream.finish()];
    return { content: parts.map((part) => part.content).join(''), calls: parts.flatMap((part) => part.toolCalls),
             early: parts.slice(0, -1).map((part) => part.content).join('') };
  };
  const call = (name, args) => ({ name, arguments: JSON.stringify(args) });
  const calls = (result) => result.calls.map(({ function: fn }) => fn);

  test('Hermes: a call cut inside its closing tag (max_tokens) is still a call; a cut JSON stays text', () => {
    const cut = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "f"}}\n</to';
    const whole = streamed('hermes', cut.match(/.{1,4}/gs));
    assert.deepEqual(calls(whole), [call('get_weather', { city: 'Paris', unit: 'f' })]);
    assert.equal(whole.content, '');
    const broken = streamed('hermes', ['<tool_call>\n{"name": "get_weather", "argu']);
    assert.deepEqual(broken.calls, []);
    assert.equal(broken.content, '<tool_call>\n{"name": "get_weather", "argu');
  });

  test('Hermes: text streams until a <tool_call> tag, which is held until closed; several calls', () => {
    const text = 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>\n'
      + '<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n</tool_call>';
    const result = streamed('hermes', text.match(/.{1,3}/gs));
    assert.deepEqual(calls(result), [call('get_weather', { city: 'Paris', unit: 'c' }), call('get_time', { zone: 'CET' })]);
    assert.equal(result.content, 'Let me look.\n');
    assert.equal(result.early, 'Let me look.\n');
    for (const { id, type } of result.calls) {
      assert.match(id, /^call_[A-Za-z0-9]{24}$/);
      assert.equal(type, 'function');
    }
  });

  test('what does not parse as a call of the tools stays text', () => {
    for (const body of ['{"name": "get_weather", "arguments": {"city": ', '{"name": "nope", "arguments": {}}',
                        '{"name": "get_time", "arguments": "zone"}']) {
      const text = `<tool_call>${body}</tool_call>`;
      assert.deepEqual(streamed('hermes', [text]), { content: text, calls: [], early: text });
    }
    assert.deepEqual(streamed('hermes', ['a <tool_', 'call> unclosed']).content, 'a <tool_call> unclosed');
    // A "<" at the end may begin a tag: held back until the reply goes on or ends.
    assert.deepEqual(streamed('hermes', ['1 <']), { content: '1 <', calls: [], early: '1 ' });
  });

  test('Llama 3: the whole reply is the call; Mistral and Phi-4-mini: a JSON list (their markers are special tokens)', () => {
    const llama = streamed('llama3_json', [' {"name": "get_time", ', '"parameters": {"zone": "UTC"}}']);
    assert.deepEqual(calls(llama), [call('get_time', { zone: 'UTC' })]);
    assert.equal(llama.content, '');
    assert.deepEqual(streamed('llama3_json', ['The answer', ' is 4.']).early, 'The answer is 4.');
    const list = '[{"name": "get_weather", "arguments": {"city": "Rome", "unit": "f"}}, {"name": "get_time", "arguments": {"zone": "UTC"}}]';
    for (const name of ['mistral', 'phi4_mini']) {
      assert.deepEqual(calls(streamed(name, [list])), [call('get_weather', { city: 'Rome', unit: 'f' }), call('get_time', { zone: 'UTC' })]);
    }
    assert.match(streamed('mistral', [list]).calls[0].id, /^[A-Za-z0-9]{9}$/);
    assert.deepEqual(streamed('mistral', ['[1, 2]']).content, '[1, 2]');
  });
});

// Tiny random models with real templates: garbage unless constrained, so the forced choices show
// that the grammar alone makes every call valid.
const TOOL_MODELS = ['tiny-qwen2-tools', 'tiny-qwen3-tools', 'tiny-llama-tools'];
const MAX_TOKENS = 160; // a call is ~80 characters, about as many tokens of the tiny vocabulary

function assertValidWeather(args) {
  const value = JSON.parse(args);
  assert.deepEqual(Object.keys(value), ['city', 'unit']);
  assert.match(value.city, /^[A-Za-z ]{1,20}$/);
  assert.ok(['c', 'f'].includes(value.unit));
}

for (const name of TOOL_MODELS) {
  describe(`${name} (its real template)`, () => {
    let engine;
    before(async () => {
      engine = await CreateEngine(manifestOf(name), { maxContext: 2048 });
    });
    after(() => engine?.unload());
    const request = (fields) => ({ messages: ASK, tools: [WEATHER, TIME], temperature: 1, max_tokens: MAX_TOKENS, ...fields });

    test('a named function: always one valid call of it, finish_reason "tool_calls"', async () => {
      for (const seed of [1, 2]) {
        const reply = await engine.chat.completions.create(request({ seed,
          tool_choice: { type: 'function', function: { name: 'get_weather' } } }));
        const [choice] = reply.choices;
        assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice));
        assert.equal(choice.message.content, null);
        assert.equal(choice.message.tool_calls.length, 1);
        const [call] = choice.message.tool_calls;
        assert.equal(call.type, 'function');
        assert.equal(call.function.name, 'get_weather');
        assertValidWeather(call.function.arguments);
      }
    });

    test('required: valid calls of the tools; streamed deltas join into the same calls', async () => {
      const fields = request({ seed: 7, tool_choice: 'required', parallel_tool_calls: false });
      const whole = (await engine.chat.completions.create(fields)).choices[0];
      assert.equal(whole.finish_reason, 'tool_calls');
      const chunks = await collect(await engine.chat.completions.create({ ...fields, stream: true }));
      const joined = [];
      for (const { delta } of chunks.flatMap((chunk) => chunk.choices)) {
        for (const { index, id, type, function: fn } of delta.tool_calls ?? []) {
          if (id) joined[index] = { id, type, function: { name: fn.name, arguments: fn.arguments } };
          else joined[index].function.arguments += fn.arguments;
        }
      }
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
      const withoutIds = (calls) => calls.map(({ id, ...rest }) => rest);
      assert.deepEqual(withoutIds(joined), withoutIds(whole.message.tool_calls));
      for (const call of whole.message.tool_calls) {
        if (call.function.name === 'get_weather') assertValidWeather(call.function.arguments);
        else assert.ok(['UTC', 'CET'].includes(JSON.parse(call.function.arguments).zone));
      }
    });

    test('a round trip: call, tool result, answer; the second request reuses the first\'s KV cache', async () => {
      const first = await engine.chat.completions.create(request({ seed: 3, tool_choice: { type: 'function', function: { name: 'get_time' } } }));
      const { message } = first.choices[0];
      const history = [...ASK, message, { role: 'tool', tool_call_id: message.tool_calls[0].id, content: '12:00' }];
      const answer = await engine.chat.completions.create({ messages: history, tools: [WEATHER, TIME], tool_choice: 'none',
                                                            temperature: 0, max_tokens: 4 });
      assert.ok(['length', 'stop'].includes(answer.choices[0].finish_reason));
      assert.equal(answer.choices[0].message.tool_calls, undefined);
      const cached = answer.usage.prompt_tokens_details.cached_tokens;
      assert.ok(cached >= first.usage.prompt_tokens, `${cached} cached of the first prompt's ${first.usage.prompt_tokens}`);
    });
  });
}

test('a model whose template has no tool support refuses tools, naming the field', async () => {
  const engine = await CreateEngine(manifestOf('tiny-qwen2'), { maxContext: 128 });
  try {
    await assert.rejects(engine.chat.completions.create({ messages: ASK, tools: [WEATHER], max_tokens: 1 }),
                         refusedAt('tools', /no tool support/));
  } finally {
    await engine.unload();
  }
});
