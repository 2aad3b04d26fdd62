// The engine host of a dedicated worker: runs an Engine off the page's main thread and answers
// CreateWorkerEngine (worker_client.js) over postMessage. In a browser, start it with
//
//   new Worker(new URL('./runtime/worker.js', import.meta.url), { type: 'module' })
//
// and it serves its own global scope. Elsewhere (Node's worker_threads, a custom worker) call
// serveEngine(port, { gpu }) with anything that has postMessage() and
// addEventListener('message', ({ data }) => ...).
//
// Protocol. The client numbers its requests; every reply carries the request's id.
//   client -> host  { id, op: 'load', manifestUrl, options: { maxContext } }
//                   { id, op: 'create', request }     an OpenAI chat-completions request
//                   { id, op: 'close' }               the client stopped reading stream `id`
//                   { id, op: 'resetChat' } | { id, op: 'unload' }
//                   { op: 'interrupt' }               no reply
//   host -> client  { id, type: 'progress', report }  while loading
//                   { id, type: 'result', value }     load: { modelId }; create: the completion
//                   { id, type: 'stream' }            create with stream: true; then, as they come:
//                   { id, type: 'chunk', chunk } ... { id, type: 'done' }
//                   { id, type: 'error', error }      errors.js toPlain(); ends the request or stream
// One engine per worker: a second 'load' replaces the first model.

import { CreateEngine } from './engine.js';
import { ModelNotLoadedError, toPlain } from './errors.js';

export function serveEngine(port, { gpu } = {}) {
  let engine = null;
  const streams = new Map(); // id -> the stream being forwarded
  const post = (message) => port.postMessage(message);
  const loadedEngine = () => {
    if (!engine) throw new ModelNotLoadedError('No model is loaded in this worker; create the engine first.');
    return engine;
  };

  const operations = {
    async load({ id, manifestUrl, options }) {
      await engine?.unload();
      engine = null;
      const initProgressCallback = (report) => post({ id, type: 'progress', report });
      engine = await CreateEngine(manifestUrl, { ...options, gpu, initProgressCallback });
      post({ id, type: 'result', value: { modelId: engine.modelId } });
    },
    async create({ id, request }) {
      const result = await loadedEngine().chat.completions.create(request);
      if (!(Symbol.asyncIterator in result)) {
        post({ id, type: 'result', value: result });
        return;
      }
      post({ id, type: 'stream' });
      streams.set(id, result);
      try {
        for await (const chunk of result) post({ id, type: 'chunk', chunk });
      } finally {
        streams.delete(id);
      }
      post({ id, type: 'done' });
    },
    async close({ id }) {
      await streams.get(id)?.return(); // ends the generation and frees the engine for the next request
    },
    interrupt() {
      engine?.interruptGenerate();
    },
    async resetChat({ id }) {
      await loadedEngine().resetChat();
      post({ id, type: 'result' });
    },
    async unload({ id }) {
      await loadedEngine().unload();
      post({ id, type: 'result' });
    },
  };

  port.addEventListener('message', async ({ data }) => {
    try {
      if (!Object.hasOwn(operations, data?.op)) throw new TypeError(`Unknown engine worker operation ${JSON.stringify(data?.op)}`);
      await operations[data.op](data);
    } catch (error) {
      post({ id: data?.id, type: 'error', error: toPlain(error) });
    }
  });
}

// Loaded as a browser worker script: serve the page that started it. (A service worker has its
// own host; it does not start one here.)
if (typeof DedicatedWorkerGlobalScope !== 'undefined' && globalThis instanceof DedicatedWorkerGlobalScope) {
  serveEngine(globalThis);
}
