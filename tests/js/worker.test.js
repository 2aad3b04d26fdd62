// The engine behind postMessage: CreateWorkerEngine (runtime/worker_client.js) talking to the
// worker host (runtime/worker.js) in a real node:worker_threads thread, with real models.
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     node --test tests/js/worker.test.js          (fixtures: see engine.test.js)

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { ContextWindowExceededError, InvalidRequestError } from '../../runtime/errors.js';
import { CreateWorkerEngine } from '../../runtime/worker_client.js';
import { FIXTURES, ask, collect, contentOf, expectedOf, greedy, manifestOf } from './helpers/chat.js';

// The worker's script: in a browser runtime/worker.js serves its global scope by itself; a Node
// worker thread hands it parentPort, which already has postMessage and addEventListener.
const HOST_SOURCE = `
  import { parentPort } from 'node:worker_threads';
  import { serveEngine } from ${JSON.stringify(new URL('../../runtime/worker.js', import.meta.url).href)};
  serveEngine(parentPort);
`;

const workers = [];

// A worker thread in the shape of a browser Worker (postMessage, addEventListener with
// MessageEvent-like { data }), as CreateWorkerEngine expects.
function startWorker(source = HOST_SOURCE) {
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`));
  workers.push(worker);
  return {
    postMessage: (message) => worker.postMessage(message),
    addEventListener: (type, listener) => worker.on(type, type === 'message' ? (data) => listener({ data }) : listener),
  };
}

after(() => Promise.all(workers.map((worker) => worker.terminate())));

describe('worker protocol without a model', () => {
  test('requests before a load fail with ModelNotLoadedError; unknown operations fail', async () => {
    const worker = startWorker();
    const replies = new Map();
    const replied = new Promise((resolve) => {
      worker.addEventListener('message', ({ data }) => {
        if (data.id === undefined) return; // the host's own news (the models it holds), no reply
        replies.set(data.id, data);
        if (replies.size === 2) resolve();
      });
    });
    worker.postMessage({ id: 1, op: 'create', request: { messages: ask('Hi') } });
    worker.postMessage({ id: 2, op: 'fly' });
    await replied;
    assert.equal(replies.get(1).type, 'error');
    assert.equal(replies.get(1).error.name, 'ModelNotLoadedError');
    assert.equal(replies.get(2).type, 'error');
    assert.match(replies.get(2).error.message, /Unknown engine host operation "fly"/);
  });

  test('a missing manifest rejects CreateWorkerEngine with the reason', async () => {
    const missing = new URL('no-such-model/manifest.json', FIXTURES).href;
    await assert.rejects(CreateWorkerEngine(startWorker(), missing), /Could not read .*no-such-model/);
  });

  test('a worker that fails to start rejects CreateWorkerEngine instead of hanging', async () => {
    const broken = startWorker('throw new Error("no GPU here");');
    await assert.rejects(CreateWorkerEngine(broken, manifestOf('tiny-llama')), /engine worker failed: no GPU here/);
  });
});

test('the backend option reaches the worker\'s engine: the CPU one answers with the reference text', async () => {
  const expected = expectedOf('tiny-llama');
  const engine = await CreateWorkerEngine(startWorker(), manifestOf('tiny-llama'), { backend: 'wasm', maxContext: 128 });
  assert.equal(engine.backend, 'wasm');
  assert.equal(engine.gpuFailure, null, 'asked for: no GPU failure made it');
  const reply = await engine.chat.completions.create(greedy(ask(expected.prompt), { max_tokens: expected.greedy_ids.length }));
  assert.equal(reply.choices[0].message.content, expected.greedy_text);
  assert.equal(reply.usage.extra.backend, 'wasm');
  await engine.unload();
});

describe('worker engine (tiny Llama)', () => {
  const expected = expectedOf('tiny-llama');
  const hello = ask(expected.prompt);
  let engine;
  const reports = [];

  before(async () => {
    engine = await CreateWorkerEngine(startWorker(), manifestOf('tiny-llama'), { initProgressCallback: (r) => reports.push(r) });
  });

  test('forwards loading progress', () => {
    assert.ok(reports.length >= 2);
    assert.equal(reports.at(-1).progress, 1);
    assert.equal(reports.at(-1).stage, 'ready');
    assert.equal(engine.modelId, 'tiny-llama');
    assert.equal(engine.backend, 'webgpu', 'the worker found its GPU: "auto" took it');
    assert.equal(engine.gpuFailure, null);
  });

  test('answers as the in-thread engine does (the reference text), streamed or not', async () => {
    const request = greedy(hello, { max_tokens: expected.greedy_ids.length });
    const reply = await engine.chat.completions.create(request);
    assert.equal(reply.choices[0].message.content, expected.greedy_text);
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.completion_tokens, expected.greedy_ids.length);
    const chunks = await collect(await engine.chat.completions.create({ ...request, stream: true,
                                                                         stream_options: { include_usage: true } }));
    assert.equal(contentOf(chunks), expected.greedy_text);
    assert.ok(chunks.length > 10, 'chunks are forwarded one by one');
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
    assert.equal(chunks.at(-1).usage.completion_tokens, expected.greedy_ids.length);
  });

  test('progress reports come through the worker, before the first chunk', async () => {
    const log = [];
    const long = ask('Hello there '.repeat(20)); // more than one prefill chunk (128 tokens)
    const request = greedy(long, { max_tokens: 2, stream: true, stream_options: { include_usage: true } });
    const stream = await engine.chat.completions.create(request, { onProgress: (report) => log.push(report) });
    for await (const chunk of stream) log.push(chunk);
    const total = log.at(-1).usage.extra.prefill_tokens;
    assert.ok(total > 128, `${total} tokens`);
    assert.deepEqual(log.slice(0, 3), [0, 128, total].map((done) => ({ stage: 'prefill', done, total })));
    assert.ok(log.slice(3).every((entry) => entry.object === 'chat.completion.chunk'));
  });

  test('errors keep their type, name and fields', async () => {
    await assert.rejects(engine.chat.completions.create({ messages: hello, temperature: 9 }), (error) => {
      assert.ok(error instanceof InvalidRequestError);
      assert.equal(error.name, 'InvalidRequestError');
      assert.equal(error.field, 'temperature');
      return true;
    });
    await assert.rejects(engine.chat.completions.create({ messages: ask('Hello there '.repeat(200)), stream: true }), (error) => {
      assert.ok(error instanceof ContextWindowExceededError);
      assert.equal(error.contextLength, 256);
      assert.ok(error.promptTokens > 256);
      return true;
    });
  });

  test('interruptGenerate reaches the worker; the next request works', async () => {
    const chunks = [];
    // Without the interrupt the reply would run to the end of the context window.
    const request = greedy(hello, { max_tokens: null, ignore_eos: true, stream: true });
    for await (const chunk of await engine.chat.completions.create(request)) {
      chunks.push(chunk);
      if (chunks.length === 2) engine.interruptGenerate();
    }
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'abort');
    const next = await engine.chat.completions.create(greedy(hello, { max_tokens: 2 }));
    assert.equal(next.usage.completion_tokens, 2);
  });

  test('completions run in the worker, streamed or whole', async () => {
    const request = { prompt: 'Hello there', temperature: 0, max_tokens: 3 };
    const reply = await engine.completions.create(request);
    assert.equal(reply.object, 'text_completion');
    assert.equal(reply.usage.completion_tokens, 3);
    const chunks = [];
    for await (const chunk of await engine.completions.create({ ...request, stream: true })) chunks.push(chunk);
    assert.equal(chunks.map((chunk) => chunk.choices[0].text).join(''), reply.choices[0].text);
  });

  test('leaving a stream early frees the worker engine', async () => {
    const stream = await engine.chat.completions.create(greedy(hello, { max_tokens: 40, stream: true }));
    const reader = stream[Symbol.asyncIterator]();
    await reader.next();
    await reader.return();
    assert.deepEqual(await reader.next(), { value: undefined, done: true });
    const next = await engine.chat.completions.create(greedy(hello, { max_tokens: 2 }));
    assert.equal(next.usage.completion_tokens, 2);
  });

  test('resetChat and unload; then ModelNotLoadedError', async () => {
    await engine.resetChat();
    const fresh = await engine.chat.completions.create(greedy(hello, { max_tokens: 1 }));
    assert.equal(fresh.usage.extra.prefill_tokens, fresh.usage.prompt_tokens);
    await engine.unload();
    await assert.rejects(engine.chat.completions.create(greedy(hello)), { name: 'ModelNotLoadedError' });
  });
});
