// The engine host of a dedicated worker: runs an Engine off the page's main thread and answers
// CreateWorkerEngine (worker_client.js) over postMessage, with the protocol of host_protocol.js.
// In a browser, start it with
//
//   new Worker(new URL('./runtime/worker.js', import.meta.url), { type: 'module' })
//
// and it serves its own global scope. Elsewhere (Node's worker_threads, a custom worker) call
// serveEngine(port, { gpu }) with anything that has postMessage() and
// addEventListener('message', ({ data }) => ...).

import { EngineHost } from './engine_host.js';

export function serveEngine(port, { gpu } = {}) {
  const connection = new EngineHost({ gpu }).connect((message) => port.postMessage(message));
  port.addEventListener('message', ({ data }) => connection.handle(data));
}

// Loaded as a browser worker script: serve the page that started it. (The service worker hosts
// its engine in service_worker.js.)
if (typeof DedicatedWorkerGlobalScope !== 'undefined' && globalThis instanceof DedicatedWorkerGlobalScope) {
  serveEngine(globalThis);
}
