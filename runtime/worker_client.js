// The page's side of an engine that runs in a worker (runtime/worker.js): the Engine API over
// postMessage, so generation never blocks the page.
//
//   const worker = new Worker(new URL('./runtime/worker.js', import.meta.url), { type: 'module' });
//   const engine = await CreateWorkerEngine(worker, manifestUrl, { initProgressCallback });
//
// `worker` is anything with postMessage() and addEventListener('message' | 'error', ...). The
// worker finds its GPU itself (navigator.gpu there), so `gpu` is not an option here. This module
// imports no model code: a page that chats through a worker downloads none of it.

import { fromPlain } from './errors.js';

/**
 * Load the model of `manifestUrl` in `worker` and return an engine with the in-thread Engine's
 * API: chat.completions.create(), interruptGenerate(), resetChat(), unload(), modelId.
 */
export async function CreateWorkerEngine(worker, manifestUrl, { initProgressCallback, maxContext } = {}) {
  const connection = new Connection(worker);
  // A relative URL means relative to this page, not to the worker script.
  const url = globalThis.location ? new URL(manifestUrl, globalThis.location.href).href : String(manifestUrl);
  const { modelId } = await connection.call({ op: 'load', manifestUrl: url, options: { maxContext } },
                                            initProgressCallback);
  return new WorkerEngine(connection, modelId);
}

class WorkerEngine {
  #connection;
  #modelId;

  constructor(connection, modelId) {
    this.#connection = connection;
    this.#modelId = modelId;
    this.chat = { completions: { create: (request) => this.#create(request) } };
  }

  get modelId() {
    return this.#modelId;
  }

  interruptGenerate() {
    this.#connection.send({ op: 'interrupt' });
  }

  async resetChat() {
    await this.#connection.call({ op: 'resetChat' });
  }

  async unload() {
    await this.#connection.call({ op: 'unload' });
  }

  // Resolves with the completion, or with a stream of chunks once the worker has accepted the
  // request (so an invalid request rejects here, as in-thread, not in the stream).
  #create(request) {
    return new Promise((resolve, reject) => {
      let stream = null;
      const id = this.#connection.open({ op: 'create', request }, (reply) => {
        switch (reply.type) {
          case 'result':
            resolve(reply.value);
            return true;
          case 'stream':
            stream = new ChunkStream(() => this.#connection.send({ op: 'close', id }));
            resolve(stream);
            return false;
          case 'chunk':
            stream.push(reply.chunk);
            return false;
          case 'done':
            stream.end();
            return true;
          case 'error':
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

// Numbered requests to the worker; replies go to the handler of their request's id.
class Connection {
  #port;
  #nextId = 1;
  #handlers = new Map(); // id -> reply => whether that reply was the request's last

  constructor(port) {
    this.#port = port;
    port.addEventListener('message', ({ data }) => {
      if (this.#handlers.get(data?.id)?.(data)) this.#handlers.delete(data.id);
    });
    // The worker itself failed (its script did not load, or threw outside a request): every
    // open request would otherwise wait forever.
    port.addEventListener('error', (event) => {
      const error = { name: 'Error', message: `The engine worker failed: ${event?.message || 'no details'}`, fields: {} };
      for (const handler of this.#handlers.values()) handler({ type: 'error', error });
      this.#handlers.clear();
    });
  }

  /** Send `message` as a new request; `handler(reply)` returns true at its last reply. */
  open(message, handler) {
    const id = this.#nextId++;
    this.#handlers.set(id, handler);
    this.#port.postMessage({ ...message, id });
    return id;
  }

  /** A request with one result (and progress reports before it). */
  call(message, onProgress) {
    return new Promise((resolve, reject) => {
      this.open(message, (reply) => {
        if (reply.type === 'progress') onProgress?.(reply.report);
        else if (reply.type === 'result') resolve(reply.value);
        else if (reply.type === 'error') reject(fromPlain(reply.error));
        return reply.type !== 'progress';
      });
    });
  }

  /** A message that gets no reply. */
  send(message) {
    this.#port.postMessage(message);
  }
}

// The chunks of one streamed reply as an async iterator: chunks wait in order until read, and an
// error arrives after the chunks that preceded it. Stopping early (break) tells the worker.
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
