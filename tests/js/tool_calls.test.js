// Tool calling (runtime/tool_calls.js, through request.js, chat_template.js, grammar.js and the
// engine): the checks of tools and tool_choice, the real templates rendering tools and tool-call
// history as transformers does (build/js-fixtures/tool_templates.json, made by
// tests/js/fixtures/make_model_fixtures.py), the syntax parsers (parsed whole, or streamed as a
// grammar writes them), the "auto" grammar, and on tiny random Qwen2, Qwen3, Llama, Mistral v0.3 and
// Phi-4-mini models carrying their real templates (and special tokens), on the CPU backend: forced
// calls always valid, "auto" calls valid and single without parallel_tool_calls, streaming equal to
// the whole response, a full round trip reusing the KV cache; the switch to the calls' grammar at a
// call token on both backends.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { ChatTemplate } from '../../runtime/chat_template.js';
import { CreateEngine } from '../../runtime/engine.js';
import { InvalidRequestError } from '../../runtime/errors.js';
import { GrammarCompiler } from '../../runtime/grammar.js';
import { parseChatRequest } from '../../runtime/request.js';
import { SYNTAXES, ToolCallStream, toolCallGrammar, toolCallSyntaxOf } from '../../runtime/tool_calls.js';
import { Tokenizer } from '../../runtime/tokenizer.js';
import { FIXTURES, collect, manifestOf } from './helpers/chat.js';

const TEMPLATES = new URL('../data/chat_templates/', import.meta.url);
const MANIFEST = { model_id: 'tiny', generation: {}, architecture: { vocab_size: 100 } };
const PARAMETERS = {
  // The city bounded (an unbounded one could outlast max_tokens), by a pattern: string_guard.js follows it.
  type: 'object', properties: { city: { type: 'string', pattern: '^[A-Za-z ]{1,20}$' }, unit: { type: 'string', enum: ['c', 'f'] } },
  required: ['city', 'unit'], additionalProperties: false,
};
const WEATHER = { type: 'function', function: { name: 'get_weather', description: 'The weather in a city.', parameters: PARAMETERS } };
const TIME = { type: 'function', function: { name: 'get_time', parameters: {
  type: 'object', properties: { zone: { type: 'string', enum: ['UTC', 'CET'] } }, required: ['zone'], additionalProperties: false } } };
const ASK = [{ role: 'user', content: 'What is the weather in Paris?' }];
const PLAIN = Tokenizer.fromJSON({ model: { type: 'BPE', vocab: { '\n': 0 }, merges: [] }, added_tokens: [] });

const parse = (fields) => parseChatRequest({ messages: ASK, ...fields }, MANIFEST);
const syntaxNamed = (name) => SYNTAXES.find((entry) => entry.name === name);

// OpenAI's delta.tool_calls entries joined into whole calls, as a client (and collectCompletion) joins them.
function joinCalls(entries) {
  const calls = [];
  for (const { index, id, type, function: fn } of entries) {
    if (id) calls[index] = { id, type, function: { name: fn.name, arguments: fn.arguments } };
    else calls[index].function.arguments += fn.arguments;
  }
  return calls;
}
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
    // Arguments are a JSON object: a string, an array, a nullable object or an anyOf at the root are refused.
    for (const parameters of [{ type: 'string', maxLength: 5 }, { type: 'array', items: { type: 'integer' } },
                              { type: ['object', 'null'] }, { anyOf: [{ type: 'object' }, { type: 'string' }] }]) {
      assert.throws(() => parse(withParameters(parameters)), refusedAt('tools[0].function.parameters.type', /"type": "object"/),
                    JSON.stringify(parameters));
    }
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
    for (const tool_choice of ['auto', 'required', { type: 'function', function: { name: 'get_weather' } }]) {
      assert.throws(() => parse({ tools: [WEATHER], tool_choice, stop: ['x'] }), refusedAt('stop', /tools the model may call/));
    }
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
    assert.throws(() => history({ role: 'assistant', tool_calls: [{ ...call, function: { name: 'f', arguments: { a: 1 } } }] }),
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
  const streamed = (name, pieces, options) => {
    const stream = new ToolCallStream(syntaxNamed(name), [WEATHER, TIME], options);
    const parts = [...pieces.map((piece) => stream.push(piece)), stream.finish()];
    return { content: parts.map((part) => part.content).join(''), calls: joinCalls(parts.flatMap((part) => part.toolCalls)),
             early: parts.slice(0, -1).map((part) => part.content).join(''),
             earlyEntries: parts.slice(0, -1).flatMap((part) => part.toolCalls) };
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

  test('Hermes: text streams until a <tool_call> tag, which is held until closed; several calls; layout whitespace dropped', () => {
    const text = 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>\n'
      + '<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n</tool_call>';
    const result = streamed('hermes', text.match(/.{1,3}/gs));
    assert.deepEqual(calls(result), [call('get_weather', { city: 'Paris', unit: 'c' }), call('get_time', { zone: 'CET' })]);
    assert.equal(result.content, 'Let me look.');
    assert.equal(result.early, 'Let me look.');
    for (const { id, type } of result.calls) {
      assert.match(id, /^call_[A-Za-z0-9]{24}$/);
      assert.equal(type, 'function');
    }
  });

  test('what does not parse as a call of the tools stays text', () => {
    for (const body of ['{"name": "get_weather", "arguments": {"city": ', '{"name": "nope", "arguments": {}}',
                        '{"name": "get_time", "arguments": "zone"}']) {
      const text = `<tool_call>${body}</tool_call>`;
      const { content, calls: made, early } = streamed('hermes', [text]);
      assert.deepEqual({ content, calls: made, early }, { content: text, calls: [], early: text });
    }
    assert.deepEqual(streamed('hermes', ['a <tool_', 'call> unclosed']).content, 'a <tool_call> unclosed');
    // A "<" at the end may begin a tag: held back until the reply goes on or ends.
    const { content, early } = streamed('hermes', ['1 <']);
    assert.deepEqual({ content, early }, { content: '1 <', early: '1 ' });
  });

  test('Llama 3: the whole reply is the call; Mistral and Phi-4-mini: a JSON list after their call token', () => {
    const llama = streamed('llama3_json', [' {"name": "get_time", ', '"parameters": {"zone": "UTC"}}']);
    assert.deepEqual(calls(llama), [call('get_time', { zone: 'UTC' })]);
    assert.equal(llama.content, '');
    assert.deepEqual(streamed('llama3_json', ['The answer', ' is 4.']).early, 'The answer is 4.');
    const list = '[{"name": "get_weather", "arguments": {"city": "Rome", "unit": "f"}}, {"name": "get_time", "arguments": {"zone": "UTC"}}]';
    for (const name of ['mistral', 'phi4_mini']) {
      const marked = streamed(name, ['Sure.', syntaxNamed(name).callToken, ` ${list}`]);
      assert.deepEqual(calls(marked), [call('get_weather', { city: 'Rome', unit: 'f' }), call('get_time', { zone: 'UTC' })]);
      assert.equal(marked.content, 'Sure.');
    }
    assert.match(streamed('mistral', ['[TOOL_CALLS]', list]).calls[0].id, /^[A-Za-z0-9]{9}$/);
    // Without the call token a list is text; after it, a list that is not calls is text without the token.
    assert.deepEqual(streamed('mistral', [list]).content, list);
    assert.deepEqual(streamed('mistral', ['[TOOL_CALLS]', '[1, 2]']).content, '[1, 2]');
  });

  test('parallel_tool_calls false: a second parsed call is dropped, not content', () => {
    const two = ' {"name": "get_time", "parameters": {"zone": "UTC"}}; {"name": "get_time", "parameters": {"zone": "CET"}}';
    assert.deepEqual(calls(streamed('llama3_json', [two])).length, 2);
    const one = streamed('llama3_json', [two], { parallel: false });
    assert.deepEqual(calls(one), [call('get_time', { zone: 'UTC' })]);
    assert.equal(one.content, '');
    const tags = '<tool_call>\n{"name": "get_time", "arguments": {"zone": "UTC"}}\n</tool_call>\n'
      + '<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n</tool_call>';
    assert.deepEqual(calls(streamed('hermes', [tags], { parallel: false })), [call('get_time', { zone: 'UTC' })]);
  });

  test('under the grammar, a call\'s id and name come first and its arguments as they are written', () => {
    const args = '{"city": "San Jose", "unit": "c"}';
    const replies = {
      hermes: `Checking.\n<tool_call>\n{"name": "get_weather", "arguments": ${args}}\n</tool_call>\nDone.`,
      mistral: `[TOOL_CALLS] [{"name": "get_weather", "arguments": ${args}}, {"name": "get_time", "arguments": {"zone": "UTC"}}]`,
      phi4_mini: `<|tool_call|>[{"name": "get_weather", "arguments": ${args}}]`,
      llama3_json: `{"name": "get_weather", "parameters": ${args}}`,
    };
    for (const [name, reply] of Object.entries(replies)) {
      const pieces = reply.match(/.{1,3}/gs);
      const result = streamed(name, pieces, { constrained: true });
      assert.equal(result.calls[0].function.name, 'get_weather', name);
      assert.equal(result.calls[0].function.arguments, args, name); // the model's own text
      assert.equal(result.content, name === 'hermes' ? 'Checking.\n\nDone.' : '', name);
      // Fragments flowed before the reply ended: the first entry names the call, with arguments ''.
      const [first, ...fragments] = result.earlyEntries;
      assert.deepEqual({ ...first, id: 'x' }, { index: 0, id: 'x', type: 'function', function: { name: 'get_weather', arguments: '' } });
      assert.ok(fragments.length > 5, `${name}: ${fragments.length} fragments`);
    }
    assert.deepEqual(calls(streamed('mistral', [replies.mistral], { constrained: true }))[1],
                     { name: 'get_time', arguments: '{"zone": "UTC"}' });
  });
});

describe('the grammar of "auto"', () => {
  const tools = (choice, parallel = true) => ({ tools: [WEATHER, TIME], choice, parallel });
  test('Hermes: text until <tool_call>, then a valid call; one only without parallel_tool_calls', async () => {
    const { format } = toolCallGrammar(syntaxNamed('hermes'), tools('auto', false));
    assert.equal(format.type, 'triggered_tags');
    assert.deepEqual(format.triggers, ['<tool_call>']);
    assert.equal(format.stop_after_first, true);
    assert.equal(toolCallGrammar(syntaxNamed('hermes'), tools('auto')).format.stop_after_first, false);
    // Llama 3's calls have no opening text: parsed; Mistral's and Phi-4-mini's: the calls' grammar after the call token.
    assert.equal(toolCallGrammar(syntaxNamed('llama3_json'), tools('auto')), null);
    assert.deepEqual(toolCallGrammar(syntaxNamed('mistral'), tools('auto')), toolCallGrammar(syntaxNamed('mistral'), tools('required')));

    const tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(new URL('tiny-qwen2-tools/models/tiny-qwen2-tools/tokenizer.json', FIXTURES))));
    const stop = tokenizer.tokenToId('<|im_end|>');
    const compiler = await GrammarCompiler.create(tokenizer, { vocabSize: tokenizer.vocabSize, stopTokenIds: [stop] });
    const grammar = await compiler.compile(toolCallGrammar(syntaxNamed('hermes'), tools('auto', false)));
    // Whether the grammar takes `text` token by token, then (where `end`) a stop token.
    const takes = async (text, end) => {
      const matcher = await grammar.matcher();
      try {
        for (const token of [...tokenizer.encode(text), ...(end ? [stop] : [])]) {
          const mask = await matcher.nextTokenMask();
          if (!(mask[token >> 5] & (1 << (token & 31)))) return false;
          matcher.acceptToken(token);
        }
        return true;
      } finally {
        matcher.dispose();
      }
    };
    const callText = (args) => `<tool_call>\n{"name": "get_weather", "arguments": ${args}}\n</tool_call>`;
    try {
      assert.equal(await takes('Just text, no call.', true), true);
      assert.equal(await takes(`Let me see. ${callText('{"city": "Paris", "unit": "c"}')}`, true), true);
      assert.equal(await takes(callText('{"city": "Paris", "unit": "k"}'), false), false); // not in the enum
      assert.equal(await takes('<tool_call>\n{"name": "get_date"', false), false); // no such tool
      assert.equal(await takes(`${callText('{"city": "Paris", "unit": "c"}')} and more`, false), false); // one call, then the end
    } finally {
      grammar.dispose();
      compiler.dispose();
    }
  });
});

// Tiny random models with real templates: garbage unless constrained, so the forced choices show
// that the grammar alone makes every call valid. What they test is the templates, the grammars and
// the engine, not a backend: they run on the CPU one, which loads and runs them several times as
// fast as a CPU Vulkan driver (issue 14 lets tests that need *a* working engine use it). The GPU's
// mask under a call's grammar has its tests in engine.test.js (run ahead under a grammar) and below.
const TOOL_MODELS = ['tiny-qwen2-tools', 'tiny-qwen3-tools', 'tiny-llama-tools', 'tiny-mistral-tools', 'tiny-phi4-mini-tools'];
const MAX_TOKENS = 160; // a call is ~80 characters, about as many tokens of the tiny vocabulary

const withoutIds = (calls) => calls.map(({ id, ...rest }) => rest);

function assertValidWeather(args) {
  const value = JSON.parse(args);
  assert.deepEqual(Object.keys(value), ['city', 'unit']);
  assert.match(value.city, /^[A-Za-z ]{1,20}$/);
  assert.ok(['c', 'f'].includes(value.unit));
}

function assertValidCall({ type, function: { name, arguments: args } }) {
  assert.equal(type, 'function');
  if (name === 'get_weather') assertValidWeather(args);
  else assert.deepEqual(Object.keys(JSON.parse(args)), ['zone']);
}

for (const name of TOOL_MODELS) {
  describe(`${name} (its real template)`, () => {
    let engine;
    before(async () => {
      engine = await CreateEngine(manifestOf(name), { backend: 'wasm', maxContext: 2048 });
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
      const entries = chunks.flatMap((chunk) => chunk.choices.flatMap(({ delta }) => delta.tool_calls ?? []));
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
      assert.deepEqual(withoutIds(joinCalls(entries)), withoutIds(whole.message.tool_calls));
      assert.ok(entries.length > 2, `the arguments come in fragments: ${JSON.stringify(entries)}`);
      for (const call of whole.message.tool_calls) assertValidCall(call);
    });

    test('auto without parallel_tool_calls: text, or one valid call', async () => {
      for (const seed of [1, 2, 3]) {
        const [choice] = (await engine.chat.completions.create(request({ seed, tool_choice: 'auto', parallel_tool_calls: false }))).choices;
        assert.ok((choice.message.tool_calls ?? []).length <= 1, JSON.stringify(choice));
        for (const call of choice.message.tool_calls ?? []) assertValidCall(call);
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

// Mistral's and Phi-4-mini's calls begin with a special token: under "auto" the model decodes freely
// until it samples it (here pushed by logit_bias, as a random model would hardly sample it), then
// the calls' grammar holds: one valid call without parallel_tool_calls, streamed in fragments. On
// both backends: the GPU's decode loop runs each forward pass ahead, unmasked until the call token.
for (const [name, callToken] of [['tiny-mistral-tools', '[TOOL_CALLS]'], ['tiny-phi4-mini-tools', '<|tool_call|>']]) {
  for (const backend of ['wasm', 'webgpu']) {
    test(`${name} on ${backend}: "auto" switches to the calls' grammar once the model samples ${callToken}`, async () => {
      const engine = await CreateEngine(manifestOf(name), { backend, maxContext: 2048 });
      try {
        const id = JSON.parse(readFileSync(new URL(`${name}/models/${name}/tokenizer.json`, FIXTURES), 'utf8'))
          .added_tokens.find((token) => token.content === callToken).id;
        const fields = { messages: ASK, tools: [WEATHER, TIME], tool_choice: 'auto', parallel_tool_calls: false,
                         temperature: 1, seed: 5, max_tokens: MAX_TOKENS, logit_bias: { [id]: 100 } };
        const [choice] = (await engine.chat.completions.create(fields)).choices;
        assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice));
        assert.equal(choice.message.content, null);
        assert.equal(choice.message.tool_calls.length, 1);
        assertValidCall(choice.message.tool_calls[0]);
        const chunks = await collect(await engine.chat.completions.create({ ...fields, stream: true }));
        const entries = chunks.flatMap((chunk) => chunk.choices.flatMap(({ delta }) => delta.tool_calls ?? []));
        assert.deepEqual(withoutIds(joinCalls(entries)), withoutIds(choice.message.tool_calls));
      } finally {
        await engine.unload();
      }
    });
  }
}

test('a model whose template has no tool support refuses tools, naming the field', async () => {
  const engine = await CreateEngine(manifestOf('tiny-qwen2'), { backend: 'wasm', maxContext: 128 });
  try {
    await assert.rejects(engine.chat.completions.create({ messages: ASK, tools: [WEATHER], max_tokens: 1 }),
                         refusedAt('tools', /no tool support/));
  } finally {
    await engine.unload();
  }
});
