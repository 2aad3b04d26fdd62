// runtime/chat_template.js against transformers: tests/js/fixtures/make_tokenizer_fixtures.py records
// what apply_chat_template renders (text or error) for every template in tests/data/chat_templates/ and
// SmolLM2's, and the ids it gives with sanitize_control_tokens=True for the tokenizers of those models.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { ChatTemplate } from '../../runtime/chat_template.js';
import { InvalidRequestError, UnsupportedModelError } from '../../runtime/errors.js';
import { parseChatRequest } from '../../runtime/request.js';
import { Tokenizer } from '../../runtime/tokenizer.js';
import { Template } from '../../runtime/vendor/jinja.mjs';

const ROOT = new URL('../../', import.meta.url);
const FIXTURES = new URL('build/js-fixtures/', ROOT);
const MAKE_FIXTURES = 'run `python tests/js/fixtures/make_model_fixtures.py && '
  + 'python tests/js/fixtures/make_tokenizer_fixtures.py`';

function readJSON(url) {
  if (!existsSync(url)) throw new Error(`${url.pathname} is missing: ${MAKE_FIXTURES}`);
  return JSON.parse(readFileSync(url, 'utf8'));
}

const fixture = readJSON(new URL('chat_template.json', FIXTURES));
const now = new Date(fixture.now); // the clock transformers' strftime_now read (local time, no zone)
const tokenizers = new Map();
function tokenizer(name) {
  if (!tokenizers.has(name)) {
    const { tokenizer: path } = readJSON(new URL(`tokenizers/${name}.json`, FIXTURES));
    tokenizers.set(name, Tokenizer.fromJSON(readJSON(new URL(path, ROOT))));
  }
  return tokenizers.get(name);
}
// Rendering needs no vocabulary: a tokenizer with no added tokens.
const PLAIN = Tokenizer.fromJSON({ model: { type: 'BPE', vocab: { '\n': 0 }, merges: [] }, added_tokens: [] });
const templateOf = (name) => fixture.templates.find((entry) => entry.name === name);
const options = (variables, addGenerationPrompt = true) => ({ addGenerationPrompt, now,
                                                             enableThinking: variables.enable_thinking });
// Known differences of @huggingface/jinja 0.5.11 (the newest release) from Python's jinja2, left for a
// fix (upstream or ours):
//   - |trim and str.strip()/lstrip()/rstrip() use JavaScript's whitespace set, which differs from
//     Python's str.isspace() on \x1c-\x1f and \x85 (Python's only) and \ufeff (JavaScript's only);
//   - with an argument they ignore it and strip all whitespace (Qwen3's .lstrip('\n') removes spaces too);
//   - '' != false is false (Llama 2's template then drops an empty system message).
// Conversations whose contents meet one of these in a template that uses it are left out of the exact
// comparisons (Gemma's and Llama 3's templates trim every message: contents padded with spaces, tabs or
// newlines are still compared); the rest must agree.
// Python's str.isspace() characters.
const PY_SPACE = '[\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const PY_EDGE_SPACE = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'gu');
const trimDiffers = (text) => text.replace(PY_EDGE_SPACE, '') !== text.trim();
const EDGE_NOT_NEWLINE = /^[^\S\n]|[^\S\n]$/u;
const knownDifference = ({ template }, messages) => messages.some(({ content }) =>
  (/\|\s*trim\b|strip\(\)/.test(template) && trimDiffers(content))
  || (/strip\('/.test(template) && (trimDiffers(content) || EDGE_NOT_NEWLINE.test(content)))
  || (/!= false/.test(template) && content === ''));
const isInvalidMessages = (message) => (error) => error instanceof InvalidRequestError && error.field === 'messages'
  && (message === undefined || error.message === message);

test('covers SmolLM2 and every template in tests/data, Qwen3 with and without thinking', () => {
  const names = fixture.templates.map(({ name }) => name);
  for (const name of ['SmolLM2-135M-Instruct', 'Qwen3-0.6B', 'Qwen2.5-7B-Instruct', 'Llama-3.2-3B-Instruct',
    'Llama-2-7b-chat-hf', 'Mistral-7B-Instruct-v0.1', 'TinyLlama-1.1B-Chat-v1.0', 'gemma-2-2b-it', 'gemma-3-it',
    'Phi-3.5-mini-instruct', 'Phi-4-mini-instruct', 'Mistral-7B-Instruct-v0.3']) {
    assert.ok(names.includes(name), name);
  }
  const thinking = new Set(templateOf('Qwen3-0.6B').cases.map(({ variables }) => variables.enable_thinking));
  assert.deepEqual([...thinking].sort(), [false, true, undefined]);
});

describe('renders as transformers\' apply_chat_template', () => {
  for (const { name, section, cases } of fixture.templates) {
    test(name, () => {
      const chat = new ChatTemplate(section, PLAIN);
      let compared = 0;
      for (const { messages, add_generation_prompt: flag, variables, expected, error } of cases) {
        if (knownDifference(section, messages)) continue;
        const label = JSON.stringify({ messages, flag, variables });
        const run = () => chat.render(messages, options(variables, flag));
        if (error === undefined) assert.equal(run(), expected, label);
        else assert.throws(run, isInvalidMessages(error), label);
        compared++;
      }
      assert.ok(compared >= 0.4 * cases.length, `${compared} of ${cases.length} conversations compared`);
    });
  }
});

describe('encodes as apply_chat_template(..., sanitize_control_tokens=True)', () => {
  for (const { name, section, ids } of fixture.templates) {
    for (const [tokenizerName, cases] of Object.entries(ids)) {
      test(`${name} with the ${tokenizerName} tokenizer`, () => {
        const chat = new ChatTemplate(section, tokenizer(tokenizerName));
        for (const { messages, variables, expected, error } of cases) {
          if (knownDifference(section, messages)) continue;
          const label = JSON.stringify({ messages, variables });
          const run = () => chat.encode(messages, options(variables));
          if (error === undefined) assert.deepEqual(run(), expected, label);
          else assert.throws(run, isInvalidMessages(), label);
        }
      });
    }
  }
});

describe('message text is text', () => {
  const specials = (tok) => new Set(tok.addedTokens.filter(({ special }) => special).map(({ id }) => id));
  for (const { name, section, ids } of fixture.templates) {
    for (const [tokenizerName, cases] of Object.entries(ids)) {
      const tok = tokenizer(tokenizerName);
      const chat = new ChatTemplate(section, tok);
      const special = specials(tok);
      const hasControlText = (messages) => JSON.stringify(messages).match(/<\|?\/?[a-z_]+\|?>|<\/?s>|<<SYS>>/);

      test(`${name} / ${tokenizerName}: a message's control-token text gives no control token`, () => {
        const encode = (content) => chat.encode([{ role: 'user', content }], { addGenerationPrompt: true, now });
        const controls = (content) => encode(content).filter((id) => special.has(id));
        assert.deepEqual(controls(fixture.injection), controls('hi'));
        assert.ok(encode(fixture.injection).length > encode('hi').length + 20);
      });

      test(`${name} / ${tokenizerName}: without control-token text, the ids of the whole rendered prompt`, () => {
        let compared = 0;
        for (const { messages, variables, error } of cases) {
          if (error !== undefined || hasControlText(messages)) continue;
          const whole = tok.encode(chat.render(messages, options(variables)));
          assert.deepEqual(chat.encode(messages, options(variables)), whole, JSON.stringify(messages));
          compared++;
        }
        // Gemma 2 refuses a system message: about half the random conversations are errors there.
        assert.ok(compared >= 5, `${compared} conversations`);
      });
    }
  }
});

describe('a follow-up turn only adds tokens (the engine then prefills only those)', () => {
  // The next request resends the conversation with the reply and a new message: its prompt must start
  // with the previous prompt, whose ids the KV cache holds. Not so where the template rewrites what
  // it wrote: Qwen3 without thinking ends the prompt with an empty <think></think> that it leaves out
  // of earlier turns, and Mistral v0.3 puts the system message in the last user turn (the engine then
  // prefills from where the prompts part).
  const rewrites = (name, variables, messages) => (name === 'Qwen3-0.6B' && variables.enable_thinking === false)
    || (name === 'Mistral-7B-Instruct-v0.3' && messages[0].role === 'system');
  const firsts = [[{ role: 'user', content: 'Hello' }],
    [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello' }]];
  const followUp = (messages) => [...messages, { role: 'assistant', content: 'Hi there.' },
    { role: 'user', content: 'And then?' }];
  for (const { name, section, cases, ids } of fixture.templates) {
    const variants = [...new Set(cases.map(({ variables }) => JSON.stringify(variables)))].map((v) => JSON.parse(v));
    for (const variables of variants) {
      const tokenizerNames = Object.keys(ids);
      test(`${name} ${JSON.stringify(variables)}: the next prompt extends this one, or rewrites it where the template does`, () => {
        const plain = new ChatTemplate(section, PLAIN);
        let checked = 0;
        for (const messages of firsts) {
          let first;
          try {
            first = plain.render(messages, options(variables));
          } catch (error) {
            if (error instanceof InvalidRequestError) continue; // the template refuses a system message
            throw error;
          }
          const rewritten = rewrites(name, variables, messages);
          const next = plain.render(followUp(messages), options(variables));
          assert.equal(next.startsWith(first), !rewritten, JSON.stringify({ first, next }));
          for (const tokenizerName of rewritten ? [] : tokenizerNames) {
            const chat = new ChatTemplate(section, tokenizer(tokenizerName));
            const [firstIds, nextIds] = [messages, followUp(messages)]
              .map((list) => chat.encode(list, options(variables)));
            assert.deepEqual(nextIds.slice(0, firstIds.length), firstIds, tokenizerName);
          }
          checked++;
        }
        assert.ok(checked >= 1);
      });
    }
  }
});

describe('what the template allows is allowed', () => {
  const qwen = new ChatTemplate(templateOf('Qwen2.5-7B-Instruct').section, PLAIN);
  const mistral = new ChatTemplate(templateOf('Mistral-7B-Instruct-v0.1').section, PLAIN);
  const gemma2 = new ChatTemplate(templateOf('gemma-2-2b-it').section, PLAIN);
  const gemma3 = new ChatTemplate(templateOf('gemma-3-it').section, PLAIN);
  const hi = { role: 'user', content: 'Hi' };

  test('several system messages, and one after the first exchange, where the template takes them', () => {
    const text = qwen.render([{ role: 'system', content: 'One.' }, { role: 'system', content: 'Two.' }, hi,
      { role: 'assistant', content: 'Hello' }, { role: 'system', content: 'Three.' }, hi],
    { addGenerationPrompt: true });
    assert.equal(text.split('<|im_start|>system\n').length, 4);
  });

  test('the template\'s raise_exception is an InvalidRequestError with its message', () => {
    const brief = { role: 'system', content: 'Be brief.' };
    const alternate = 'Conversation roles must alternate user/assistant/user/assistant/...';
    for (const [chat, messages, message] of [[mistral, [hi, brief], 'Only user and assistant roles are supported!'],
      [gemma2, [brief, hi], 'System role not supported'], [gemma2, [hi, hi], alternate],
      [gemma3, [brief, brief, hi], alternate]]) {
      assert.throws(() => chat.render(messages, { addGenerationPrompt: true }), isInvalidMessages(message));
      assert.throws(() => chat.encode(messages, { addGenerationPrompt: true }), isInvalidMessages(message));
    }
  });

  test('Gemma 3 puts the system message at the start of the first user turn', () => {
    assert.equal(gemma3.render([{ role: 'system', content: 'Be brief.' }, hi], { addGenerationPrompt: true }),
      '<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n');
  });

  test('the jinja globals are those of the library\'s own Template.render', () => {
    // Values, and which of Python jinja's global names (and transformers') are defined: an upgrade
    // of @huggingface/jinja that adds or changes one fails here (see JINJA_GLOBALS).
    const probe = '{{ [true, false, none, True, False, None] | tojson }} {{ range(4) | tojson }} '
      + '{{ range(1, 8, 3) | tojson }} {{ range(5, 0, -2) | tojson }} {{ namespace(a=1).a }} '
      + '{{ [range is defined, dict is defined, lipsum is defined, cycler is defined, joiner is defined, '
      + 'namespace is defined, zip is defined, enumerate is defined, len is defined, raise_exception is defined, '
      + 'strftime_now is defined] | tojson }}';
    const ours = new ChatTemplate({ template: probe, special_tokens: {}, chat_control_tokens: [] }, PLAIN);
    assert.equal(ours.render([], { addGenerationPrompt: false }), new Template(probe).render({}));
  });

  test('strftime_now gives English names whatever the locale, like Python\'s C locale', () => {
    const dated = new ChatTemplate({ template: '{{ strftime_now("%a %A %b %B %d %H:%M:%S %I%p %j %y %Y %% %Q") }}',
      special_tokens: {}, chat_control_tokens: [] }, PLAIN);
    assert.equal(dated.render([], { addGenerationPrompt: false, now: new Date(2026, 1, 3, 14, 5, 9) }),
      'Tue Tuesday Feb February 03 14:05:09 02PM 034 26 2026 % %Q');
  });

  test('a template the library cannot read is an UnsupportedModelError at load', () => {
    assert.throws(() => new ChatTemplate({ template: '{% for %}', special_tokens: {}, chat_control_tokens: [] }, PLAIN),
      (error) => error instanceof UnsupportedModelError && /chat template/.test(error.message));
  });

  test('addGenerationPrompt is required (a programming error, not a bad request)', () => {
    assert.throws(() => qwen.render([hi], {}), TypeError);
  });
});

// OpenAI sends a history tool call's arguments as a string, and accepts any string there; request.js
// hands the template the object where it is a JSON object (what transformers' templates are given),
// else the string itself, which tojson writes as a JSON string. Checked against transformers' renders
// of a tool-call history (build/js-fixtures/tool_templates.json, made by make_model_fixtures.py).
describe('history tool calls: arguments of any string render', () => {
  const fixtureOfTools = readJSON(new URL('tool_templates.json', FIXTURES));
  const OBJECT_TEXT = '{"city": "Paris", "unit": "c"}'; // the call's arguments as the templates' tojson writes them
  for (const name of ['Qwen2.5-7B-Instruct', 'Llama-3.2-3B-Instruct']) {
    test(name, () => {
      const { section, tools, messages, expected } = fixtureOfTools.cases.find((entry) => entry.name === name
        && entry.messages.some((message) => message.tool_calls));
      assert.equal(expected.split(OBJECT_TEXT).length, 2, 'the call written once');
      // the conversation as an OpenAI client sends it: each call's arguments a string
      const sent = (args) => messages.map((message) => (message.tool_calls ? { ...message, tool_calls: message.tool_calls.map(
        (call) => ({ ...call, function: { ...call.function, arguments: args } })) } : message));
      const render = (args) => new ChatTemplate(section, PLAIN).render(parseChatRequest({ messages: sent(args) }, {}).messages,
                                                                       { addGenerationPrompt: true, tools, now: new Date(fixtureOfTools.now) });
      assert.equal(render(JSON.stringify({ city: 'Paris', unit: 'c' })), expected);
      for (const text of ['city="Paris"', '{"city": "Par', '[1, 2]']) {
        assert.equal(render(text), expected.replace(OBJECT_TEXT, JSON.stringify(text)), text);
      }
    });
  }
});
