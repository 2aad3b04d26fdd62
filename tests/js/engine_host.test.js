// The engine host (runtime/engine_host.js) with several clients, as the service worker runs it
// for several tabs: shared and joined loads, queued generations, streams closed by their client or
// by a page that went away; a lost GPU device, end to end; shards from another folder (weightsUrl);
// a GPU that cannot take the model (its device refused, its binding limit too small): the service
// worker's host (no CPU backend) fails the load and its probe says so, a dedicated worker's runs
// it on the CPU and says why.
// Clients are the real worker_client.js Connection over an in-process port, so this runs without
// worker threads.
//
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp \
//     node --test tests/js/engine_host.test.js        (fixtures: see engine.test.js)

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { create, globals } from 'webgpu';

import { CreateEngine } from '../../runtime/engine.js';
import { EngineHost, modelBytes } from '../../runtime/engine_host.js';
import { DeviceLostError } from '../../runtime/errors.js';
import { HOST_EVENT } from '../../runtime/host_protocol.js';
import { readJSON } from '../../runtime/io.js';
import { backendNote } from '../../runtime/ui/backend_note.js';
import { describeProblem } from '../../runtime/ui/problems.js';
import { Connection, connectEngine } from '../../runtime/worker_client.js';
import { ask, collect, contentOf, expectedOf, greedy, manifestOf } from './helpers/chat.js';

Object.assign(globalThis, globals);
const dawn = create([]); // referenced for the whole run, as npm webgpu requires

const expected = expectedOf('tiny-llama');
const MANIFEST = manifestOf('tiny-llama');
const hello = ask(expected.prompt);
const OPTIONS = { maxContext: 128 };

// `target` (a real Dawn object) with the properties of `own` in place of its own; its methods
// stay bound to it, as Dawn requires.
function overriding(target, own) {
  return new Proxy(target, {
    get(object, key) {
      if (Object.hasOwn(own, key)) return own[key];
      const value = Reflect.get(object, key);
      return typeof value === 'function' ? value.bind(object) : value;
    },
  });
}

// Dawn's GPU (a navigator.gpu), its adapters' devices requested through
// `requestDevice(adapter, descriptor)`.
function dawnGpu(requestDevice) {
  return {
    async requestAdapter(options) {
      const adapter = await dawn.requestAdapter(options);
      return overriding(adapter, { requestDevice: (descriptor = {}) => requestDevice(adapter, descriptor) });
    },
  };
}

// Dawn's GPU, recording every device it makes: one device per model load.
function trackedGpu() {
  const devices = [];
  const gpu = dawnGpu(async (adapter, descriptor) => {
    const device = await adapter.requestDevice(descriptor);
    devices.push(device);
    return device;
  });
  return { gpu, devices };
}

// Dawn's GPU whose adapter gives no device, as a browser's may while it gives an adapter: each
// request asks for more than the adapter's maxBufferSize, which Dawn refuses (OperationError).
function refusingGpu() {
  return dawnGpu((adapter, descriptor) => adapter.requestDevice({ ...descriptor,
    requiredLimits: { ...descriptor.requiredLimits, maxBufferSize: adapter.limits.maxBufferSize * 2 } }));
}

// Dawn's GPU whose devices report a maxStorageBufferBindingSize of `bytes`: the runtime sizes its
// buffers and bindings by it (webgpu/weights.js), as on a GPU too small for the model. (No real
// device goes below WebGPU's 128 MiB default, which every test model fits.)
function smallBindingGpu(bytes) {
  return dawnGpu(async (adapter, descriptor) => {
    const device = await adapter.requestDevice(descriptor);
    return overriding(device, { limits: overriding(device.limits, { maxStorageBufferBindingSize: bytes }) });
  });
}

// A client of `host` as a page is of the service worker: a Connection over a port that delivers
// structured clones, asynchronously, both ways. `sent` and `received` log the messages.
function connectClient(host) {
  const listeners = [];
  const sent = [];
  const received = [];
  const connection = host.connect((message) => {
    const data = structuredClone(message);
    received.push(data);
    setImmediate(() => listeners.forEach((listener) => listener({ data })));
  });
  const port = {
    postMessage: (message) => {
      const data = structuredClone(message);
      sent.push(data);
      setImmediate(() => connection.handle(data));
    },
    addEventListener: (type, listener) => type === 'message' && listeners.push(listener),
  };
  return { connection, client: new Connection(port), sent, received };
}

async function load(host, options = OPTIONS, manifest = MANIFEST) {
  const reports = [];
  const { connection, client, sent, received } = connectClient(host);
  const engine = await connectEngine(client, manifest, { ...options, initProgressCallback: (r) => reports.push(r) },
                                     { host: 'test' });
  return { engine, reports, connection, sent, received };
}

const stages = (reports) => [...new Set(reports.map((report) => report.stage))];
const settled = (promise) => Promise.race([promise.then(() => true, () => true), new Promise((r) => setImmediate(r, false))]);

describe('one engine, several connections', () => {
  const WHOLE_CONTEXT = { maxContext: 256 };  // tiny-llama's context_length: its longest streams
  const { gpu, devices } = trackedGpu();
  const host = new EngineHost({ gpu });
  let first;
  let second;

  after(() => first?.engine.unload().catch(() => {}));

  test('loads started together share one load and its progress', async () => {
    [first, second] = await Promise.all([load(host, WHOLE_CONTEXT), load(host, WHOLE_CONTEXT)]);
    assert.equal(devices.length, 1, 'one model on the GPU');
    for (const { engine, reports } of [first, second]) {
      assert.equal(engine.modelId, 'tiny-llama');
      assert.equal(engine.backend, 'webgpu', 'the load result names the backend ("auto" found the GPU)');
      assert.equal(engine.host, 'test');
      assert.deepEqual(stages(reports), ['manifest', 'weights', 'pipelines', 'ready']);
      assert.equal(reports.at(-1).progress, 1);
    }
  });

  test('a later load of the same model returns at once, reporting ready', async () => {
    const third = await load(host, WHOLE_CONTEXT);
    assert.equal(devices.length, 1, 'not loaded again');
    assert.deepEqual(third.reports.map((report) => report.stage), ['ready']);
    assert.equal(third.reports[0].progress, 1);
    const reply = await third.engine.chat.completions.create(greedy(hello, { max_tokens: 3 }));
    assert.ok(expected.greedy_text.startsWith(reply.choices[0].message.content));
  });

  test("generations queue in arrival order; interrupt ends only the caller's own, waiting ones at once", async () => {
    const events = [];
    const stream = await first.engine.chat.completions.create(greedy(hello, { max_tokens: 24, stream: true }));
    const reading = collect(stream).then((chunks) => {
      events.push('first done');
      return chunks;
    });
    const waiting = second.engine.chat.completions.create(greedy(hello, { max_tokens: 2 })).then((reply) => {
      events.push('second done');
      return reply;
    });
    const waitingStream = second.engine.chat.completions.create(
      greedy(hello, { max_tokens: 2, stream: true, stream_options: { include_usage: true } })).then(collect);
    second.engine.interruptGenerate(); // the running generation is the first connection's
    const [reply, streamed] = await Promise.all([waiting, waitingStream]);
    assert.deepEqual(events, ['second done'], "the second connection's requests end before the first's reply");
    assert.equal(reply.choices[0].finish_reason, 'abort');
    assert.equal(reply.choices[0].message.content, '');
    assert.equal(reply.usage.completion_tokens, 0);
    assert.deepEqual(streamed.map((chunk) => chunk.choices[0]?.finish_reason ?? 'usage'), ['abort', 'usage']);
    const chunks = await reading;
    assert.deepEqual(events, ['second done', 'first done']);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
    assert.equal(contentOf(chunks), expected.greedy_text.slice(0, contentOf(chunks).length));
    // The second connection's later requests run.
    assert.equal((await second.engine.chat.completions.create(greedy(hello, { max_tokens: 2 }))).usage.completion_tokens, 2);
  });

  test("completions through the host: the 'completion' op, as in-thread", async () => {
    const request = { prompt: 'Hello there', temperature: 0, max_tokens: 4 };
    const reply = await first.engine.completions.create(request);
    assert.equal(reply.object, 'text_completion');
    assert.equal(first.sent.at(-1).op, 'completion');
    const chunks = await collect(await second.engine.completions.create({ ...request, stream: true }));
    assert.equal(chunks.map((chunk) => chunk.choices[0].text).join(''), reply.choices[0].text);
    await assert.rejects(first.engine.completions.create({ ...request, suffix: '!' }), { name: 'InvalidRequestError', field: 'suffix' });
  });

  test('a queued create hears that it waits, for its own tab or another, then its prefill', async () => {
    const stream = await first.engine.chat.completions.create(
      greedy(hello, { max_tokens: 30, ignore_eos: true, stream: true }));
    const own = [];
    const other = [];
    const ownReply = first.engine.chat.completions.create(greedy(hello, { max_tokens: 2 }),
                                                          { onProgress: (report) => own.push(report) });
    const otherReply = second.engine.chat.completions.create(greedy(ask('Who are you?'), { max_tokens: 2 }),
                                                             { onProgress: (report) => other.push(report) });
    await collect(stream);
    const prefill = ({ usage }) => [0, usage.extra.prefill_tokens]
      .map((done) => ({ stage: 'prefill', done, total: usage.extra.prefill_tokens }));
    // The first connection's queued create waits behind its own stream; the second's behind both,
    // then behind the first connection's queued one.
    assert.deepEqual(own, [{ stage: 'waiting', ahead: 1, otherTab: false, stopping: 0 }, ...prefill(await ownReply)]);
    assert.deepEqual(other, [{ stage: 'waiting', ahead: 2, otherTab: true, stopping: 0 }, { stage: 'waiting', ahead: 1, otherTab: true, stopping: 0 },
                             ...prefill(await otherReply)]);
    // Reports travel only for the creates that asked for them.
    const creates = first.sent.filter((message) => message.op === 'create').slice(-2);
    assert.deepEqual(creates.map((message) => message.progress), [false, true]);
    const reported = (id) => first.received.filter((reply) => reply.id === id && reply.type === 'progress').length;
    assert.deepEqual(creates.map((message) => reported(message.id)), [0, own.length]);
  });

  test("closing one connection's stream frees the engine for the others", async () => {
    const stream = await first.engine.chat.completions.create(
      greedy(hello, { max_tokens: null, ignore_eos: true, stream: true }));
    const waiting = second.engine.chat.completions.create(greedy(hello, { max_tokens: 2 }));
    for await (const chunk of stream) {
      assert.ok(chunk);
      break; // without this the stream would run to the end of the context window
    }
    assert.equal((await waiting).usage.completion_tokens, 2);
  });

  // (the stream runs to the end of the context window unless stopped: the engines of this suite
  // hold the model's whole context, so that it is still running when the connection closes)
  test('a connection that goes away gives up its stream and its queued requests, and hears nothing more', async () => {
    const leaving = await load(host, WHOLE_CONTEXT);  // the model loaded already: a page that connects
    const stream = await leaving.engine.chat.completions.create(
      greedy(hello, { max_tokens: null, ignore_eos: true, stream: true }));
    await stream[Symbol.asyncIterator]().next();
    const queued = leaving.engine.chat.completions.create(greedy(hello, { max_tokens: 2 }));
    const waiting = second.engine.chat.completions.create(greedy(hello, { max_tokens: 2 }));
    await new Promise((resolve) => { setImmediate(resolve); }); // let both requests reach the host
    await leaving.connection.close(); // what the service worker does when the page is gone
    const heard = leaving.received.length;
    assert.equal((await waiting).usage.completion_tokens, 2, 'the stream gave the engine up');
    assert.equal(await settled(queued), false, 'the queued request of the closed connection never ran');
    assert.equal(leaving.received.length, heard, 'nothing was posted to the closed connection');
    const reasons = leaving.received.filter((reply) => reply.type === 'chunk').map((reply) => reply.chunk.choices[0]?.finish_reason);
    assert.ok(reasons.length > 0, 'the stream was heard');
    assert.ok(!reasons.includes('length'), 'the stream was stopped, not run to the end of the context window');
  });

  test('unload from one connection ends the model for all; the next load loads again', async () => {
    await second.engine.unload();
    await assert.rejects(first.engine.chat.completions.create(greedy(hello)), { name: 'ModelNotLoadedError' });
    first = await load(host, WHOLE_CONTEXT);
    assert.equal(devices.length, 2);
  });
});

describe('a lost GPU device', () => {
  test('fails the running stream and every later request with DeviceLostError', async () => {
    const device = await (await dawn.requestAdapter()).requestDevice();
    const engine = await CreateEngine(MANIFEST, { ...OPTIONS, gpu: device });
    const stream = await engine.chat.completions.create(greedy(hello, { max_tokens: null, ignore_eos: true, stream: true }));
    const reader = stream[Symbol.asyncIterator]();
    await reader.next();
    device.destroy();
    await assert.rejects(async () => {
      for (let step = await reader.next(); !step.done; step = await reader.next());
    }, DeviceLostError);
    await assert.rejects(engine.chat.completions.create(greedy(hello, { max_tokens: 1 })), DeviceLostError);
    assert.ok((await engine.lost) instanceof DeviceLostError);
  });

  test('through a host: the client sees DeviceLostError, and the next load loads again', async () => {
    const { gpu, devices } = trackedGpu();
    const host = new EngineHost({ gpu });
    const { engine } = await load(host);
    devices[0].destroy();
    await assert.rejects(engine.chat.completions.create(greedy(hello, { max_tokens: 2 })), (error) => {
      assert.ok(error instanceof DeviceLostError);
      assert.match(error.message, /GPU device was lost/);
      return true;
    });
    const again = await load(host);
    assert.equal(devices.length, 2);
    assert.equal((await again.engine.chat.completions.create(greedy(hello, { max_tokens: 2 }))).usage.completion_tokens, 2);
    await again.engine.unload();
  });
});

describe('weightsUrl: shards from another folder', () => {
  const site = mkdtempSync(join(tmpdir(), 'sitegen-weights-'));
  const modelFolder = dirname(fileURLToPath(MANIFEST));
  for (const file of ['manifest.json', 'tokenizer.json']) copyFileSync(join(modelFolder, file), join(site, file));
  after(() => rmSync(site, { recursive: true }));

  const manifest = join(site, 'manifest.json');

  test('the manifest and tokenizer come from the site, the shards from weightsUrl', async () => {
    await assert.rejects(CreateEngine(manifest, OPTIONS), /shard-00000\.bin: no such file/);
    const engine = await CreateEngine(manifest, { ...OPTIONS, weightsUrl: modelFolder }); // no trailing slash
    const reply = await engine.chat.completions.create(greedy(hello, { max_tokens: expected.greedy_ids.length }));
    assert.equal(reply.choices[0].message.content, expected.greedy_text);
    await engine.unload();
  });

  test('a host passes weightsUrl through', async () => {
    const { gpu } = trackedGpu();
    const { engine } = await load(new EngineHost({ gpu }), { ...OPTIONS, weightsUrl: `${modelFolder}/` }, manifest);
    const reply = await engine.chat.completions.create(greedy(hello, { max_tokens: 2 }));
    assert.equal(reply.usage.completion_tokens, 2);
    await engine.unload();
  });
});

describe('a load with other engine options', () => {
  test('replaces the model for every connection', async () => {
    const { gpu, devices } = trackedGpu();
    const host = new EngineHost({ gpu });
    const first = await load(host, { maxContext: 128 });
    const second = await load(host, { maxContext: 64 });
    assert.equal(devices.length, 2, 'loaded again');
    // The first connection now talks to the model with the smaller window.
    await assert.rejects(first.engine.chat.completions.create(greedy(ask('Hello there '.repeat(50)))),
                         { name: 'ContextWindowExceededError', contextLength: 64 });
    await second.engine.unload();
  });

  test('another backend is another load: the CPU one replaces the GPU one, and says so in its usage', async () => {
    const { gpu, devices } = trackedGpu();
    const host = new EngineHost({ gpu });
    const first = await load(host, OPTIONS);
    const second = await load(host, { ...OPTIONS, backend: 'wasm' });
    assert.deepEqual([first.engine.backend, second.engine.backend], ['webgpu', 'wasm']);
    assert.equal(devices.length, 1, 'the CPU backend asks for no GPU device');
    // The first connection's requests now run on the CPU model too.
    const reply = await first.engine.chat.completions.create(greedy(hello, { max_tokens: 3 }));
    assert.ok(expected.greedy_text.startsWith(reply.choices[0].message.content));
    assert.equal(reply.usage.extra.backend, 'wasm');
    await second.engine.unload();
  });
});

describe('several models in one host', () => {
  const QWEN = manifestOf('tiny-qwen2');
  const sizes = async () => Promise.all([MANIFEST, QWEN].map(async (url) => modelBytes(await readJSON(url), OPTIONS.maxContext)));
  const events = (received) => received.filter((message) => message.type === HOST_EVENT.models);

  test('models that fit the budget stay loaded together: a request for one does not unload the other', async () => {
    const { gpu, devices } = trackedGpu();
    const host = new EngineHost({ gpu, memoryBudget: (await sizes()).reduce((a, b) => a + b) });
    const llama = await load(host);
    const qwen = await load(host, OPTIONS, QWEN);
    assert.equal(devices.length, 2);
    assert.deepEqual(host.models.map((model) => [model.manifestUrl, model.ready]), [[QWEN, true], [MANIFEST, true]]);
    const reply = await llama.engine.chat.completions.create(greedy(hello, { max_tokens: expected.greedy_ids.length }));
    assert.equal(reply.choices[0].message.content, expected.greedy_text, 'the first model still answers, unchanged');
    assert.equal((await qwen.engine.chat.completions.create(greedy(hello, { max_tokens: 2 }))).usage.completion_tokens, 2);
    assert.equal(devices.length, 2, 'nothing was loaded again');
    // Every connection heard each change: a load started, then ready; nothing unloaded.
    const heard = events(llama.received);
    assert.deepEqual(heard.at(-1), { type: HOST_EVENT.models, unloaded: [],
                                     models: [{ manifestUrl: QWEN, ready: true, backend: 'webgpu' },
                                              { manifestUrl: MANIFEST, ready: true, backend: 'webgpu' }] });
    assert.ok(heard.some((event) => event.models.some((model) => model.manifestUrl === QWEN && !model.ready)));
    await host.unload();
    assert.deepEqual(events(qwen.received).at(-1).models, [], 'unload(): every model, and said so');
  });

  test('a model that does not fit unloads the least recently used, says so, and its client learns why', async () => {
    const [llamaBytes, qwenBytes] = await sizes();
    const { gpu, devices } = trackedGpu();
    const host = new EngineHost({ gpu, memoryBudget: Math.max(llamaBytes, qwenBytes) });
    const llama = await load(host);
    const qwen = await load(host, OPTIONS, QWEN);
    assert.deepEqual(host.models.map((model) => model.manifestUrl), [QWEN]);
    assert.ok(events(llama.received).some((event) => event.unloaded.some((entry) => entry.manifestUrl === MANIFEST
                                                                         && entry.for === 'tiny-qwen2')));
    await assert.rejects(llama.engine.chat.completions.create(greedy(hello)), (error) => {
      assert.equal(error.name, 'ModelNotLoadedError');
      assert.equal(error.loaded, 'tiny-qwen2');
      assert.match(error.message, /unloaded to make room for tiny-qwen2/);
      assert.match(describeProblem(error).text, /does not hold both models: yours was unloaded to make room/);
      return true;
    });
    await llama.engine.unload(); // its model is gone already: the other stays
    assert.deepEqual(host.models.map((model) => model.manifestUrl), [QWEN]);
    assert.equal(devices.length, 2);
    await qwen.engine.unload();
  });

  test('a model whose files cannot be fetched: NetworkError, said as offline with a retry', async () => {
    const host = new EngineHost({ gpu: trackedGpu().gpu });
    // Nothing listens on port 9 (discard): fetch() fails as it does offline.
    await assert.rejects(load(host, OPTIONS, 'http://127.0.0.1:9/models/x/manifest.json'), (error) => {
      assert.equal(error.name, 'NetworkError');
      assert.equal(error.url, 'http://127.0.0.1:9/models/x/manifest.json');
      const problem = describeProblem(error);
      assert.match(problem.text, /offline, or the site cannot be reached\. Connect to the network/);
      assert.deepEqual(problem.actions, ['retry']);
      return true;
    });
    assert.deepEqual(host.models, []);
  });
});

describe('a GPU that cannot take the model', () => {
  const QWEN = manifestOf('tiny-qwen2');
  const models = (received) => received.filter((message) => message.type === HOST_EVENT.models).at(-1).models;

  test("the service worker's host (no CPU backend) fails a load whose device is refused, never runs it on the CPU, "
       + 'and its probe says so from then on', async () => {
    const host = new EngineHost({ gpu: refusingGpu(), cpu: false });
    assert.deepEqual(await host.probe(MANIFEST), { webgpu: true, reason: null }, 'an adapter: WebGPU looks usable');
    await assert.rejects(load(host), (error) => {
      assert.equal(error.name, 'WebGPUNotAvailableError');
      assert.match(error.message, /The GPU adapter refused a device/);
      return true;
    });
    assert.deepEqual(host.models, []);
    for (const manifestUrl of [MANIFEST, QWEN, null]) {
      const probe = await host.probe(manifestUrl);
      assert.equal(probe.webgpu, false, 'no model runs on WebGPU here: the pages load them in their own workers');
      assert.match(probe.reason, /refused a device/);
    }
    await assert.rejects(load(host, { ...OPTIONS, backend: 'wasm' }),
                         { name: 'RangeError', message: /runs models on WebGPU only: the CPU backend would hold the thread/ });
  });

  test("a dedicated worker's host runs it on the CPU, and says why", async () => {
    const host = new EngineHost({ gpu: refusingGpu() });
    const { engine, received } = await load(host);
    assert.deepEqual([engine.backend, engine.gpuFailure], ['wasm', 'WebGPUNotAvailableError']);
    assert.deepEqual(models(received), [{ manifestUrl: MANIFEST, ready: true, backend: 'wasm' }]);
    assert.match(backendNote(engine.backend, engine.gpuFailure), /^Running on the CPU \(WebAssembly\): this browser has no usable WebGPU\./);
    const reply = await engine.chat.completions.create(greedy(hello, { max_tokens: expected.greedy_ids.length }));
    assert.equal(reply.choices[0].message.content, expected.greedy_text);
    await engine.unload();
  });

  test('a storage-binding limit below the model\'s needs: a worker\'s host runs it on the CPU; the service '
       + 'worker\'s fails that model alone', async () => {
    const worker = await load(new EngineHost({ gpu: smallBindingGpu(1024) }));
    assert.deepEqual([worker.engine.backend, worker.engine.gpuFailure], ['wasm', 'UnsupportedModelError']);
    assert.match(backendNote(worker.engine.backend, worker.engine.gpuFailure), /: this GPU cannot hold the model/);
    const reply = await worker.engine.chat.completions.create(greedy(hello, { max_tokens: expected.greedy_ids.length }));
    assert.equal(reply.choices[0].message.content, expected.greedy_text);
    await worker.engine.unload();

    const host = new EngineHost({ gpu: smallBindingGpu(1024), cpu: false });
    await assert.rejects(load(host), { name: 'UnsupportedModelError', message: /exceeds this GPU's storage binding limit \(1024 bytes\)/ });
    assert.equal((await host.probe(MANIFEST)).webgpu, false);
    assert.match((await host.probe(MANIFEST)).reason, /storage binding limit/);
    assert.deepEqual(await host.probe(QWEN), { webgpu: true, reason: null }, 'another model may still fit');
  });

  // (a mistyped backend once loaded on WebGPU: every host but the CPU backend's took it for 'webgpu')
  test('a backend that does not exist is refused by name, by the client and by either host', async () => {
    await assert.rejects(load(new EngineHost({ gpu: refusingGpu() }), { ...OPTIONS, backend: 'cpu' }),
                         { name: 'RangeError', message: /backend "cpu" does not exist: one of webgpu, wasm, or auto/ });
    for (const cpu of [true, false]) {  // a client that sent it anyway, to a worker's host and the service worker's
      const host = new EngineHost({ gpu: refusingGpu(), cpu });
      await assert.rejects(host.load({ op: 'load', manifestUrl: MANIFEST, options: { ...OPTIONS, backend: 'banana' } }, () => {}),
                           { name: 'RangeError', message: /backend "banana" does not exist/ });
      assert.deepEqual(host.models, [], 'nothing was loaded');
    }
  });

  test('a load that asked for WebGPU itself fails rather than run on the CPU', async () => {
    await assert.rejects(load(new EngineHost({ gpu: refusingGpu() }), { ...OPTIONS, backend: 'webgpu' }),
                         { name: 'WebGPUNotAvailableError' });
  });
});
