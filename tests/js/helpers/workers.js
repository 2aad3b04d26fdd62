// The worker threads runtime/wasm/threads.js starts, within reach of a test (to end one mid-job as
// a crash would): while recording, the runtime's `new Worker(url)` makes a Node worker_threads
// Worker (the one it makes in Node anyway) and lists it here.

import { Worker as NodeWorker } from 'node:worker_threads';

/**
 * Starts recording: { workers: the Workers started since, in order, restore(): stop recording }.
 * Call restore() once the code under test has started its workers (a finally block).
 */
export function recordWorkers() {
  const workers = [];
  globalThis.Worker = class RecordedWorker extends NodeWorker {
    constructor(url) {
      super(url);
      workers.push(this);
    }
  };
  return { workers, restore: () => { delete globalThis.Worker; } };
}
