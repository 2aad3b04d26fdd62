// A worker thread of runtime/wasm/threads.js: instantiates kernels-threads.wasm on the shared
// memory, with its own C stack, answers once ready, then runs its share of each job the control
// block announces until an EXIT job.
//
// Its first message: { module: WebAssembly.Module, memory: shared WebAssembly.Memory, stackTop
// (byte offset: the top of this thread's stack), control (byte offset of the control block),
// index (this thread's, 1..count - 1), count }.

import { CONTROL, KIND, runJob } from './threads.js';

const port = globalThis.WorkerGlobalScope ? globalThis : (await import('node:worker_threads')).parentPort;

const init = await new Promise((resolve) => {
  if (port.once) port.once('message', resolve);
  else port.addEventListener('message', (event) => resolve(event.data), { once: true });
});
const { module, memory, stackTop, control, index, count } = init;
const { exports } = await WebAssembly.instantiate(module, { env: { memory } });
exports.__stack_pointer.value = stackTop;  // the module's own stack is the calling thread's
const words = new Int32Array(memory.buffer, control, CONTROL.ARGS);
let seen = Atomics.load(words, CONTROL.GENERATION);  // before 'ready': no job can come earlier
port.postMessage('ready');

for (;;) {
  Atomics.wait(words, CONTROL.GENERATION, seen);
  seen = Atomics.load(words, CONTROL.GENERATION);
  if (words[CONTROL.KIND] === KIND.EXIT) break;
  try {
    runJob(exports, memory, control, index, count);
  } catch (error) {
    console.error(`CPU backend thread ${index}:`, error);
    Atomics.add(words, CONTROL.FAILED, 1);
  }
  Atomics.add(words, CONTROL.DONE, 1);
  Atomics.notify(words, CONTROL.DONE);
}
if (port.close) port.close();
