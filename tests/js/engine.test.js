// The in-thread engine (runtime/engine.js) end to end: real models on Dawn, real tokenizer.
//
//   .venv/bin/python tests/js/fixtures/make_model_fixtures.py      (once: builds build/js-fixtures)
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     node --test tests/js/engine.test.js
//
// SmolLM2 checks real answers against the numpy reference; the tiny random Llama, fast even on
// SwiftShader, carries the mechanics (streaming, stops, seeds, interrupts, cache reuse). Replies
// stay a few tokens long: SwiftShader runs the GPU on the CPU.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { ChatTemplate } from '../../runtime/chat_template.js';
import { loadBackend } from '../../runtime/backend.js';
import { CreateEngine, Engine } from '../../runtime/engine.js';
import { ModelFiles } from '../../runtime/model_cache.js';
import { createRandom } from '../../runtime/random.js';
import { Tokenizer } from '../../runtime/tokenizer.js';
import { FIXTURES, ask, collect, contentOf, expectedOf, greedy, manifestOf } from './helpers/chat.js';

describe('seeded random numbers', () => {
  test('repeat for a seed, differ between seeds, lie in [0, 1)', () => {
    const draw = (seed) => Array.from({ length: 1000 }, createRandom(seed));
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
    assert.notDeepEqual(draw(1), draw(1 + 2 ** 32)); // the high half of a seed counts too
    for (const value of [...draw(0), ...draw(-5), ...draw(Number.MAX_SAFE_INTEGER)]) assert.ok(value >= 0 && value < 1);
    const mean = draw(7).reduce((sum, value) => sum + value, 0) / 1000;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });
});

describe('SmolLM2-135M-Instruct', () => {
  const expected = expectedOf('smollm2');
  const question = ask(expected.prompt);
  let engine;
  const reports = [];

  before(async () => {
    engine = await CreateEngine(manifestOf('smollm2'), { maxContext: 64, initProgressCallback: (r) => reports.push(r) });
  });
  after(() => engine?.unload());

  test('reports loading progress up to 1', () => {
    assert.ok(reports.length >= 3);
    for (const [earlier, later] of reports.slice(1).map((report, i) => [reports[i], report])) {
      assert.ok(later.progress >= earlier.progress, `${later.progress} after ${earlier.progress}`);
    }
    const last = reports.at(-1);
    assert.equal(last.progress, 1);
    assert.equal(reports.filter((report) => report.progress === 1).length, 1, 'progress 1 means ready');
    assert.equal(last.stage, 'ready');
    assert.match(last.text, /^Ready/);
    for (const report of reports) assert.equal(typeof report.text, 'string');
  });

  test('answers greedily like the reference: the capital of France is Paris', async () => {
    // "The capital of France is Paris": six tokens, each seconds long on SwiftShader.
    const reply = await engine.chat.completions.create(greedy(question, { max_tokens: 6 }));
    const answer = reply.choices[0].message.content;
    assert.match(answer, /Paris/);
    assert.ok(expected.greedy_text.startsWith(answer), `${JSON.stringify(answer)} vs ${JSON.stringify(expected.greedy_text)}`);
    assert.equal(reply.object, 'chat.completion');
    assert.equal(reply.model, 'smollm2-135m');
    assert.match(reply.id, /^chatcmpl-/);
    assert.ok(Number.isInteger(reply.created));
    assert.equal(reply.choices[0].message.role, 'assistant');
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.choices[0].logprobs, null);
    const { usage } = reply;
    assert.equal(usage.prompt_tokens, expected.prompt_ids.length);
    assert.equal(usage.completion_tokens, 6);
    assert.equal(usage.total_tokens, usage.prompt_tokens + 6);
    for (const key of ['prefill_tokens_per_s', 'decode_tokens_per_s', 'time_to_first_token_s']) {
      assert.ok(usage.extra[key] > 0, `${key}: ${usage.extra[key]}`);
    }
    // 'auto', the default, takes the GPU where an adapter exists (here Dawn's)
    assert.equal(engine.backend, 'webgpu');
    assert.equal(usage.extra.backend, 'webgpu');
    assert.equal('threads' in usage.extra, false);
  });
});

describe('the engine on the CPU backend (backend: "wasm")', () => {
  test('tiny Llama answers with the reference text; engine and usage name the backend', async () => {
    const expected = expectedOf('tiny-llama');
    const engine = await CreateEngine(manifestOf('tiny-llama'), { backend: 'wasm', maxContext: 128 });
    try {
      assert.equal(engine.backend, 'wasm');
      const reply = await engine.chat.completions.create(greedy(ask(expected.prompt), { max_tokens: expected.greedy_ids.length }));
      assert.equal(reply.choices[0].message.content, expected.greedy_text);
      assert.equal(reply.usage.extra.backend, 'wasm');
      assert.equal(reply.usage.extra.threads, 1);  // Node: the caller chooses threads; CreateEngine takes the default
    } finally {
      await engine.unload();
    }
  });

  test('an unknown backend is a RangeError naming the choices', async () => {
    await assert.rejects(CreateEngine(manifestOf('tiny-llama'), { backend: 'cpu' }),
                         (error) => error instanceof RangeError && /"cpu" does not exist: one of webgpu, wasm, or auto/.test(error.message));
  });
});

describe('completions (tiny Llama)', () => {
  const PROMPT = 'Hello there';
  let engine;
  let tokenizer;
  const complete = (request) => engine.completions.create({ prompt: PROMPT, temperature: 0, max_tokens: 6, ...request });

  before(async () => {
    engine = await CreateEngine(manifestOf('tiny-llama'), { maxContext: 128 });
    const manifest = JSON.parse(readFileSync(new URL(manifestOf('tiny-llama'))));
    tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(new URL(manifest.tokenizer.file, manifestOf('tiny-llama')))));
  });
  after(() => engine?.unload());

  test('the prompt gets the BOS rule, special-token text stays text; the cache serves a repeat', async () => {
    const reply = await complete({});
    assert.equal(reply.usage.prompt_tokens, 1 + tokenizer.encode(PROMPT).length, 'BOS (add_bos_token true) + the text');
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.completion_tokens, 6);
    const again = await complete({});
    assert.equal(again.choices[0].text, reply.choices[0].text);
    assert.equal(again.usage.prompt_tokens_details.cached_tokens, reply.usage.prompt_tokens - 1);
    const marked = await complete({ prompt: `${PROMPT}<|eot_id|>`, max_tokens: 1 });
    assert.equal(marked.usage.prompt_tokens, 1 + tokenizer.encode(`${PROMPT}<|eot_id|>`, { splitSpecialTokens: true }).length);
    assert.ok(marked.usage.prompt_tokens > reply.usage.prompt_tokens + 1, 'the marker is text, not one control token');
  });

  test('streamed chunks concatenate to the whole text; usage last', async () => {
    const whole = await complete({});
    const chunks = await collect(await complete({ stream: true, stream_options: { include_usage: true } }));
    assert.ok(chunks.every((chunk) => chunk.object === 'text_completion' && chunk.id === chunks[0].id));
    assert.equal(chunks.map((chunk) => chunk.choices[0]?.text ?? '').join(''), whole.choices[0].text);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    assert.equal(chunks.at(-1).usage.completion_tokens, 6);
  });

  test('logprobs in the legacy shape; echo; max_tokens defaults to 16', async () => {
    const reply = await complete({ logprobs: 2, max_tokens: 3 });
    const { tokens, token_logprobs: logprobs, top_logprobs: tops, text_offset: offsets } = reply.choices[0].logprobs;
    assert.equal(tokens.length, 3);
    assert.equal(tokens.join(''), reply.choices[0].text);
    assert.ok(logprobs.every((logprob) => logprob <= 0));
    assert.ok(tops.every((top) => Object.keys(top).length >= 1 && Object.keys(top).length <= 2));
    assert.equal(offsets[0], 0);
    const echoed = await complete({ echo: true, max_tokens: 3 });
    assert.equal(echoed.choices[0].text, PROMPT + reply.choices[0].text);
    const byDefault = await complete({ max_tokens: undefined, ignore_eos: true });
    assert.equal(byDefault.usage.completion_tokens, 16);
  });

  test('refusals name the field', async () => {
    for (const [request, field] of [[{ suffix: '!' }, 'suffix'], [{ best_of: 2 }, 'best_of'], [{ n: 2 }, 'n'],
                                    [{ prompt: [1, 2] }, 'prompt'], [{ echo: true, logprobs: 1 }, 'echo'],
                                    [{ messages: [] }, 'messages']]) {
      await assert.rejects(complete(request), { name: 'InvalidRequestError', field });
    }
  });

  test('the default max_tokens (16) stops at the context\'s end; a max_tokens given that it cannot hold is refused', async () => {
    // a prompt that leaves room for 5 tokens: BOS + the text (each "a" word one token here)
    const prompt = ' a'.repeat(122);
    assert.equal(1 + tokenizer.encode(prompt).length, 123);
    const reply = await complete({ prompt, max_tokens: undefined, ignore_eos: true });
    assert.deepEqual([reply.choices[0].finish_reason, reply.usage.completion_tokens], ['length', 5]);
    await assert.rejects(complete({ prompt, max_tokens: 6 }), (error) => {
      assert.deepEqual([error.name, error.field, error.promptTokens, error.maxTokens, error.contextLength],
                       ['ContextWindowExceededError', 'max_tokens', 123, 6, 128]);
      assert.match(error.message, /The prompt is 123 tokens and max_tokens asks for 6 more; this model's context is 128 tokens: lower max_tokens to at most 5/);
      return true;
    });
  });

  test('interruptGenerate ends a waiting completion as an aborted one with no text', async () => {
    const running = await complete({ stream: true, max_tokens: 30, ignore_eos: true });
    const reader = running[Symbol.asyncIterator]();
    await reader.next();
    const waiting = complete({});
    engine.interruptGenerate();
    const reply = await waiting;
    assert.deepEqual([reply.choices[0].text, reply.choices[0].finish_reason], ['', 'abort']);
    await collect(reader);
  });
});

describe('engine mechanics (tiny Llama)', () => {
  const expected = expectedOf('tiny-llama');
  const hello = ask(expected.prompt);
  const CONTEXT = 128;
  let engine;
  const create = (request) => engine.chat.completions.create(request);
  const textOf = async (request) => (await create(request)).choices[0].message.content;

  before(async () => {
    engine = await CreateEngine(manifestOf('tiny-llama'), { maxContext: CONTEXT });
  });
  after(() => engine?.unload());

  test('greedy decoding gives the reference text', async () => {
    const reply = await create(greedy(hello, { max_tokens: expected.greedy_ids.length }));
    assert.equal(reply.choices[0].message.content, expected.greedy_text);
    assert.equal(reply.usage.prompt_tokens, expected.prompt_ids.length);
  });

  test('streams the same text in chunks, usage last, reusing the cached prompt', async () => {
    const request = greedy(hello, { max_tokens: 8 });
    const plain = await create(request);
    const chunks = await collect(await create({ ...request, stream: true, stream_options: { include_usage: true } }));
    assert.equal(contentOf(chunks), plain.choices[0].message.content);
    assert.ok(chunks.length >= 4);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.id, chunks[0].id);
      assert.equal(chunk.model, 'tiny-llama');
    }
    assert.notEqual(chunks[0].id, plain.id);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const [finish, usage] = chunks.slice(-2);
    assert.equal(finish.choices[0].finish_reason, 'length');
    assert.deepEqual(usage.choices, []);
    assert.equal(usage.usage.completion_tokens, 8);
    // The same prompt again: all of it is in the KV cache but its last token, which must run
    // again for the logits of the reply's first token.
    assert.equal(usage.usage.extra.prefill_tokens, 1);
    assert.equal(usage.usage.prompt_tokens_details.cached_tokens, expected.prompt_ids.length - 1);
    for (const chunk of chunks.slice(0, -1)) assert.equal(chunk.usage, undefined);
  });

  test('the same seed gives the same tokens; the manifest defaults (temperature 0.6) apply', async () => {
    const sampled = (seed) => textOf({ messages: hello, seed, max_tokens: 10, temperature: 1.5 });
    const first = await sampled(7);
    assert.equal(await sampled(7), first);
    assert.notEqual(await sampled(8), first);
    const withDefaults = await textOf({ messages: hello, seed: 3, max_tokens: 10 });
    assert.equal(await textOf({ messages: hello, seed: 3, max_tokens: 10, temperature: 0.6, top_p: 0.9 }), withDefaults);
  });

  test('max_tokens ends the reply with finish_reason "length"', async () => {
    const reply = await create(greedy(hello, { max_tokens: 3 }));
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.completion_tokens, 3);
  });

  test('a stop string spanning tokens ends the reply before it, streamed or not', async () => {
    // Without stops, each chunk of a stream is the text of one token.
    const pieces = (await collect(await create(greedy(hello, { max_tokens: 12, stream: true }))))
      .map((chunk) => chunk.choices[0].delta.content).filter(Boolean);
    const text = pieces.join('');
    const boundary = pieces.slice(0, 3).join('').length;
    const stop = text.slice(boundary - 1, boundary + 1); // the last character of one token, the first of the next
    const before = text.slice(0, text.indexOf(stop));
    const stopped = await create(greedy(hello, { max_tokens: 12, stop: ['never appears', stop] }));
    assert.equal(stopped.choices[0].message.content, before);
    assert.equal(stopped.choices[0].finish_reason, 'stop');
    assert.ok(stopped.usage.completion_tokens < 12);
    const chunks = await collect(await create(greedy(hello, { max_tokens: 12, stop, stream: true })));
    assert.equal(contentOf(chunks), before);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  });

  test('a stop token ends the reply unless ignore_eos', async () => {
    const manifest = JSON.parse(readFileSync(new URL(expected.manifest, FIXTURES), 'utf8'));
    const eos = { [manifest.stop_token_ids[0]]: 100 }; // the model's stop token, made the certain choice
    const stopped = await create(greedy(hello, { max_tokens: 5, logit_bias: eos }));
    assert.equal(stopped.choices[0].message.content, '');
    assert.equal(stopped.choices[0].finish_reason, 'stop');
    assert.equal(stopped.usage.completion_tokens, 1);
    const ignored = await create(greedy(hello, { max_tokens: 3, logit_bias: eos, ignore_eos: true }));
    assert.equal(ignored.choices[0].finish_reason, 'length');
    assert.equal(ignored.usage.completion_tokens, 3);
  });

  test('logprobs come in OpenAI\'s shape, and the greedy token is the most likely', async () => {
    const reply = await create(greedy(hello, { max_tokens: 4, logprobs: true, top_logprobs: 3 }));
    const entries = reply.choices[0].logprobs.content;
    assert.equal(entries.length, 4);
    for (const entry of entries) {
      assert.deepEqual(Object.keys(entry).sort(), ['bytes', 'logprob', 'token', 'top_logprobs']);
      assert.equal(typeof entry.token, 'string');
      // The token's own bytes: its text's, unless it holds part of a character (then U+FFFD's would be wrong).
      if (!entry.token.includes('\uFFFD')) assert.deepEqual(entry.bytes, [...new TextEncoder().encode(entry.token)]);
      assert.ok(entry.logprob <= 0);
      assert.equal(entry.top_logprobs.length, 3);
      assert.equal(entry.top_logprobs[0].token, entry.token);
      assert.ok(Math.abs(entry.top_logprobs[0].logprob - entry.logprob) < 1e-4);
      assert.ok(entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob);
    }
  });

  test('interruptGenerate ends a stream with "abort"; the next request works', async () => {
    const stream = await create(greedy(hello, { max_tokens: 40, stream: true }));
    const chunks = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (chunks.length === 2) engine.interruptGenerate();
    }
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'abort');
    assert.ok(chunks.length < 10, `${chunks.length} chunks`);
    const next = await create(greedy(hello, { max_tokens: 2 }));
    assert.equal(next.choices[0].finish_reason, 'length');
  });

  test('interruptGenerate also ends the requests waiting for their turn, at once, as replies with no content', async () => {
    const running = await create(greedy(hello, { max_tokens: 60, ignore_eos: true, stream: true }));
    const reader = running[Symbol.asyncIterator]();
    await reader.next(); // the stream now holds the engine
    const waiting = create(greedy(hello, { max_tokens: 2 }));
    // A stream created before the call but first read after it is stopped too.
    const unread = await create(greedy(hello, { max_tokens: 2, stream: true, stream_options: { include_usage: true } }));
    engine.interruptGenerate();
    const reply = await waiting; // without the running stream having been read on
    assert.equal(reply.choices[0].finish_reason, 'abort');
    assert.equal(reply.choices[0].message.content, '');
    assert.equal(reply.usage.completion_tokens, 0);
    assert.equal(reply.usage.prompt_tokens, expected.prompt_ids.length);
    assert.deepEqual([reply.usage.extra.prefill_tokens, reply.usage.extra.time_to_first_token_s], [0, null]);
    const [finish, usage] = await collect(unread);
    assert.deepEqual(finish.choices, [{ index: 0, delta: { role: 'assistant' }, logprobs: null, finish_reason: 'abort' }]);
    assert.equal(usage.usage.completion_tokens, 0);
    const rest = await collect(reader);
    assert.equal(rest.at(-1).choices[0].finish_reason, 'abort');
    assert.ok(rest.length < 10, `${rest.length} chunks after the interrupt`);
    const next = await create(greedy(hello, { max_tokens: 2 })); // created after the call: runs
    assert.equal(next.choices[0].finish_reason, 'length');
  });

  test('a stream the consumer leaves early frees the engine', async () => {
    const stream = await create(greedy(hello, { max_tokens: 40, stream: true }));
    const reader = stream[Symbol.asyncIterator]();
    await reader.next();
    await reader.return(); // what `break` in a for-await loop does
    assert.equal((await create(greedy(hello, { max_tokens: 2 }))).usage.completion_tokens, 2);
  });

  test('a follow-up turn prefills only the new tokens and answers as from scratch', async () => {
    const first = await create(greedy(hello, { max_tokens: 6 }));
    const conversation = [...hello, first.choices[0].message, ...ask('And then?')];
    const followUp = await create(greedy(conversation, { max_tokens: 6 }));
    const { prompt_tokens: promptTokens, extra } = followUp.usage;
    assert.ok(extra.prefill_tokens <= promptTokens - first.usage.prompt_tokens,
              `${extra.prefill_tokens} of ${promptTokens} prefilled after a ${first.usage.prompt_tokens}-token turn`);
    await engine.resetChat();
    const fresh = await create(greedy(conversation, { max_tokens: 6 }));
    assert.equal(fresh.usage.extra.prefill_tokens, promptTokens);
    assert.equal(fresh.choices[0].message.content, followUp.choices[0].message.content);
  });

  test('concurrent requests take turns', async () => {
    const requests = [greedy(hello, { max_tokens: 4 }), greedy(ask('Who are you?'), { max_tokens: 4 })];
    const together = await Promise.all(requests.map(create));
    for (const [i, request] of requests.entries()) {
      assert.equal(together[i].choices[0].message.content, await textOf(request));
    }
  });

  test('a prompt that leaves no room for a reply is a ContextWindowExceededError', async () => {
    // turns that fit one by one, not together: the conversation is what is too long
    const turn = 'Hello there '.repeat(5);
    const conversation = [1, 2, 3].flatMap(() => [...ask(turn), { role: 'assistant', content: turn }]).slice(0, -1);
    await assert.rejects(create(greedy(conversation)), (error) => {
      assert.equal(error.name, 'ContextWindowExceededError');
      assert.equal(error.contextLength, CONTEXT);
      assert.ok(error.promptTokens > CONTEXT);
      assert.equal(error.messageTokens, undefined, 'its last message alone fits');
      assert.match(error.message, new RegExp(`The prompt is ${error.promptTokens} tokens.*${CONTEXT}`));
      return true;
    });
    // one message that alone does not fit: the error says so, and how long it is
    await assert.rejects(create(greedy([...hello, { role: 'assistant', content: 'Hi.' }, ...ask('Hello there '.repeat(100))])),
      (error) => {
        assert.ok(error.messageTokens > CONTEXT && error.promptTokens > error.messageTokens, JSON.stringify(error));
        assert.match(error.message, new RegExp(`The last message alone is ${error.messageTokens} tokens.*${CONTEXT} tokens\\. Shorten that message`));
        return true;
      });
  });

  test('max_tokens null runs to the end of the context window', async () => {
    const reply = await create(greedy(hello, { ignore_eos: true }));
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.total_tokens, CONTEXT);
  });

  test('a max_tokens the context cannot hold beside the prompt is refused, as OpenAI refuses it; one that fits runs', async () => {
    const room = CONTEXT - expected.prompt_ids.length;
    for (const field of ['max_tokens', 'max_completion_tokens']) {
      await assert.rejects(create(greedy(hello, { [field]: room + 1 })), (error) => {
        assert.deepEqual([error.name, error.field, error.maxTokens], ['ContextWindowExceededError', field, room + 1]);
        assert.match(error.message, new RegExp(`${field} asks for ${room + 1} more.*lower ${field} to at most ${room}\\b`));
        return true;
      });
    }
    const full = await create(greedy(hello, { max_tokens: room, ignore_eos: true }));
    assert.deepEqual([full.choices[0].finish_reason, full.usage.total_tokens], ['length', CONTEXT]);
  });

  test('a grammar that allows no token mid-reply is an InvalidRequestError naming its field; the next request runs', async () => {
    // After "a", x must begin with x: a rule that never reaches text, so no token is left.
    const endless = { type: 'grammar', grammar: 'root ::= "a" x\nx ::= x "b"' };
    await assert.rejects(create(greedy(hello, { max_tokens: 8, response_format: endless })), (error) => {
      assert.deepEqual([error.name, error.field], ['InvalidRequestError', 'response_format']);
      assert.match(error.message, /^response_format allows no next token/);
      return true;
    });
    assert.equal((await create(greedy(hello, { max_tokens: 2 }))).choices[0].finish_reason, 'length');
  });

  test('invalid requests are InvalidRequestErrors naming the field', async () => {
    await assert.rejects(create({ messages: [] }), { name: 'InvalidRequestError', field: 'messages' });
    await assert.rejects(create({ messages: hello, top_k: -1 }), { name: 'InvalidRequestError', field: 'top_k' });
  });

  // Last: these end the engine.
  test('unload aborts the running generation and the waiting ones', async () => {
    const running = await create(greedy(hello, { max_tokens: 60, ignore_eos: true, stream: true }));
    const reader = running[Symbol.asyncIterator]();
    await reader.next(); // the stream now holds the engine
    const waiting = create(greedy(hello, { max_tokens: 2 }));
    const unloading = engine.unload();
    const rest = await collect(reader);
    assert.equal(rest.at(-1).choices[0].finish_reason, 'abort');
    assert.equal((await waiting).choices[0].finish_reason, 'abort');
    await unloading;
  });

  test('after unload every call is a ModelNotLoadedError', async () => {
    await assert.rejects(create(greedy(hello)), { name: 'ModelNotLoadedError' });
    await assert.rejects(engine.resetChat(), { name: 'ModelNotLoadedError' });
    await engine.unload(); // a second unload is harmless
  });
});

// An Engine over the WebGPU model of fixture `name`, and that model (for the run-ahead tests to hide
// its members).
async function engineAndModel(name, maxContext) {
  const files = new ModelFiles(manifestOf(name));
  const manifest = await files.manifest();
  const model = await loadBackend(manifest, { backend: 'webgpu', maxContext, readShard: (shard, onBytes) => files.shard(shard, onBytes) });
  const tokenizer = Tokenizer.fromJSON(await files.tokenizer(manifest));
  return { engine: new Engine(model, tokenizer, new ChatTemplate(manifest.chat_template, tokenizer)), model };
}

// `choices` without their tool calls' ids, which are random.
const withoutIds = (choices) => JSON.parse(JSON.stringify(choices, (key, value) => (key === 'id' ? undefined : value)));

// create(request) twice (the second after the first reply's cache) with the model's `member`
// (stepAhead or forwardAhead), then without it (an own property hides the method), as the WASM
// backend runs: the same replies, and a cache holding the prompt and every reply token but the
// last (which no step ran: a step run ahead past it was discarded). Returns the first reply.
async function bothWays(engine, model, member, request) {
  assert.equal(typeof model[member], 'function');
  const replies = [];
  for (const hidden of [false, true]) {
    if (hidden) model[member] = undefined;
    try {
      await engine.resetChat();
      const runs = [];
      for (let i = 0; i < 2; i++) {
        const { choices, usage } = await engine.chat.completions.create(request);
        assert.equal(model.length, usage.prompt_tokens + usage.completion_tokens - 1, 'cached: the prompt and the reply but its last token');
        runs.push({ choices: withoutIds(choices), tokens: usage.completion_tokens });
      }
      replies.push(runs);
    } finally {
      delete model[member];
    }
  }
  assert.deepEqual(replies[0], replies[1]);
  return replies[0][0];
}

// Streams `request` with the model's room cut to what its cache holds at the first chunk, so that
// queueing the next step ahead throws (backend.js: ContextWindowExceededError before it runs): the
// request fails with that error, and the next one runs as it ran before, no draw of the failed one
// left in flight, no step it used undone.
async function failQueueingAhead(engine, model, request) {
  const plain = await engine.chat.completions.create(request);
  const { contextLength } = model;
  const reader = (await engine.chat.completions.create({ ...request, stream: true }))[Symbol.asyncIterator]();
  let cut;
  try {
    await reader.next();
    cut = model.length;
    model.contextLength = cut;
    await assert.rejects(collect(reader), { name: 'ContextWindowExceededError' });
  } finally {
    model.contextLength = contextLength;
  }
  assert.equal(model.length, cut, 'every step it ran was used: none undone');
  model.resetPenalties([]); // throws while a draw of the failed request is still being read back
  const next = await engine.chat.completions.create(request);
  assert.deepEqual(next.choices, plain.choices);
  assert.equal(model.length, next.usage.prompt_tokens + next.usage.completion_tokens - 1);
}

// The decode loop queues each step before reading the token it follows (backend.js stepAhead);
// replies must be those of the plain loop (the same model without stepAhead, as the WASM backend is).
describe('run ahead (tiny Llama)', () => {
  const expected = expectedOf('tiny-llama');
  const hello = ask(expected.prompt);
  let engine;
  let model;

  before(async () => {
    ({ engine, model } = await engineAndModel('tiny-llama', 128));
  });
  after(() => engine?.unload());

  const bothWaysAhead = (request) => bothWays(engine, model, 'stepAhead', request);

  test('greedy, seeded sampling with penalties and logprobs, max_tokens: the same replies', async () => {
    const greedyReply = await bothWaysAhead(greedy(hello, { max_tokens: 8 }));
    assert.equal(greedyReply.choices[0].message.content, expected.greedy_text.slice(0, greedyReply.choices[0].message.content.length));
    assert.equal(greedyReply.choices[0].finish_reason, 'length');
    const sampled = await bothWaysAhead({ messages: hello, seed: 7, max_tokens: 10, temperature: 1.5, top_p: 0.95, top_k: 50,
                                          frequency_penalty: 1, presence_penalty: 0.5, logprobs: true, top_logprobs: 2 });
    assert.equal(sampled.choices[0].logprobs.content.length, 10);
    await bothWaysAhead({ messages: hello, seed: 9, max_tokens: 1, temperature: 1 });
  });

  test('a stop token or a stop string ends the reply alike; the step run past it leaves no trace', async () => {
    const manifest = model.manifest;
    const eos = { [manifest.stop_token_ids[0]]: 100 };
    const stopped = await bothWaysAhead(greedy(hello, { max_tokens: 5, logit_bias: eos }));
    assert.deepEqual([stopped.choices[0].finish_reason, stopped.tokens], ['stop', 1]);
    const text = (await engine.chat.completions.create(greedy(hello, { max_tokens: 8 }))).choices[0].message.content;
    const cut = await bothWaysAhead(greedy(hello, { max_tokens: 8, stop: [text.slice(4, 6)] }));
    assert.equal(cut.choices[0].finish_reason, 'stop');
    // a seeded sampled reply with a frequency penalty after each: the discarded step's token is not counted
    await bothWaysAhead({ messages: hello, seed: 5, max_tokens: 6, temperature: 1.2, frequency_penalty: 2 });
    await engine.chat.completions.create(greedy(hello, { max_tokens: 3, logit_bias: eos }));
    assert.equal(model.length, expected.prompt_ids.length, 'the cache holds the prompt alone');
  });

  test('a step that cannot be queued ahead fails the request; the next reply is unchanged', async () => {
    await failQueueingAhead(engine, model, { messages: hello, seed: 4, max_tokens: 12, temperature: 1, frequency_penalty: 2 });
  });

  test('an interrupted stream ends with "abort"; the next reply is unchanged', async () => {
    const plain = await engine.chat.completions.create(greedy(hello, { max_tokens: 6 }));
    const stream = await engine.chat.completions.create(greedy(hello, { max_tokens: 40, stream: true }));
    const chunks = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      if (chunks.length === 2) engine.interruptGenerate();
    }
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'abort');
    const next = await engine.chat.completions.create(greedy(hello, { max_tokens: 6 }));
    assert.deepEqual(next.choices, plain.choices);
  });
});

// Under a grammar the decode loop queues each step's forward pass before reading the token it
// follows (backend.js forwardAhead) and samples once the token's mask is known: the replies must be
// those of the plain loop (the model without forwardAhead).
describe('run ahead under a grammar (tiny Llama with tools)', () => {
  const ASK = [{ role: 'user', content: 'What time is it in Paris?' }];
  // enums and booleans only, so that a random model's reply ends within a few dozen tokens
  const FORM = { type: 'json_schema', json_schema: { name: 'form', strict: true, schema: { type: 'object',
    properties: { zone: { type: 'string', enum: ['UTC', 'CET'] }, dst: { type: 'boolean' } },
    required: ['zone', 'dst'], additionalProperties: false } } };
  const TIME = { type: 'function', function: { name: 'get_time', parameters: FORM.json_schema.schema } };
  let engine;
  let model;

  before(async () => {
    ({ engine, model } = await engineAndModel('tiny-llama-tools', 1024));  // the tool prompt: 761 tokens
  });
  after(() => engine?.unload());

  const bothWaysAhead = (request) => bothWays(engine, model, 'forwardAhead', request);

  test('json_schema, greedy and seeded with penalties and logprobs: the same replies, ended by the grammar or max_tokens', async () => {
    const greedyReply = await bothWaysAhead(greedy(ASK, { max_tokens: 60, response_format: FORM }));
    assert.equal(greedyReply.choices[0].finish_reason, 'stop');
    assert.deepEqual(Object.keys(JSON.parse(greedyReply.choices[0].message.content)), ['zone', 'dst']);
    for (const seed of [1, 2]) {
      const sampled = await bothWaysAhead({ messages: ASK, seed, max_tokens: 60, temperature: 1.2, frequency_penalty: 1,
                                            logprobs: true, top_logprobs: 2, response_format: FORM });
      assert.equal(sampled.choices[0].finish_reason, 'stop');
      JSON.parse(sampled.choices[0].message.content);
    }
    const cut = await bothWaysAhead(greedy(ASK, { max_tokens: 3, response_format: FORM }));
    assert.deepEqual([cut.choices[0].finish_reason, cut.tokens], ['length', 3]);
  });

  test('a forced tool call: the same call', async () => {
    const reply = await bothWaysAhead({ messages: ASK, tools: [TIME], seed: 3, temperature: 1, max_tokens: 120,
                                        tool_choice: { type: 'function', function: { name: 'get_time' } } });
    assert.equal(reply.choices[0].finish_reason, 'tool_calls', JSON.stringify(reply.choices[0]));
    assert.deepEqual(Object.keys(JSON.parse(reply.choices[0].message.tool_calls[0].function.arguments)), ['zone', 'dst']);
  });

  test('a forward pass that cannot be queued ahead fails the request; the next reply is unchanged', async () => {
    await failQueueingAhead(engine, model, greedy(ASK, { max_tokens: 60, response_format: FORM }));
  });

  test('an interrupted stream ends with "abort", the forward pass run past it undone; the next reply is unchanged', async () => {
    const request = greedy(ASK, { max_tokens: 60, response_format: FORM });
    const plain = await engine.chat.completions.create(request);
    const chunks = [];
    for await (const chunk of await engine.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } })) {
      chunks.push(chunk);
      if (chunks.length === 2) engine.interruptGenerate();
    }
    const { usage } = chunks.at(-1);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'abort');
    assert.equal(model.length, usage.prompt_tokens + usage.completion_tokens - 1);
    const next = await engine.chat.completions.create(request);
    assert.deepEqual(next.choices, plain.choices);
  });
});

describe('request progress (tiny Llama)', () => {
  const expected = expectedOf('tiny-llama');
  const hello = ask(expected.prompt);
  const long = ask('Hello there '.repeat(20)); // 186 tokens: more than one prefill chunk (128)
  let engine;
  const create = (request, options) => engine.chat.completions.create(request, options);
  const recorded = async (request) => {
    const reports = [];
    const reply = await create(request, { onProgress: (report) => reports.push(report) });
    return { reply, reports };
  };

  before(async () => {
    engine = await CreateEngine(manifestOf('tiny-llama'), { maxContext: 256 });
  });
  after(() => engine?.unload());

  test('a long prompt reports prefill per chunk, 0 to the tokens that ran; a follow-up only its new tokens', async () => {
    await engine.resetChat();
    const first = await recorded(greedy(long, { max_tokens: 2 }));
    const total = first.reply.usage.extra.prefill_tokens;
    assert.equal(total, first.reply.usage.prompt_tokens);
    assert.ok(total > 128, `${total} tokens`);
    assert.deepEqual(first.reports, [0, 128, total].map((done) => ({ stage: 'prefill', done, total })));

    const conversation = [...long, first.reply.choices[0].message, ...ask('And then?')];
    const followUp = await recorded(greedy(conversation, { max_tokens: 2 }));
    const newTokens = followUp.reply.usage.extra.prefill_tokens;
    assert.ok(newTokens < 128, `${newTokens} new tokens`);
    assert.deepEqual(followUp.reports, [0, newTokens].map((done) => ({ stage: 'prefill', done, total: newTokens })));
  });

  test('interruptGenerate stops a prompt between slices; the next request reuses the part that ran', async () => {
    await engine.resetChat();
    const reports = [];
    const onProgress = (report) => {
      reports.push(report);
      if (report.done === 128) engine.interruptGenerate(); // the first slice has run
    };
    const stopped = await create(greedy(long, { max_tokens: 2 }), { onProgress });
    const total = stopped.usage.prompt_tokens;
    assert.deepEqual(reports, [0, 128].map((done) => ({ stage: 'prefill', done, total })));
    assert.equal(stopped.choices[0].finish_reason, 'abort');
    assert.equal(stopped.choices[0].message.content, '');
    assert.equal(stopped.usage.completion_tokens, 0);
    assert.equal(stopped.usage.extra.prefill_tokens, 128);
    const again = await create(greedy(long, { max_tokens: 3 }));
    assert.equal(again.usage.prompt_tokens_details.cached_tokens, 128);
    assert.equal(again.usage.extra.prefill_tokens, total - 128);
    await engine.resetChat();
    const fresh = await create(greedy(long, { max_tokens: 3 }));
    assert.equal(fresh.usage.extra.prefill_tokens, total);
    assert.equal(again.choices[0].message.content, fresh.choices[0].message.content);
  });

  test('a stream reports before its first chunk, never after', async () => {
    await engine.resetChat();
    const log = [];
    const stream = await create(greedy(long, { max_tokens: 3, stream: true }), { onProgress: (report) => log.push(report) });
    for await (const chunk of stream) log.push(chunk);
    const firstChunk = log.findIndex((entry) => entry.object === 'chat.completion.chunk');
    assert.deepEqual(log.slice(0, firstChunk).map((report) => report.done), [0, 128, log[0].total]);
    assert.ok(log.slice(firstChunk).every((entry) => entry.object === 'chat.completion.chunk'));
  });

  test('a request behind another generation reports waiting, then its prefill', async () => {
    const running = await create(greedy(hello, { max_tokens: 6, stream: true }));
    const reader = running[Symbol.asyncIterator]();
    await reader.next(); // the stream now holds the engine
    const reports = [];
    const waiting = create(greedy(ask('Who are you?'), { max_tokens: 2 }), { onProgress: (report) => reports.push(report) });
    await new Promise((resolve) => { setImmediate(resolve); });
    assert.deepEqual(reports, [{ stage: 'waiting', ahead: 1, otherTab: false, stopping: 0 }]);
    await collect(reader);
    const reply = await waiting;
    const total = reply.usage.extra.prefill_tokens;
    assert.deepEqual(reports.slice(1), [0, total].map((done) => ({ stage: 'prefill', done, total })));
  });

  test('a callback that throws does not fail the reply: a console warning says so', async (t) => {
    const warn = t.mock.method(console, 'warn', () => {});
    const reply = await create(greedy(hello, { max_tokens: 2 }), { onProgress: () => { throw new Error('page bug'); } });
    assert.equal(reply.usage.completion_tokens, 2);
    assert.ok(warn.mock.callCount() >= 2, 'one warning per report');
    assert.equal(warn.mock.calls[0].arguments[1].message, 'page bug');
  });

  test('onProgress must be a function; without one, the request runs as before', async () => {
    await assert.rejects(create(greedy(hello), { onProgress: 'yes' }), TypeError);
    assert.equal((await create(greedy(hello, { max_tokens: 1 }), {})).usage.completion_tokens, 1);
  });
});

// Thinking (engine.js, reply_text.js): no fixture model can be driven to write <think> tags, so a
// scripted model (the backend.js Model interface, replying with fixed token ids) stands behind a
// real Engine, with a character tokenizer that has Qwen3's tags as added, non-special tokens.
describe('thinking models', () => {
  const CHARS = [...new Set('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,:?!\n')];
  const ADDED = ['<think>', '</think>', '<|im_start|>', '<|im_end|>'].map((content, i) => ({
    id: CHARS.length + i, content, special: content.startsWith('<|'), single_word: false, lstrip: false, rstrip: false,
    normalized: false }));
  const tokenizer = Tokenizer.fromJSON({ model: { type: 'BPE', vocab: Object.fromEntries(CHARS.map((c, i) => [c, i])),
                                                  merges: [] }, added_tokens: ADDED, decoder: { type: 'Fuse' } });
  const EOS = tokenizer.tokenToId('<|im_end|>');
  const QWEN3 = readFileSync(new URL('../data/chat_templates/Qwen3-0.6B.jinja', import.meta.url), 'utf8');
  // A DeepSeek-R1-like template: its generation prompt opens the block.
  const OPENS = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content.split('</think>')[-1] }}<|im_end|>\n"
    + '{% endfor %}<|im_start|>assistant\n<think>\n';

  async function chat(template, replyText, request) {
    const manifest = { model_id: 'scripted', architecture: { vocab_size: tokenizer.vocabSize }, generation: {},
                       stop_token_ids: [EOS], chat_template: { template, special_tokens: {}, chat_control_tokens: [] } };
    const script = [...tokenizer.encode(replyText), EOS];
    let at = 0;
    const next = async () => ({ token: script[at++], logprob: -0.25, topLogprobs: null });
    const model = { manifest, lost: new Promise(() => {}), contextLength: 512, prefillChunk: 128, truncate() {}, async prefill() {},
                    resetPenalties() {}, sample: next, step: next, async destroy() {} };
    const engine = new Engine(model, tokenizer, new ChatTemplate(manifest.chat_template, tokenizer));
    return engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], ...request });
  }

  test('a model without a whole positive prefillChunk is refused at once (its prompt would never end)', () => {
    const manifest = { model_id: 'scripted', architecture: { vocab_size: tokenizer.vocabSize }, generation: {},
                       stop_token_ids: [EOS], chat_template: { template: QWEN3, special_tokens: {}, chat_control_tokens: [] } };
    for (const prefillChunk of [undefined, 0, 1.5]) {
      const model = { manifest, lost: new Promise(() => {}), prefillChunk };
      assert.throws(() => new Engine(model, tokenizer, new ChatTemplate(manifest.chat_template, tokenizer)),
                    { name: 'TypeError', message: new RegExp(`prefillChunk is ${prefillChunk}`) });
    }
  });

  test('Qwen3: the block goes to reasoning_content, its tokens to reasoning_tokens', async () => {
    const reply = await chat(QWEN3, '<think>\nSay hi.\n</think>\n\nHello!', {});
    assert.deepEqual(reply.choices[0].message, { role: 'assistant', content: 'Hello!', refusal: null, reasoning_content: 'Say hi.' });
    assert.equal(reply.usage.completion_tokens, 19 + 1); // the EOS counts
    assert.equal(reply.usage.completion_tokens_details.reasoning_tokens, 11); // <think> \n S a y _ h i . \n </think>
  });

  test('streamed: reasoning_content deltas, then content deltas; stop strings end the content only', async () => {
    const stream = await chat(QWEN3, '<think>\nSo: Hello\n</think>\n\nHello! Bye', { stream: true, stop: ['Bye', 'So'] });
    const deltas = (await collect(stream)).map((chunk) => chunk.choices[0].delta);
    const text = (field) => deltas.map((delta) => delta[field] ?? '').join('');
    assert.deepEqual([text('reasoning_content'), text('content')], ['So: Hello', 'Hello! ']);
    const last = deltas.findLastIndex((delta) => delta.reasoning_content !== undefined);
    assert.ok(last < deltas.findIndex((delta) => delta.content !== undefined));
  });

  test('a prompt that opens the block: the reply starts as reasoning; cut by max_tokens, the content is empty', async () => {
    const reply = await chat(OPENS, 'Thinking about it', { max_tokens: 5 });
    assert.deepEqual(reply.choices[0].message, { role: 'assistant', content: '', refusal: null, reasoning_content: 'Think' });
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.completion_tokens_details.reasoning_tokens, 5);
  });

  test('enable_thinking false: Qwen3\'s prompt closes an empty block; a plain reply is all content', async () => {
    const reply = await chat(QWEN3, 'Hello!', { enable_thinking: false });
    assert.deepEqual(reply.choices[0].message, { role: 'assistant', content: 'Hello!', refusal: null, reasoning_content: null });
    assert.equal(reply.usage.completion_tokens_details.reasoning_tokens, 0);
  });

  test('a template without the tags: no reasoning_content, <think> stays text', async () => {
    const plain = "{% for m in messages %}{{ m.content }}{% endfor %}\n";
    const reply = await chat(plain, '<think>x</think>y', {});
    assert.deepEqual(reply.choices[0].message, { role: 'assistant', content: '<think>x</think>y', refusal: null });
  });
});
