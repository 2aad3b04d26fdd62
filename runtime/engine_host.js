// The engine's side of a worker or service worker: one Engine, shared by any number of client
// connections. A dedicated worker (worker.js) has one connection, its page; the service worker
// (service_worker.js) has one per page (tab) that talks to it. Clients are worker_client.js and
// sw_client.js. The messages, and the rules of sharing one model, are in host_protocol.js.

import { CreateEngine } from './engine.js';
import { ModelNotLoadedError, toPlain } from './errors.js';
import { OP, REPLY, readLoad } from './host_protocol.js';
import { waitingReport } from './request_progress.js';
import { TurnQueue } from './turn_queue.js';

export class EngineHost {
  /** Random per host instance: a client that sees it change knows the host restarted. */
  hostId = Array.from(crypto.getRandomValues(new Uint32Array(2)), (word) => word.toString(36)).join('');
  #gpu;
  #load = null; // the current model: { key, manifestUrl, ready: Promise<Engine>, engine, lost, last: report, listeners }
  #turns = new TurnQueue(); // generations of all connections, one at a time

  /** gpu: as CreateEngine's (Node passes Dawn's); browsers use navigator.gpu. */
  constructor({ gpu } = {}) {
    this.#gpu = gpu;
  }

  /** A new client; `post(message)` sends it a reply. */
  connect(post) {
    return new HostConnection(this, post);
  }

  /**
   * The model of this host, for callers that take whichever one is loaded, whatever its load
   * options (the service worker's OpenAI endpoint): null when none is loaded or loading (or the
   * loaded one lost its GPU device: the next load replaces it), else { manifestUrl: the absolute
   * URL of its manifest (which model it is), ready: whether it runs requests now, report: its
   * load's latest load_progress.js ProgressReport, or null before the first }.
   */
  get model() {
    const load = this.#load;
    return load && !load.lost ? { manifestUrl: load.manifestUrl, ready: load.engine !== null, report: load.last } : null;
  }

  /**
   * Load the model of `message` (a client's 'load' message) as that message does, sharing a load
   * or loaded model with the same key (host_protocol.js); resolves with its Engine.
   * `onProgress(report)` hears the load's ProgressReports.
   */
  async load(message, onProgress) {
    const { key, options } = readLoad(message);
    if (this.#load?.key !== key || this.#load.lost) this.#load = this.#startLoad(key, message.manifestUrl, options, this.#load);
    const load = this.#load;
    if (load.last) onProgress(load.last); // where the joined load stands, or its 'ready' report
    load.listeners.add(onProgress);
    try {
      return await load.ready;
    } finally {
      load.listeners.delete(onProgress);
    }
  }

  // The rest is for HostConnection.

  /**
   * The loaded Engine; `manifestUrl` given, it must be that model's: one model is loaded at a time,
   * and another client (a tab, an API request) may have replaced the one this client expects.
   */
  engine(manifestUrl = null) {
    const engine = this.#load?.engine;
    if (!engine) throw new ModelNotLoadedError('No model is loaded in this engine host; create the engine first.');
    if (manifestUrl && manifestUrl !== this.#load.manifestUrl) {
      throw new ModelNotLoadedError(`The model loaded is ${engine.modelId}, not the one this request is for: one model `
        + 'runs at a time, and another tab of this site or an API request switched to it. Load the model again (choose '
        + 'it in the site\'s model picker) to go on with it.', { loaded: engine.modelId });
    }
    return engine;
  }

  // `manifestUrl`: the model the client that asks loaded; one replaced since is not its to end.
  async unload(manifestUrl = null) {
    if (manifestUrl && this.#load && this.#load.manifestUrl !== manifestUrl) return;
    const engine = this.engine();
    this.#load = null;
    await engine.unload();
  }

  // Runs create `id` of `connection` when its turn comes, posting its replies; with `progress`,
  // also its progress reports (request_progress.js): waiting for the turns of this host's
  // connections, then the engine's own. `signal` stops it (the connection's interrupt or close):
  // while it waits, at once, its turn withdrawn, and the engine makes its aborted reply without
  // running it; while it runs, as the engine's interruptGenerate() would.
  // `endpoint(engine)`: the engine API that runs it (engine.chat.completions, engine.completions).
  // `manifestUrl`: the model it is for (null: whichever is loaded), checked when its turn comes.
  async generate(connection, id, request, { endpoint, manifestUrl, progress, signal }) {
    const report = progress ? (progressReport) => {
      if (connection.awaits(id)) connection.post({ id, type: REPLY.progress, report: progressReport });
    } : undefined;
    const onWait = report && ((owners) => report(waitingReport(owners, connection)));
    const release = await this.#turns.acquire({ owner: connection, onWait, signal });
    try {
      if (!connection.awaits(id)) return; // given up (closed) while it waited
      const result = await endpoint(this.engine(manifestUrl)).create(request, { onProgress: report, signal });
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

  async probe() {
    const gpu = this.#gpu ?? globalThis.navigator?.gpu;
    if (!gpu) return { webgpu: false, reason: 'navigator.gpu is missing' };
    if (!gpu.requestAdapter) return { webgpu: true, reason: null }; // given a GPUDevice
    const adapter = await gpu.requestAdapter().catch(() => null);
    return adapter ? { webgpu: true, reason: null } : { webgpu: false, reason: 'navigator.gpu gives no adapter' };
  }

  #startLoad(key, manifestUrl, options, previous) {
    const load = { key, manifestUrl, engine: null, lost: false, last: null, listeners: new Set() };
    const initProgressCallback = (report) => {
      load.last = report;
      for (const listener of load.listeners) listener(report);
    };
    load.ready = (async () => {
      await (await previous?.ready.catch(() => null))?.unload(); // a lost one too: it frees its buffers
      return CreateEngine(manifestUrl, { ...options, gpu: this.#gpu, initProgressCallback });
    })();
    load.ready.then((engine) => {
      load.engine = engine;
      // Its requests fail with DeviceLostError from now on; a load replaces it.
      engine.lost.then(() => { load.lost = true; });
    }, () => {
      if (this.#load === load) this.#load = null;
    });
    return load;
  }
}

// One client's view of the host: its operations, and the requests it has open.
class HostConnection {
  #host;
  #post;
  #requests = new Map(); // id of an open create -> { stop: its AbortController, stream once it streams (else null) }
  #manifestUrl = null; // the model this client loaded last: its generations run on that one only

  constructor(host, post) {
    this.#host = host;
    this.#post = post;
  }

  post(message) {
    this.#post(message);
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

  /** The client is gone: give up all its requests. */
  async close() {
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
      this.post({ id: message.id, type: REPLY.result, value: { modelId: engine.modelId } });
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
      await this.#host.engine().resetChat();
      this.post({ id, type: REPLY.result });
    },
    [OP.unload]: async ({ id }) => {
      await this.#host.unload(this.#manifestUrl);
      this.post({ id, type: REPLY.result });
    },
    [OP.probe]: async ({ id }) => {
      this.post({ id, type: REPLY.result, value: await this.#host.probe() });
    },
    [OP.ping]: ({ id }) => {
      this.post({ id, type: REPLY.result, value: { hostId: this.#host.hostId } });
    },
  };
}
