// The page's side of an engine that runs in a worker (runtime/worker.js): the Engine API over
// postMessage (the protocol of host_protocol.js), so generation never blocks the page.
// sw_client.js uses the same connection to reach the engine in the service worker.
//
//   const worker = new Worker(new URL('./runtime/worker.js', import.meta.url), { type: 'module' });
//   const engine = await CreateWorkerEngine(worker, manifestUrl, { initProgressCallback });
//
// `worker` is anything with postMessage() and addEventListener('message' | 'error', ...). The
// worker finds its GPU itself (navigator.gpu there), so `gpu` is not an option here. This module
// imports no model code: a page that chats through a worker downloads none of it.

import { EngineLostError, fromPlain, toPlain } from './errors.js';
import { OP, REPLY, loadMessage } from './host_protocol.js';
import { progressListener } from './request_progress.js';

/**
 * Load the model of `manifestUrl` in `worker` and return an engine with the in-thread Engine's
 * API: chat.completions.create(request, { onProgress }), completions.create(request, { onProgress }),
 * interruptGenerate(), resetChat(), unload(), modelId, backend; plus host: 'worker' and gpuFailure. Options: initProgressCallback,
 * and the engine options a host passes through (host_protocol.js: backend, maxContext, weightsUrl; see CreateEngine). Rejects with the worker's error
 * (errors.js types), or EngineLostError when the worker itself fails.
 */
export async function CreateWorkerEngine(worker, manifestUrl, options = {}) {
  const connection = new Connection(worker);
  // The worker itself failed (its script did not load, or threw outside a request): every open
  // request would otherwise wait forever.
  worker.addEventListener('error', (event) => {
    connection.fail(new EngineLostError(`The engine worker failed: ${event?.message || 'no details'}`));
  });
  return connectEngine(connection, manifestUrl, options, { host: 'worker' });
}

/**
 * Load the model through `connection` (a Connection to an engine host) and return its engine.
 * options: initProgressCallback and the engine options a host passes through (host_protocol.js:
 * backend, maxContext, weightsUrl). host: what the engine's `host` property says; onUnload: called once
 * the page stops using the engine (its unload(), or detach())
 * the model is unloaded. Rejects with the host's error (errors.js types, rebuilt from plain).
 */
export async function connectEngine(connection, manifestUrl, options = {}, { host, onUnload = () => {} }) {
  const { modelId, backend, gpuFailure } = await connection.call(loadMessage(manifestUrl, options, absolute),
                                                                 options.initProgressCallback);
  return new WorkerEngine(connection, { modelId, backend, gpuFailure, host, onUnload });
}

// A relative URL means relative to this page, not to the worker's script.
function absolute(url) {
  return globalThis.location ? new URL(url, globalThis.location.href).href : String(url);
}

class WorkerEngine {
  #connection;
  #modelId;
  #backend;
  #gpuFailure;
  #host;
  #onUnload;

  constructor(connection, { modelId, backend, gpuFailure, host, onUnload }) {
    this.#connection = connection;
    this.#modelId = modelId;
    this.#backend = backend;
    this.#gpuFailure = gpuFailure ?? null;
    this.#host = host;
    this.#onUnload = onUnload;
    this.chat = { completions: { create: (request, options) => this.#create(OP.create, request, options) } };
    this.completions = { create: (request, options) => this.#create(OP.completion, request, options) };
  }

  get modelId() {
    return this.#modelId;
  }

  /** Which backend runs the model: 'webgpu' | 'wasm' (engine.js Engine.backend). */
  get backend() {
    return this.#backend;
  }

  /**
   * Why the model runs on the CPU although the load asked for 'auto': the name of the error its
   * WebGPU load met (gpu_fallback.js: 'WebGPUNotAvailableError', 'OutOfMemoryError',
   * 'UnsupportedModelError'); null where it runs on the backend asked for (engine_host.js gpuFailure).
   */
  get gpuFailure() {
    return this.#gpuFailure;
  }

  /** Where the engine runs: 'worker' (a dedicated worker) or 'service-worker'. */
  get host() {
    return this.#host;
  }

  /** Ends this page's requests made so far, running or waiting, as aborted replies (host_protocol.js). */
  interruptGenerate() {
    this.#connection.send({ op: OP.interrupt });
  }

  async resetChat() {
    await this.#connection.call({ op: OP.resetChat });
  }

  async unload() {
    await this.#connection.call({ op: OP.unload });
    this.#onUnload();
  }

  /**
   * Stop using this engine without unloading its model, which the host keeps for its other
   * clients (tabs, API requests) while it fits (host_protocol.js): a page that switches models.
   * Requests made through this engine afterwards still reach the host.
   */
  detach() {
    this.#onUnload();
  }

  // Resolves with the completion, or with a stream of chunks once the host has accepted the
  // request (so an invalid request rejects here, as in-thread, not in the stream). options: {
  // onProgress } as in-thread (engine.js); the host sends reports only when there is a callback.
  // (The in-thread `signal` does not cross postMessage; interruptGenerate() stops requests here.)
  // op: OP.create (chat completions) or OP.completion.
  #create(op, request, { onProgress } = {}) {
    return new Promise((resolve, reject) => {
      const report = progressListener(onProgress);
      let stream = null;
      const id = this.#connection.open({ op, request, progress: report !== undefined }, (reply) => {
        switch (reply.type) {
          case REPLY.progress:
            report?.(reply.report);
            return false;
          case REPLY.result:
            resolve(reply.value);
            return true;
          case REPLY.stream:
            stream = new ChunkStream(() => this.#connection.send({ op: OP.close, id }));
            resolve(stream);
            return false;
          case REPLY.chunk:
            stream.push(reply.chunk);
            return false;
          case REPLY.done:
            stream?.end();
            return true;
          case REPLY.error:
            if (stream) stream.end(fromPlain(reply.error));
            else reject(fromPlain(reply.error));
            return true;
          default:
            return false;
        }
      });
    });
  }
}

// Request ids are unique per page, not per connection: all the connections of a page to the
// service worker share one client id there, and so one id space.
let lastRequestId = 0;

/**
 * Numbered requests to an engine host (host_protocol.js); replies go to the handler of
 * their request's id. `port`: postMessage(message) and addEventListener('message', ({ data }) => ...).
 */
export class Connection {
  #port;
  #handlers = new Map(); // id -> reply => whether that reply was the request's last
  #failure = null; // the plain error that ended the connection

  constructor(port) {
    this.#port = port;
    port.addEventListener('message', ({ data }) => {
      if (this.#handlers.get(data?.id)?.(data)) this.#handlers.delete(data.id);
    });
  }

  get failed() {
    return this.#failure !== null;
  }

  /** Send `message` as a new request; `handler(reply)` returns true at its last reply. */
  open(message, handler) {
    const id = ++lastRequestId;
    if (this.#failure) {
      const error = this.#failure;
      queueMicrotask(() => handler({ id, type: REPLY.error, error }));
    } else {
      this.#handlers.set(id, handler);
      this.#port.postMessage({ ...message, id });
    }
    return id;
  }

  /** A request with one result (and progress reports before it). */
  call(message, onProgress) {
    return new Promise((resolve, reject) => {
      this.open(message, (reply) => {
        if (reply.type === REPLY.progress) onProgress?.(reply.report);
        else if (reply.type === REPLY.result) resolve(reply.value);
        else if (reply.type === REPLY.error) reject(fromPlain(reply.error));
        return reply.type !== REPLY.progress;
      });
    });
  }

  /** A message that gets no reply. */
  send(message) {
    if (!this.#failure) this.#port.postMessage(message);
  }

  /**
   * Stop listening for replies to request `id` (the caller gave it up with 'close'): a request
   * that still waited for its turn gets no reply at all, so its handler would otherwise stay.
   */
  forget(id) {
    this.#handlers.delete(id);
  }

  /** The host is gone: end every open request, and every later one, with `error`. */
  fail(error) {
    this.#failure ??= toPlain(error);
    for (const [id, handler] of this.#handlers) handler({ id, type: REPLY.error, error: this.#failure });
    this.#handlers.clear();
  }

  /** Tell the host that this client gives up all its open requests (the page is going away). */
  abandon() {
    for (const id of this.#handlers.keys()) this.send({ op: OP.close, id });
  }
}

// The chunks of one streamed reply as an async iterator: chunks wait in order until read, and an
// error arrives after the chunks that preceded it. Stopping early (break) tells the host.
class ChunkStream {
  #chunks = [];
  #readers = []; // { resolve, reject } of next() calls waiting for a chunk
  #ending = null; // { error } once the stream has ended
  #onClose;

  constructor(onClose) {
    this.#onClose = onClose;
  }

  push(chunk) {
    if (this.#ending) return;
    const reader = this.#readers.shift();
    if (reader) reader.resolve({ value: chunk, done: false });
    else this.#chunks.push(chunk);
  }

  end(error = null) {
    if (this.#ending) return;
    this.#ending = { error };
    for (const reader of this.#readers.splice(0)) this.#settle(reader);
  }

  next() {
    if (this.#chunks.length) return Promise.resolve({ value: this.#chunks.shift(), done: false });
    return new Promise((resolve, reject) => {
      if (this.#ending) this.#settle({ resolve, reject });
      else this.#readers.push({ resolve, reject });
    });
  }

  async return() {
    if (!this.#ending) {
      this.#onClose();
      this.end();
    }
    this.#chunks = [];
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator]() {
    return this;
  }

  #settle({ resolve, reject }) {
    const { error } = this.#ending;
    this.#ending.error = null; // the error ends the stream: it is thrown once, then the stream is done
    if (error) reject(error);
    else resolve({ value: undefined, done: true });
  }
}
