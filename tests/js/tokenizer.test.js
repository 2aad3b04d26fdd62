// runtime/tokenizer.js against Python `tokenizers`, the oracle: tests/js/fixtures/make_tokenizer_fixtures.py
// records what Python gives on real tokenizer.json files (and variants of them) and this file checks
// that the runtime gives the same ids, texts and streamed texts.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { Tokenizer } from '../../runtime/tokenizer.js';
import { UnsupportedModelError } from '../../runtime/errors.js';

const ROOT = new URL('../../', import.meta.url);
const FIXTURES = new URL('build/js-fixtures/tokenizers/', ROOT);
const MAKE_FIXTURES = 'run `python tests/js/fixtures/make_model_fixtures.py && '
  + 'python tests/js/fixtures/make_tokenizer_fixtures.py` (after `npm ci`)';
const TOKENIZERS = ['smollm2', 'tiny-llama-gpt2', 'qwen2.5', 'llama3', 'llama2', 'llama2-metaspace-first',
  'llama2-metaspace-always', 'llama2-metaspace-never', 'smollm2-added-flags', 'smollm2-split-behaviors'];
const LONG_PROMPT_MS = 1000;

function readJSON(url) {
  if (!existsSync(url)) throw new Error(`${url.pathname} is missing: ${MAKE_FIXTURES}`);
  return JSON.parse(readFileSync(url, 'utf8'));
}

function load(name) {
  const fixture = readJSON(new URL(`${name}.json`, FIXTURES));
  return { fixture, tokenizer: Tokenizer.fromJSON(readJSON(new URL(fixture.tokenizer, ROOT))) };
}

function streamed(tokenizer, ids, options) {
  const stream = tokenizer.createStreamDecoder(options);
  return [...ids.map((id) => stream.push(id)), stream.flush()];
}

for (const name of TOKENIZERS) {
  describe(name, () => {
    const { fixture, tokenizer } = load(name);

    // First, while the word cache is cold.
    test(`encodes a ${fixture.long_prompt.text.split(' ').length}-word prompt in under ${LONG_PROMPT_MS} ms`, (t) => {
      const start = performance.now();
      const ids = tokenizer.encode(fixture.long_prompt.text);
      const elapsed = performance.now() - start;
      t.diagnostic(`${ids.length} ids in ${elapsed.toFixed(0)} ms`);
      assert.deepEqual(ids, fixture.long_prompt.ids);
      assert.ok(elapsed < LONG_PROMPT_MS, `took ${elapsed.toFixed(0)} ms`);
    });

    test('encodes every text to the ids tokenizers gives', () => {
      for (const { text, ids } of fixture.encode) assert.deepEqual(tokenizer.encode(text), ids, JSON.stringify(text));
    });

    test('encodes with special tokens as plain text as tokenizers\' encode_special_tokens does', () => {
      for (const { text, ids } of fixture.encode_split_special) {
        assert.deepEqual(tokenizer.encode(text, { splitSpecialTokens: true }), ids, JSON.stringify(text));
      }
    });

    test('decodes to the text tokenizers gives, with and without special tokens', () => {
      for (const { ids, decoded, decoded_skip_special: skipped } of [...fixture.encode, ...fixture.decode]) {
        assert.equal(tokenizer.decode(ids), decoded, JSON.stringify(ids));
        assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), skipped, JSON.stringify(ids));
      }
    });

    test('streams encoded text in whole characters that add up to the decoded text', () => {
      for (const { ids, decoded, decoded_skip_special: skipped } of fixture.encode) {
        const chunks = streamed(tokenizer, ids);
        assert.equal(chunks.join(''), decoded, JSON.stringify(ids));
        assert.ok(!chunks.some((chunk) => chunk.includes('\uFFFD')), `U+FFFD in ${JSON.stringify(chunks)}`);
        assert.equal(streamed(tokenizer, ids, { skipSpecialTokens: true }).join(''), skipped, JSON.stringify(ids));
      }
    });

    test('streams arbitrary ids (broken characters included) to the decoded text', () => {
      for (const { ids, decoded, decoded_skip_special: skipped } of fixture.decode) {
        assert.equal(streamed(tokenizer, ids).join(''), decoded, JSON.stringify(ids));
        assert.equal(streamed(tokenizer, ids, { skipSpecialTokens: true }).join(''), skipped, JSON.stringify(ids));
      }
    });

    test('maps ids and tokens both ways and knows the vocabulary size', () => {
      assert.equal(tokenizer.vocabSize, fixture.vocab_size);
      for (const [id, token, tokenId] of fixture.tokens) {
        assert.equal(tokenizer.idToToken(id), token);
        assert.equal(tokenizer.tokenToId(token), tokenId);
      }
    });
  });
}

describe('stream decoder', () => {
  const { tokenizer } = load('smollm2');

  test('holds the bytes of a character until the last one arrives', () => {
    const ids = tokenizer.encode('😀');
    assert.ok(ids.length > 1, 'the emoji should take several byte tokens');
    const chunks = streamed(tokenizer, ids);
    assert.deepEqual(chunks, [...ids.slice(0, -1).map(() => ''), '😀', '']);
  });

  test('gives out a dangling partial character at flush, as decode does', () => {
    const ids = tokenizer.encode('a😀').slice(0, -1);
    const stream = tokenizer.createStreamDecoder();
    const chunks = ids.map((id) => stream.push(id));
    assert.deepEqual([chunks.join(''), stream.flush()], ['a', tokenizer.decode(ids).slice(1)]);
  });
});

describe('unsupported tokenizer files are refused by name', () => {
  const minimal = {
    model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] },
    normalizer: null, pre_tokenizer: null, decoder: null, added_tokens: [],
  };

  test('the minimal file works', () => {
    const tokenizer = Tokenizer.fromJSON(minimal);
    assert.deepEqual(tokenizer.encode('abba'), [2, 1, 0]);
    assert.equal(tokenizer.decode([2, 1, 0]), 'ab b a'); // no decoder: tokens joined by spaces
  });

  const components = [
    ['model', { type: 'WordPiece', vocab: {} }],
    ['normalizer', { type: 'Lowercase' }],
    ['pre_tokenizer', { type: 'Whitespace' }],
    ['decoder', { type: 'CTC' }],
  ];
  for (const [component, config] of components) {
    test(`${component} ${config.type}`, () => {
      assert.throws(() => Tokenizer.fromJSON({ ...minimal, [component]: config }), (error) => error instanceof
        UnsupportedModelError && error.component === component && error.type === config.type
        && error.message.includes(component) && error.message.includes(config.type));
    });
  }

  const split = (regex) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
  const regexes = [['a++', 'possessive'], ['(?>a)', '(?>'], ['^a', 'line anchor'], ['\\w+', '\\w'],
    ['(?i:é)', '(?i:é)'], ['[[:alpha:]]', '[']];
  for (const [regex, construct] of regexes) {
    test(`Split regex ${regex}`, () => {
      assert.throws(() => Tokenizer.fromJSON({ ...minimal, pre_tokenizer: split(regex) }),
        (error) => error instanceof UnsupportedModelError && error.message.includes(construct));
    });
  }

  test('BPE options that change results', () => {
    assert.throws(() => Tokenizer.fromJSON({ ...minimal, model: { ...minimal.model, dropout: 0.1 } }),
      (error) => error instanceof UnsupportedModelError && error.message.includes('dropout'));
  });
});

// OpenAI's logprobs `bytes`: each token's own bytes, joined across tokens into the text's UTF-8.
describe('tokenBytes', () => {
  const TEXT = '我 🙂 ꙮ𓀀 Paris é';
  for (const name of ['qwen2.5', 'llama3', 'llama2']) {
    test(`${name}: tokens' bytes join into the text's UTF-8, a split character's part included`, () => {
      const { tokenizer } = load(name);
      const ids = tokenizer.encode(TEXT);
      const parts = ids.map((id) => [...tokenizer.tokenBytes(id)]);
      // Llama 2's Metaspace writes the text's leading space; the rest is the text's own bytes.
      const joined = new TextDecoder().decode(Uint8Array.from(parts.flat())).replace(/^ /, '');
      assert.equal(joined, TEXT);
      const split = ids.filter((id) => tokenizer.decode([id]).includes('\uFFFD'));
      assert.ok(split.length > 0, 'the text has a character split across tokens');
      for (const id of split) assert.ok(!tokenizer.tokenBytes(id).every((b, i, all) => all.length === 3 && [0xef, 0xbf, 0xbd][i] === b));
    });
  }
  test('a special token gives its text', () => {
    const { tokenizer } = load('qwen2.5');
    assert.deepEqual([...tokenizer.tokenBytes(tokenizer.tokenToId('<|im_end|>'))], [...new TextEncoder().encode('<|im_end|>')]);
  });
});
