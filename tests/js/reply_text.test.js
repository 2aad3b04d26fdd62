// Reply text from generated tokens (runtime/reply_text.js): stop strings that span tokens, text
// held back while it may begin one, and when each token's logprobs entry is released. No GPU and
// no tokenizer: a fake stream decoder gives each token id a fixed text.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ReplyText } from '../../runtime/reply_text.js';

// Token i decodes to texts[i]. `held` (a token id) decodes to nothing until flush(), as a token
// holding the first bytes of a UTF-8 character does in the real decoder.
function decoderOf(texts, { held = null } = {}) {
  let pending = '';
  return {
    push: (token) => {
      if (token === held) {
        pending += texts[token];
        return '';
      }
      return texts[token];
    },
    flush: () => pending,
  };
}

// Pushes tokens 0, 1, ... (entry i is { token: i }); returns each push's piece, then finish()'s.
function run(texts, stops, { logprobs = false, held } = {}) {
  const reply = new ReplyText(decoderOf(texts, { held }), stops);
  const pieces = [];
  for (const [token] of texts.entries()) {
    pieces.push(reply.push(token, logprobs ? { token } : null));
    if (reply.stopped) break;
  }
  pieces.push(reply.finish());
  return { pieces, reply, text: pieces.map((piece) => piece.content).join(''),
           entries: pieces.flatMap((piece) => piece.logprobs.map((entry) => entry.token)) };
}

describe('reply text', () => {
  test('without stop strings, each token\'s text is final at once', () => {
    const { pieces, reply } = run(['Hel', 'lo', '!'], []);
    assert.deepEqual(pieces.map((piece) => piece.content), ['Hel', 'lo', '!', '']);
    assert.equal(reply.stopped, false);
  });

  test('a stop string spanning tokens ends the reply before it; its start was held back', () => {
    const { pieces, reply, text } = run(['Hel', 'lo\n', '\nUs', 'er: hi', 'never pushed'], ['\n\nUser:']);
    assert.deepEqual(pieces.map((piece) => piece.content), ['Hel', 'lo', '', '', '']);
    assert.equal(text, 'Hello');
    assert.equal(reply.stopped, true);
    assert.equal(pieces.length, 5, 'the token after the stop string is never pushed');
  });

  test('held-back text that turns out not to begin a stop string is released with the next token', () => {
    const { pieces, reply } = run(['a\n', '\nb', 'c'], ['\n\nUser:']);
    assert.deepEqual(pieces.map((piece) => piece.content), ['a', '\n\nb', 'c', '']);
    assert.equal(reply.stopped, false);
  });

  test('text still held back when the generation ends is the end of the reply', () => {
    const { pieces, reply } = run(['a', '\n\nUs'], ['\n\nUser:']);
    assert.deepEqual(pieces.map((piece) => piece.content), ['a', '', '\n\nUs']);
    assert.equal(reply.stopped, false);
  });

  test('a stop string inside one token cuts that token\'s text; the earliest of several stops wins', () => {
    assert.equal(run(['xy', 'zSTOPw'], ['STOP']).text, 'xyz');
    const { text, reply } = run(['one END two STOP'], ['STOP', 'END']);
    assert.equal(text, 'one ');
    assert.equal(reply.stopped, true);
  });

  test('a stop string that appears only as the held text is flushed still ends the reply', () => {
    const { text, reply } = run(['ab', 'STOP'], ['STOP'], { held: 1 });
    assert.equal(text, 'ab');
    assert.equal(reply.stopped, true);
  });
});

describe('logprobs entries', () => {
  test('come with the first text of their token; those of a stop string\'s tokens are dropped', () => {
    const { pieces, entries } = run(['Hel', 'lo\n', '\nUs', 'er:'], ['\n\nUser:'], { logprobs: true });
    assert.deepEqual(pieces.map((piece) => piece.logprobs.map((entry) => entry.token)), [[0], [1], [], [], []]);
    assert.deepEqual(entries, [0, 1]);
  });

  test('of a token whose text is held back come when that text is released', () => {
    const { pieces } = run(['a', '\n', 'b'], ['\n\nX'], { logprobs: true });
    assert.deepEqual(pieces.map((piece) => [piece.content, piece.logprobs.map((entry) => entry.token)]),
                     [['a', [0]], ['', []], ['\nb', [1, 2]], ['', []]]);
  });

  test('of tokens that decoded to no text at the very end still come with the reply\'s end', () => {
    const { pieces, entries, text } = run(['a', ''], [], { logprobs: true });
    assert.equal(text, 'a');
    assert.deepEqual(pieces.at(-1).logprobs.map((entry) => entry.token), [1]);
    assert.deepEqual(entries, [0, 1]);
  });

  test('are not asked for: none are released', () => {
    assert.deepEqual(run(['a', 'b'], ['b']).entries, []);
  });
});

describe('thinking', () => {
  const TAGS = { open: '<think>', close: '</think>' };
  // Feeds `tokens` (texts) and returns the parts, each as its pieces joined, and the reply.
  function think(tokens, { opened = false, stops = [], logprobs = false } = {}) {
    const reply = new ReplyText(decoderOf(tokens), stops, { thinking: { ...TAGS, opened } });
    const pieces = [];
    for (const [token] of tokens.entries()) {
      pieces.push(reply.push(token, logprobs ? { token } : null));
      if (reply.stopped) break;
    }
    pieces.push(reply.finish());
    const join = (part) => pieces.map((piece) => piece[part]).join('');
    const ids = (part) => pieces.flatMap((piece) => piece[part].map((entry) => entry.token));
    return { reply, pieces, reasoning: join('reasoning'), content: join('content'),
             reasoningEntries: ids('reasoningLogprobs'), contentEntries: ids('logprobs') };
  }
  // Every way to cut `text` into two and into three tokens, and one token per character.
  function* cuts(text) {
    yield [...text];
    for (let i = 0; i <= text.length; i += 1) {
      for (let j = i; j <= text.length; j += 1) yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
    }
  }

  test('a leading block goes to the reasoning, the rest to the content, wherever the tokens cut the tags', () => {
    const text = '<think>\nThe capital: Paris.\n\n</think>\n\nParis.';
    for (const tokens of cuts(text)) {
      const { reasoning, content } = think(tokens);
      assert.deepEqual([reasoning, content], ['The capital: Paris.', 'Paris.'], JSON.stringify(tokens));
    }
  });

  test('text that may begin the closing tag, and whitespace before it, is held back until it is not', () => {
    const { pieces } = think(['<think>', '\nA', ' </', 'b>', 'C</think>', 'D']);
    assert.deepEqual(pieces.map(({ reasoning, content }) => [reasoning, content]),
                     [['', ''], ['A', ''], ['', ''], [' </b>', ''], ['C', ''], ['', 'D'], ['', '']]);
  });

  test('a prompt that opened the block: the reply starts as reasoning', () => {
    for (const tokens of cuts('Hmm.\n</think>\n\nParis.')) {
      const { reasoning, content } = think(tokens, { opened: true });
      assert.deepEqual([reasoning, content], ['Hmm.', 'Paris.'], JSON.stringify(tokens));
    }
  });

  test('a block never closed (max_tokens while thinking) is all reasoning; the content stays empty', () => {
    for (const tokens of cuts('<think>\nStill thinking\n</thi')) {
      const { reasoning, content, reply } = think(tokens);
      assert.deepEqual([reasoning, content], ['Still thinking\n</thi', ''], JSON.stringify(tokens));
      assert.equal(reply.reasoningTokens, tokens.length);
    }
  });

  test('a reply that does not open a block is all content, its whitespace and a later tag kept', () => {
    for (const text of ['Paris.', '\n Paris <think>x</think>', '<thin', '<b>bold</b>', '']) {
      for (const tokens of cuts(text)) {
        const { reasoning, content, reply } = think(tokens);
        assert.deepEqual([reasoning, content], ['', text], JSON.stringify(tokens));
        assert.equal(reply.reasoningTokens, 0);
      }
    }
  });

  test('an empty block (Qwen3 not thinking) gives no reasoning', () => {
    const { reasoning, content } = think(['<think>', '\n\n', '</think>', '\n\n', 'Hi']);
    assert.deepEqual([reasoning, content], ['', 'Hi']);
  });

  test('stop strings end the content only', () => {
    const { reasoning, content, reply } = think(['<think>', 'User: said STOP', '</think>', 'Yes', 'STOP', 'no'],
                                                { stops: ['STOP'] });
    assert.deepEqual([reasoning, content], ['User: said STOP', 'Yes']);
    assert.equal(reply.stopped, true);
  });

  test('logprobs entries go with their part; the tags\' and edge whitespace\'s tokens have none', () => {
    const tokens = ['<think>', '\n', 'Hmm', '\n\n', 'ok', '\n', '</think>', '\n\n', 'Par', 'is'];
    const { reasoning, content, reasoningEntries, contentEntries, reply } = think(tokens, { logprobs: true });
    assert.deepEqual([reasoning, content], ['Hmm\n\nok', 'Paris']);
    assert.deepEqual(reasoningEntries, [2, 3, 4]);
    assert.deepEqual(contentEntries, [8, 9]);
    assert.equal(reply.reasoningTokens, 7, 'the tokens up to and including the closing tag');
  });

  test('a token holding the end of the reasoning and the start of the content comes with the reasoning', () => {
    const { reasoning, content, reasoningEntries, contentEntries } = think(['<think>', 'a</think>\n\nb', 'c'],
                                                                           { logprobs: true });
    assert.deepEqual([reasoning, content], ['a', 'bc']);
    assert.deepEqual([reasoningEntries, contentEntries], [[1], [2]]);
  });
});
