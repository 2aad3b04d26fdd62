// runtime/chat_format.js against sitegen/chat_format.py: tests/js/fixtures/make_tokenizer_fixtures.py
// records what Python's format_conversation gives (prompt text or error) for every chat format the
// build derives from tests/data/chat_templates/ and for SmolLM2's, on a set of conversations.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { formatConversation, TRIM_WHITESPACE } from '../../runtime/chat_format.js';
import { InvalidRequestError } from '../../runtime/errors.js';

const FIXTURE = new URL('../../build/js-fixtures/chat_format.json', import.meta.url);

function readFixture() {
  if (!existsSync(FIXTURE)) {
    throw new Error(`${FIXTURE.pathname} is missing: run \`python tests/js/fixtures/make_model_fixtures.py && `
      + 'python tests/js/fixtures/make_tokenizer_fixtures.py`');
  }
  return JSON.parse(readFileSync(FIXTURE, 'utf8'));
}

const fixture = readFixture();
const smollm2 = fixture.formats.find(({ name }) => name === 'SmolLM2-135M-Instruct').format;

const isInvalidMessages = (message) => (error) => error instanceof InvalidRequestError
  && error.name === 'InvalidRequestError' && error.field === 'messages' && (message === undefined || error.message === message);

test('trims the characters Python\'s str.strip() does', () => {
  assert.equal(TRIM_WHITESPACE, fixture.trim_whitespace);
});

test('covers SmolLM2 and the derivable templates', () => {
  assert.ok(fixture.formats.length >= 9, fixture.formats.map(({ name }) => name).join(', '));
});

describe('formats conversations as sitegen.chat_format does', () => {
  for (const { name, format, cases } of fixture.formats) {
    test(name, () => {
      for (const { messages, add_generation_prompt: addGenerationPrompt, expected, error } of cases) {
        const run = () => formatConversation(format, messages, { addGenerationPrompt });
        const label = JSON.stringify({ messages, addGenerationPrompt });
        if (error === undefined) assert.equal(run(), expected, label);
        else assert.throws(run, isInvalidMessages(error), label);
      }
    });
  }
});

describe('refuses requests Python would fail on', () => {
  test('a message whose content is not a string', () => {
    const parts = [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }];
    assert.throws(() => formatConversation(smollm2, parts, { addGenerationPrompt: true }), isInvalidMessages());
    assert.throws(() => formatConversation(smollm2, [{ role: 'user' }], { addGenerationPrompt: true }),
      isInvalidMessages());
  });

  test('messages that are not an array', () => {
    assert.throws(() => formatConversation(smollm2, { role: 'user', content: 'hi' }, { addGenerationPrompt: true }),
      isInvalidMessages());
  });

  test('a missing addGenerationPrompt (a programming error, not a bad request)', () => {
    assert.throws(() => formatConversation(smollm2, [], {}), TypeError);
  });
});

test('leaves the caller\'s messages as they were', () => {
  const messages = [{ role: 'system', content: 'sys' }, { role: 'user', content: 'hi' }];
  const copy = structuredClone(messages);
  const llama2 = fixture.formats.find(({ name }) => name === 'Llama-2-7b-chat-hf').format;
  formatConversation(llama2, messages, { addGenerationPrompt: true });
  assert.deepEqual(messages, copy);
});
