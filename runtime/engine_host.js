// The engine's side of a worker or service worker: Engines of one or more models, shared by any
// number of client connections. A dedicated worker (worker.js) has one connection, its page; the
// service worker (service_worker.js) has one per page (tab) that talks to it. Clients are
// worker_client.js and sw_client.js. The messages, and the rules of sharing models (which stay
// loaded together, and when one is unloaded to make room), are in host_protocol.js.

import { CreateEngine } from './engine.js';
import { ModelNotLoadedError, toPlain } from './errors.js';
import { assertBackendChoice } from './backend_choice.js';
import { cpuMayReplace } from './gpu_fallback.js';
import { HOST_EVENT, OP, REPLY, readLoad } from './host_protocol.js';
import { ModelFiles } from './model_cache.js';
import { waitingReport } from './request_progress.js';
import { TurnQueue } from './turn_queue.js';

const GIB = 2 ** 30;
// The share of the device memory navigator.deviceMemory reports that the models may take together:
// the browser, the page and the OS need the rest (on unified-memory GPUs, where most visitors'
// models run, GPU buffers come out of that same RAM).
const DEVICE_MEMORY_SHARE = 0.5;
// Bytes per KV cache element the estimate assumes: the f32 path's (the f16 path takes half).
const KV_ELEMENT_BYTES = 4;

/**
 * Bytes the models of a host may hold together (host_protocol.js "Sharing rules"): half of
 * navigator.deviceMemory (GiB of RAM, rounded and capped at 8 by browsers; WebGPU reports no GPU
 * memory size), or 0 where the platform does not say (Firefox, Safari, Node): one model at a time.
 */
export function defaultMemoryBudget() {
  const gib = globalThis.navigator?.deviceMemory;
  return Number.isFinite(gib) && gib > 0 ? gib * GIB * DEVICE_MEMORY_SHARE : 0;
}

/**
 * The GPU bytes a model of `manifest` (sitegen/manifest.py) takes, as far as the manifest tells:
 * its weights (total_bytes) plus its KV cache, K and V of num_layers x num_kv_heads x head_dim
 * elements per position, KV_ELEMENT_BYTES each, for min(context_length, maxContext) positions
 * (maxContext: the load's option; undefined: the model's whole window; the runtime may cap the
 * window lower). Activations, logits and the sampler's scratch are left out: a few to tens of MB
 * for the models a site ships, next to hundreds for the weights; the budget this is held against
 * is a rough share of the device's memory anyway (defaultMemoryBudget), and a real out-of-memory
 * error is caught by the load (unload and retry).
 */
export function modelBytes(manifest, maxContext) {
  const a = manifest.architecture;
  const positions = Math.min(a.context_length, maxContext ?? Infinity);
  return manifest.total_bytes + 2 * a.num_layers * a.num_kv_heads * a.head_dim * positions * KV_ELEMENT_BYTES;
}

export class EngineHost {
  /** Random per host instance: a client that sees it change knows the host restarted. */
  hostId = Array.from(crypto.getRandomValues(new Uint32Array(2)), (word) => word.toString(36)).join('');
  #gpu;
  #budget;
  #cpu;
  // What this host learned of its GPU from failed WebGPU loads (gpu_fallback.js), for probe():
  // null -> the message of a WebGPUNotAvailableError (no model runs on WebGPU here); a manifest
  // URL -> the message of the error that model's load met (this GPU cannot hold it). Kept for the
  // host's life: a service worker is restarted often enough for a freed GPU to be found again.
  #gpuFailures = new Map();
  #adapterProbe = null; // Promise of probe()'s answer from the adapter alone
  // manifest URL -> its model: { key, manifestUrl, ready: Promise<Engine>, engine, lost, last: report,
  // listeners, usedAt, gpuFailure }; one per manifest URL, loaded or loading
  #models = new Map();
  #replaced = new Map(); // manifest URL of a model unloaded to make room -> the id of the model that took it
  #clock = 0; // for usedAt: the least recently used model is unloaded first
  #connections = new Set(); // to tell each of them when the models change (HOST_EVENT.models)
  #turns = new TurnQueue(); // generations of all connections and models, one at a time

  /**
   * gpu: as CreateEngine's (Node passes Dawn's); browsers use navigator.gpu. memoryBudget: the
   * bytes the loaded models may take together (modelBytes() of each), default defaultMemoryBudget().
   * cpu: whether this host may run the CPU backend (runtime/wasm/); the service worker's may not
   * (service_worker.js): there its synchronous kernels would hold the thread that answers every
   * tab's fetches and the OpenAI endpoint, and it cannot start the threads they split work over.
   * A host without it runs every load on WebGPU (backend 'auto' means 'webgpu' there) and refuses
   * backend 'wasm'; a load the GPU cannot take fails as gpu_fallback.js lists, for the page to
   * load it in its own dedicated worker (sw_client.js). A host with it runs a load of backend
   * 'auto' on WebGPU, and where that fails so (after the unload-and-retry of an OutOfMemoryError),
   * on the CPU (gpuFailure() says why).
   */
  constructor({ gpu, memoryBudget = defaultMemoryBudget(), cpu = true } = {}) {
    this.#gpu = gpu;
    this.#budget = memoryBudget;
    this.#cpu = cpu;
  }

  /**
   * A new client; `post(message)` sends it a reply, and the host's HOST_EVENT messages: the first
   * at once, the models held now (a reloaded page's picker shows those loaded before it came).
   */
  connect(post) {
    const connection = new HostConnection(this, post, () => this.#connections.delete(connection));
    this.#connections.add(connection);
    connection.post(this.#modelsEvent());
    return connection;
  }

  /**
   * The models of this host, most recently used first, for callers that take whichever one is
   * loaded (the service worker's OpenAI endpoint): loaded or loading, those that lost their GPU
   * device left out (the next load replaces them); each { manifestUrl: the absolute URL of its
   * manifest (which model it is), ready: whether it runs requests now, backend: the one that runs
   * it once ready ('webgpu' | 'wasm': engine.js Engine.backend), else null, report: its load's
   * latest load_progress.js ProgressReport, or null before the first }.
   */
  get models() {
    return [...this.#models.values()].filter((load) => !load.lost).sort((a, b) => b.usedAt - a.usedAt)
      .map((load) => ({ manifestUrl: load.manifestUrl, ready: load.engine !== null, backend: load.engine?.backend ?? null,
                        report: load.last }));
  }

  /**
   * Load the model of `message` (a client's 'load' message) as that message does, sharing a load
   * or loaded model with the same key (host_protocol.js); resolves with its Engine.
   * `onProgress(report)` hears the load's ProgressReports. Rejects with the load's error (engine.js
   * CreateEngine's), or a RangeError for backend 'wasm' on a host without the CPU backend.
   */
  async load(message, onProgress) {
    const { key, options } = readLoad(this.#onThisHost(message));
    let load = this.#models.get(message.manifestUrl);
    if (load?.key !== key || load.lost) load = this.#startLoad(key, message.manifestUrl, options, load);
    load.usedAt = ++this.#clock;
    if (load.last) onProgress(load.last); // where the joined load stands, or its 'ready' report
    load.listeners.add(onProgress);
    try {
      return await load.ready;
    } finally {
      load.listeners.delete(onProgress);
    }
  }

  /**
   * Why the model of `manifestUrl` runs on the CPU although its load asked for 'auto': the name of
   * the error of its WebGPU load (gpu_fallback.js GPU_FALLBACK_ERRORS); null where it runs on the
   * backend asked for, or is not loaded.
   */
  gpuFailure(manifestUrl) {
    return this.#models.get(manifestUrl)?.gpuFailure ?? null;
  }

  // The rest is for HostConnection.

  /**
   * The Engine of the model of `manifestUrl`; null: the most recently used loaded one. Throws
   * ModelNotLoadedError when it is not loaded: never loaded, unloaded, or unloaded to make room for
   * another (its `loaded` field then names that one).
   */
  engine(manifestUrl = null) {
    const load = manifestUrl ? this.#models.get(manifestUrl) : this.#mostRecent();
    if (load?.engine) {
      load.usedAt = ++this.#clock;
      return load.engine;
    }
    const replacement = this.#replaced.get(manifestUrl);
    if (replacement) {
      throw new ModelNotLoadedError(`The model this request is for was unloaded to make room for ${replacement}: GPU `
        + 'memory does not hold both, and another tab of this site or an API request loaded it. Load the model again '
        + '(choose it in the site\'s model picker) to go on with it.', { loaded: replacement });
    }
    throw new ModelNotLoadedError('No model is loaded in this engine host; create the engine first.');
  }

  // Unload the model of `manifestUrl` (a client's last load), for every connection; null: every
  // model. One unloaded since to make room for another is gone already: nothing to do.
  async unload(manifestUrl = null) {
    if (manifestUrl && this.#replaced.has(manifestUrl)) return;
    const loads = manifestUrl ? [this.#models.get(manifestUrl)].filter(Boolean) : [...this.#models.values()];
    if (!loads.some((load) => load.engine)) this.engine(manifestUrl); // throws: nothing loaded
    for (const load of loads) this.#models.delete(load.manifestUrl);
    await Promise.all(loads.map((load) => load.ready.then((engine) => engine.unload(), () => {})));
    this.#announce();
  }

  // Runs create `id` of `connection` when its turn comes, posting its replies; with `progress`,
  // also its progress reports (request_progress.js): waiting for the turns of this host's
  // connections, then the engine's own. `signal` stops it (the connection's interrupt or close):
  // while it waits, at once, its turn withdrawn, and the engine makes its aborted reply without
  // running it; while it runs, as the engine's interruptGenerate() would.
  // `endpoint(engine)`: the engine API that runs it (engine.chat.completions, engine.completions).
  // `manifestUrl`: the model it is for (null: the most recently used).
  // Before it waits, the request is checked on that model's engine (engine.js prepare(): request.js,
  // the chat template, tool support, the context window): what fails there throws here, at once,
  // and a request that passes hears 'checked' (host_protocol.js), so that a client may commit to a
  // reply (the OpenAI endpoint's HTTP status) only then. Its model is looked up again when its turn
  // comes: unloaded meanwhile (to make room for another) it fails then; replaced (other options),
  // the request is checked again on the new engine.
  async generate(connection, id, request, { endpoint, manifestUrl, progress, signal }) {
    const report = progress ? (progressReport) => {
      if (connection.awaits(id)) connection.post({ id, type: REPLY.progress, report: progressReport });
    } : undefined;
    const onWait = report && ((owners) => report(waitingReport(owners, connection)));
    const checkedOn = this.engine(manifestUrl);
    let prepared = endpoint(checkedOn).prepare(request);
    connection.post({ id, type: REPLY.checked });
    const release = await this.#turns.acquire({ owner: connection, onWait, signal });
    try {
      if (!connection.awaits(id)) return; // given up (closed) while it waited
      const engine = this.engine(manifestUrl);
      if (engine !== checkedOn) prepared = endpoint(engine).prepare(request);
      const result = await prepared.create({ onProgress: report, signal });
      if (!(Symbol.asyncIterator in result)) {
        connection.post({ id, type: REPLY.result, value: result });
        return;
      }
      connection.post({ id, type: REPLY.stream });
      connection.streaming(id, result);
      for await (const chunk of result) connection.post({ id, type: REPLY.chunk, chunk });
      connection.post({ id, type: REPLY.done });
    } finally {
      release?.();
    }
  }

  /**
   * Whether this host runs the model of `manifestUrl` (null: any model) on WebGPU, as far as it
   * knows before loading it: { webgpu, reason (why not, else null) }. False where there is no
   * navigator.gpu or no adapter, or where a load here has failed so (#gpuFailures: the device was
   * refused, or this GPU could not hold that model). The pages and the service worker's endpoint
   * both ask it to choose where a model runs (sw_client.js, service_worker.js).
   */
  async probe(manifestUrl = null) {
    const failure = this.#gpuFailures.get(null) ?? this.#gpuFailures.get(manifestUrl);
    if (failure) return { webgpu: false, reason: failure };
    // asked once per host: the endpoint asks at every request
    this.#adapterProbe ??= this.#probeAdapter();
    return this.#adapterProbe;
  }

  async #probeAdapter() {
    const gpu = this.#gpu ?? globalThis.navigator?.gpu;
    if (!gpu) return { webgpu: false, reason: 'navigator.gpu is missing' };
    if (!gpu.requestAdapter) return { webgpu: true, reason: null }; // given a GPUDevice
    const adapter = await gpu.requestAdapter().catch(() => null);
    return adapter ? { webgpu: true, reason: null } : { webgpu: false, reason: 'navigator.gpu gives no adapter' };
  }

  // `message` (a 'load') as this host runs it: on a host without the CPU backend, on WebGPU, so
  // that a page's 'auto' and an explicit 'webgpu' share one load (their key is the same).
  #onThisHost(message) {
    // a backend that does not exist is refused here, not mapped to WebGPU below
    const backend = assertBackendChoice(message.options?.backend ?? 'auto');
    if (this.#cpu) return message;
    if (backend === 'wasm') {
      throw new RangeError('This engine host (the service worker\'s) runs models on WebGPU only: the CPU backend '
        + 'would hold the thread that answers every tab. Load backend "wasm" in a page\'s dedicated worker '
        + '(CreateServiceWorkerEngine does).');
    }
    return { ...message, options: { ...message.options, backend: 'webgpu' } };
  }

  #mostRecent() {
    return [...this.#models.values()].filter((load) => load.engine).sort((a, b) => b.usedAt - a.usedAt)[0] ?? null;
  }

  // `previous`: the model of the same manifest URL with other options (or lost), which this replaces.
  #startLoad(key, manifestUrl, options, previous) {
    const load = { key, manifestUrl, engine: null, lost: false, last: null, listeners: new Set(), usedAt: 0,
                   bytes: 0 /* modelBytes(), once its manifest is read */, gpuFailure: null };
    const initProgressCallback = (report) => {
      load.last = report;
      for (const listener of load.listeners) listener(report);
    };
    this.#models.set(manifestUrl, load);
    this.#replaced.delete(manifestUrl);
    load.ready = (async () => {
      await (await previous?.ready.catch(() => null))?.unload(); // a lost one too: it frees its buffers
      const manifest = await new ModelFiles(manifestUrl, { weightsUrl: options.weightsUrl }).manifest();
      load.bytes = modelBytes(manifest, options.maxContext);
      await this.#makeRoom(load, manifest.model_id);
      const create = (backend) => CreateEngine(manifestUrl, { ...options, backend, gpu: this.#gpu, initProgressCallback });
      const backend = options.backend ?? 'auto';
      if (backend === 'wasm') return create('wasm');
      try {
        return await this.#loadOnGpu(load, manifest.model_id, () => create('webgpu'));
      } catch (error) {
        if (!cpuMayReplace(error)) throw error;
        this.#gpuFailures.set(error.name === 'WebGPUNotAvailableError' ? null : manifestUrl, error.message);
        if (backend !== 'auto' || !this.#cpu) throw error;
        load.gpuFailure = error.name;
        return create('wasm');
      }
    })();
    load.ready.then((engine) => {
      load.engine = engine;
      this.#announce();
      // Its requests fail with DeviceLostError from now on; a load replaces it.
      engine.lost.then(() => {
        load.lost = true;
        this.#announce();
      });
    }, () => {
      if (this.#models.get(manifestUrl) === load) this.#models.delete(manifestUrl);
      this.#announce();
    });
    this.#announce();
    return load;
  }

  // `create()` (a WebGPU load of `load`, model `modelId`), and where the GPU ran out of memory, once
  // more after unloading every other model: the budget's estimate was wrong (GPU memory is not the
  // RAM the budget comes from).
  async #loadOnGpu(load, modelId, create) {
    try {
      return await create();
    } catch (error) {
      if (error?.name !== 'OutOfMemoryError' || !(await this.#makeRoom(load, modelId, { all: true }))) throw error;
      return create();
    }
  }

  // Unload the least recently used loaded models other than `load` (`all`: every one) until its
  // bytes fit the budget with the rest (models still loading count, and are never unloaded). The
  // unloading waits for the generation running now, so that no reply is cut. Tells every
  // connection (HOST_EVENT.models, `unloaded`). Resolves with whether any was unloaded.
  async #makeRoom(load, modelId, { all = false } = {}) {
    const others = [...this.#models.values()].filter((other) => other !== load && !other.lost);
    const victims = others.filter((other) => other.engine).sort((a, b) => a.usedAt - b.usedAt);
    let used = others.reduce((sum, other) => sum + other.bytes, 0);
    const unloaded = [];
    while (victims.length && (all || used + load.bytes > this.#budget)) {
      const victim = victims.shift();
      used -= victim.bytes;
      unloaded.push(victim);
    }
    if (!unloaded.length) return false;
    const release = await this.#turns.acquire();
    try {
      for (const victim of unloaded) {
        if (this.#models.get(victim.manifestUrl) !== victim) continue;
        this.#models.delete(victim.manifestUrl);
        this.#replaced.set(victim.manifestUrl, modelId);
        await victim.engine.unload();
      }
    } finally {
      release();
    }
    this.#announce(unloaded.map((victim) => ({ manifestUrl: victim.manifestUrl, for: modelId })));
    return true;
  }

  // Tell every connection which models are loaded or loading now (host_protocol.js HOST_EVENT.models).
  #announce(unloaded = []) {
    const event = this.#modelsEvent(unloaded);
    for (const connection of this.#connections) connection.post(event);
  }

  #modelsEvent(unloaded = []) {
    const models = this.models.map(({ manifestUrl, ready, backend }) => ({ manifestUrl, ready, backend }));
    return { type: HOST_EVENT.models, models, unloaded };
  }
}

// One client's view of the host: its operations, and the requests it has open.
class HostConnection {
  #host;
  #post;
  #requests = new Map(); // id of an open create -> { stop: its AbortController, stream once it streams (else null) }
  #manifestUrl = null; // the model this client loaded last: its generations run on that one only
  #onClose;
  #closed = false;  // after close(): nothing more is posted

  constructor(host, post, onClose) {
    this.#host = host;
    this.#post = post;
    this.#onClose = onClose;
  }

  post(message) {
    if (!this.#closed) this.#post(message);
  }

  /** Number of this client's create and completion requests not finished yet. */
  get openRequests() {
    return this.#requests.size;
  }

  /**
   * Carry out one message from the client; settles when the operation has ended (a stream: when
   * it is done). Failures go to the client as 'error' replies: this never rejects.
   */
  async handle(message) {
    try {
      if (!Object.hasOwn(this.#operations, message?.op)) {
        throw new TypeError(`Unknown engine host operation ${JSON.stringify(message?.op)}`);
      }
      await this.#operations[message.op](message);
    } catch (error) {
      this.post({ id: message?.id, type: REPLY.error, error: toPlain(error) });
    }
  }

  /** The client is gone: give up all its requests, and tell it nothing more. */
  async close() {
    this.#closed = true;
    this.#onClose();
    await Promise.all([...this.#requests.keys()].map((id) => this.#operations[OP.close]({ id })));
  }

  awaits(id) {
    return this.#requests.has(id);
  }

  streaming(id, stream) {
    const open = this.#requests.get(id);
    if (open) open.stream = stream;
  }

  // A 'create' or 'completion' message, run through `endpoint` (EngineHost.generate).
  // `model` (a manifest URL) names the model the request is for; without it, the client's last loaded one.
  async #generate({ id, request, progress, model }, endpoint) {
    const stop = new AbortController();
    this.#requests.set(id, { stop, stream: null });
    try {
      await this.#host.generate(this, id, request, { endpoint, manifestUrl: model ?? this.#manifestUrl,
                                                     progress: progress === true, signal: stop.signal });
    } finally {
      this.#requests.delete(id);
    }
  }

  #operations = {
    [OP.load]: async (message) => {
      this.#manifestUrl = message.manifestUrl;
      const engine = await this.#host.load(message, (report) => this.post({ id: message.id, type: REPLY.progress, report }));
      this.post({ id: message.id, type: REPLY.result, value: { modelId: engine.modelId, backend: engine.backend,
                                                               gpuFailure: this.#host.gpuFailure(message.manifestUrl) } });
    },
    [OP.create]: (message) => this.#generate(message, (engine) => engine.chat.completions),
    [OP.completion]: (message) => this.#generate(message, (engine) => engine.completions),
    [OP.close]: async ({ id }) => {
      const open = this.#requests.get(id);
      if (!open) return;
      this.#requests.delete(id);
      // A stream ends, freeing the engine for the next request; a request that waits leaves the
      // queue (no reply); a running non-streamed one ends as interrupted.
      if (open.stream) await open.stream.return();
      else open.stop.abort();
    },
    [OP.interrupt]: () => {
      // This connection's requests so far: the running one, and those still waiting (host_protocol.js).
      for (const { stop } of this.#requests.values()) stop.abort();
    },
    [OP.resetChat]: async ({ id }) => {
      await this.#host.engine(this.#manifestUrl).resetChat();
      this.post({ id, type: REPLY.result });
    },
    [OP.unload]: async ({ id }) => {
      await this.#host.unload(this.#manifestUrl);
      this.post({ id, type: REPLY.result });
    },
    [OP.probe]: async ({ id, manifestUrl }) => {
      this.post({ id, type: REPLY.result, value: await this.#host.probe(manifestUrl ?? null) });
    },
    [OP.ping]: ({ id }) => {
      this.post({ id, type: REPLY.result, value: { hostId: this.#host.hostId } });
    },
  };
}
