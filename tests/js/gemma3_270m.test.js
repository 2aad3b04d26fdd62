// The real Gemma 3 270M (a base model, manifest chat_template null) through the built site's own
// engine on Dawn: the completions API continues the France question greedily, token for token as
// the numpy reference does on the same manifest and shards, reaching " Paris"; a chat request is
// refused, pointing to completions. Fixture: `.venv/bin/python tests/js/fixtures/make_gemma3_270m_fixture.py`.
// Slow on SwiftShader (a 262k-row LM head per token): one load, two tokens (a prefill and a decode step).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import './helpers/gpu.js';
import { CreateEngine } from '../../build/js-fixtures/gemma3-270m/runtime/engine.js';
import { Tokenizer } from '../../build/js-fixtures/gemma3-270m/runtime/tokenizer.js';

const FIXTURES = new URL('../../build/js-fixtures/', import.meta.url);
const EXPECTED_FILE = new URL('gemma3-270m.expected.json', FIXTURES);
if (!existsSync(EXPECTED_FILE)) {
  throw new Error(`Missing ${EXPECTED_FILE.pathname}: run .venv/bin/python tests/js/fixtures/make_gemma3_270m_fixture.py`);
}
const expected = JSON.parse(readFileSync(EXPECTED_FILE, 'utf8'));
const manifestUrl = new URL(expected.manifest, FIXTURES);
const tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(new URL('tokenizer.json', manifestUrl), 'utf8')));

let engine;
before(async () => {
  engine = await CreateEngine(manifestUrl.href, { maxContext: 64 });
});
after(() => engine?.unload());

test('completes the France question with Paris, token-identical to the reference', async () => {
  const reply = await engine.completions.create({
    prompt: expected.prompt, temperature: 0, max_tokens: expected.greedy_ids.length, logprobs: 0,
  });
  assert.equal(reply.usage.prompt_tokens, expected.prompt_ids.length);
  // The legacy logprobs name each generated token by its text: the reference's ids, one by one.
  assert.deepEqual(reply.choices[0].logprobs.tokens, expected.greedy_ids.map((id) => tokenizer.decode([id])));
  assert.equal(reply.choices[0].text, expected.greedy_text);
  assert.match(reply.choices[0].text, / Paris/);
});

test('a chat request is refused with a pointer to completions', async () => {
  await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }] }),
    (error) => error.name === 'InvalidRequestError' && /no chat template.*completions/s.test(error.message));
});
