// Threads for the WASM CPU backend: the big steps of a forward pass (matrix products, attention)
// split over workers that each instantiate kernels-threads.wasm on the one shared
// WebAssembly.Memory, so every thread reads the same weights and writes its own rows of the same
// outputs. The calling thread takes the first share itself; count 1 runs everything there, on
// either build, through the same job code (runJob).
//
// A job is described in a control block in the shared memory (CONTROL below), not in messages:
// the caller writes the job, bumps GENERATION and wakes the workers (Atomics.notify); each runs its
// share and bumps DONE; the caller waits for DONE to reach the workers' count. Workers block in
// Atomics.wait between jobs. The caller first blocks in Atomics.wait too where the engine allows it
// (workers, Node; a page's main thread may not block, so it spins on Atomics.load), for at most
// BLOCK_MS; a job still running then is awaited with the caller's events running, so that a
// worker's death (its error, messageerror or exit event) is heard: the job rejects with a
// DeviceLostError, `lost` settles with it and every later job rejects with it.
//
// Rows (matrix products) and heads (attention) are split into contiguous, near-equal ranges, one
// per thread: thread i of n takes [floor(i N / n), floor((i + 1) N / n)).

import { SCHEMES as WEIGHT_SCHEMES } from './kernels.js';
import { isolatedThreads } from '../cpu_threads.js';
import { DeviceLostError } from '../errors.js';

/** Whether threads can run here: SharedArrayBuffer exists (a cross-origin isolated page, or Node). */
export function threadsAvailable() {
  return typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated !== false;
}

/**
 * The default thread count: in a cross-origin isolated browser context, one per core up to a cap
 * (cpu_threads.js isolatedThreads); else (not isolated, or Node, whose callers choose) 1.
 */
export function defaultThreads() {
  if (globalThis.crossOriginIsolated !== true || !threadsAvailable()) return 1;
  return isolatedThreads();
}

// The control block's Int32 words (floats through a Float32Array view of the same bytes).
export const CONTROL = { GENERATION: 0, DONE: 1, FAILED: 2, KIND: 3, ARGS: 4 };  // FAILED: workers whose share threw
const CONTROL_WORDS = 32;
export const KIND = { EXIT: 0, MATMUL: 1, ATTENTION: 2 };
const SCHEMES = Object.keys(WEIGHT_SCHEMES);  // matmul jobs name the export by its index here
const WORKER_STACK_BYTES = 64 * 1024;          // as the module's own (sitegen/wasm_kernels.py STACK_BYTES)
// How long a job's caller blocks for the workers before it waits with its events running (where a
// worker's death is heard): most jobs end well within it, and while blocked the thread hears
// nothing. Past it, the wait wakes at DONE's change (Atomics.waitAsync) or every POLL_MS.
const BLOCK_MS = 20;
const POLL_MS = 5;

// [begin, end) of thread `index` of `count` over `total` items.
function share(total, index, count) {
  return [Math.floor((index * total) / count), Math.floor(((index + 1) * total) / count)];
}

/**
 * Runs thread `index`'s share (of `count`) of the job in the control block at byte offset
 * `control` of `memory`, through `exports` (a kernels instance on that memory). Called by the
 * caller (index 0) and by thread_worker.js.
 */
export function runJob(exports, memory, control, index, count) {
  const words = new Int32Array(memory.buffer, control, CONTROL_WORDS);
  const floats = new Float32Array(memory.buffer, control, CONTROL_WORDS);
  const a = CONTROL.ARGS;
  if (words[CONTROL.KIND] === KIND.MATMUL) {
    const [scheme, codes, scales, x, T, y, K, N, scratch, scratchStride] = words.subarray(a, a + 10);
    const [row0, row1] = share(N, index, count);
    if (row1 > row0) exports[`${SCHEMES[scheme]}_matmul`](codes, scales, x, T, scratch + index * scratchStride, y, K, N, row0, row1);
  } else if (words[CONTROL.KIND] === KIND.ATTENTION) {
    const [q, qStride, kCache, vCache, out, outStride, scores, scoresStride, heads, kvHeads, headDim, context, pos, T,
      window] = words.subarray(a, a + 15);
    const [scale, softcap] = floats.subarray(a + 15, a + 17);
    const [head0, head1] = share(heads, index, count);
    if (head1 === head0) return;
    for (let t = 0; t < T; t++) {  // token t sees positions up to pos + t (the block's earlier ones included)
      const length = pos + t + 1;
      exports.attention(q + t * qStride, kCache, vCache, out + t * outStride, scores + index * scoresStride, heads,
        kvHeads, headDim, context, window ? Math.max(0, length - window) : 0, length, scale, softcap, head0, head1);
    }
  }
}

export class Threads {
  #wasm;
  #workers;
  #control;
  #blocking = true;  // whether this thread may Atomics.wait (not a page's main thread)
  #lost = null;      // the DeviceLostError once a worker died
  #announceLost;
  #destroyed = false;

  /**
   * `count` threads (this one and count - 1 workers) over `wasm` (a WasmKernels; a shared one,
   * WasmKernels.create(source, { shared: true }), when count > 1). Allocates the control block and
   * the workers' stacks in its memory. Rejects with a RangeError for count > 1 on an unshared
   * memory or where threadsAvailable() is false, and with the worker's error when one fails to
   * start.
   */
  static async create(wasm, count = 1) {
    if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`threads = ${count}: a whole number >= 1.`);
    if (count > 1 && !(wasm.shared && threadsAvailable())) {
      throw new RangeError(`${count} threads need SharedArrayBuffer and the threads build of the kernels: serve the `
        + 'page cross-origin isolated (COOP same-origin, COEP require-corp), or ask for 1 thread.');
    }
    const control = wasm.alloc(4 * CONTROL_WORDS);
    const stacks = Array.from({ length: count - 1 }, () => wasm.alloc(WORKER_STACK_BYTES) + WORKER_STACK_BYTES);
    const workers = await Promise.all(stacks.map((stackTop, i) => startWorker({
      module: wasm.module, memory: wasm.memory, stackTop, control, index: i + 1, count })));
    return new Threads(wasm, workers, control);
  }

  // Use Threads.create().
  constructor(wasm, workers, control) {
    this.#wasm = wasm;
    this.#workers = workers;
    this.#control = control;
    this.count = workers.length + 1;
    /** Settles with the DeviceLostError once a worker died (every job rejects from then on); else pending. */
    this.lost = new Promise((resolve) => { this.#announceLost = resolve; });
    workers.forEach((worker, i) => watchWorker(worker, (why) => this.#workerDied(i + 1, why)));
  }

  /**
   * Y [tokens, rows] = X [tokens, K] Wᵀ over all rows, split by rows (WasmKernels.matmul's
   * arguments). scratch: `count` scratches of `scratchStride` bytes each
   * (WasmKernels.matmulScratchBytes(K, tokens) or more, 16-byte aligned). Resolves when every
   * thread's rows are written; rejects as #run() says, and with a RangeError for an unknown scheme.
   */
  async matmul(scheme, { codes, scales }, x, y, { K, rows, tokens, scratch, scratchStride }) {
    if (!SCHEMES.includes(scheme)) throw new RangeError(`No CPU matmul for weight scheme ${scheme}: one of ${SCHEMES}.`);
    await this.#run(KIND.MATMUL, [SCHEMES.indexOf(scheme), codes, scales, x, tokens, y, K, rows, scratch, scratchStride]);
  }

  /**
   * Attention of `tokens` query positions pos..pos + tokens - 1 over the KV cache (which holds them),
   * split by heads (WasmKernels.attention's arguments per token). q: the first token's q, the next
   * qStride bytes on; out likewise with outStride; scores: `count` scratches of scoresStride bytes;
   * window: sliding_window, 0 for none. Resolves when every head is written; rejects as #run() says.
   */
  async attention({ q, qStride, kCache, vCache, out, outStride, scores, scoresStride }, {
    heads, kvHeads, headDim, context, pos, tokens, window, scale, softcap }) {
    await this.#run(KIND.ATTENTION, [q, qStride, kCache, vCache, out, outStride, scores, scoresStride, heads, kvHeads,
      headDim, context, pos, tokens, window], [scale, softcap]);
  }

  /** Throws the DeviceLostError once a worker died. */
  assertAlive() {
    if (this.#lost) throw this.#lost;
  }

  /** Stops the workers: each ends after its job (the EXIT job), or at once after a worker died. */
  destroy() {
    this.#destroyed = true;
    if (this.#lost) for (const worker of this.#workers) worker.terminate();
    else if (this.#workers.length) this.#post(KIND.EXIT, []);
    this.#workers = [];
  }

  // Writes the job (Int32 words, then f32 ones), runs this thread's share, waits for the workers'
  // (even when this share throws: the next job must not start under them). Rejects with an Error
  // when a worker's share threw (the worker logs why), with the DeviceLostError when a worker died
  // (before or during the job).
  async #run(kind, words, floats = []) {
    this.assertAlive();
    const memory = this.#wasm.memory;
    this.#post(kind, words, floats);
    try {
      runJob(this.#wasm.exports, memory, this.#control, 0, this.count);
    } finally {
      if (this.#workers.length) await this.#wait(new Int32Array(memory.buffer, this.#control, CONTROL_WORDS));
    }
    const failed = new Int32Array(memory.buffer, this.#control, CONTROL_WORDS)[CONTROL.FAILED];
    if (failed) throw new Error(`${failed} CPU backend thread(s) failed a step (the worker's console says why).`);
  }

  #post(kind, words, floats = []) {
    const control = new Int32Array(this.#wasm.memory.buffer, this.#control, CONTROL_WORDS);
    control.set(words, CONTROL.ARGS);
    new Float32Array(control.buffer, this.#control, CONTROL_WORDS).set(floats, CONTROL.ARGS + words.length);
    control[CONTROL.KIND] = kind;
    if (!this.#workers.length) return;
    Atomics.store(control, CONTROL.DONE, 0);
    Atomics.store(control, CONTROL.FAILED, 0);
    Atomics.add(control, CONTROL.GENERATION, 1);  // a seq-cst store: the job's words are visible first
    Atomics.notify(control, CONTROL.GENERATION);
  }

  // Until every worker has counted itself done: blocking (or spinning) for up to BLOCK_MS, then
  // with this thread's events running; rejects with the DeviceLostError when a worker dies first.
  async #wait(control) {
    const workers = this.#workers.length;
    const until = performance.now() + BLOCK_MS;
    for (let done; (done = Atomics.load(control, CONTROL.DONE)) < workers;) {
      const left = until - performance.now();
      if (left > 0) {
        this.#block(control, done, left);
      } else {
        this.assertAlive();
        await doneChanged(control, done);
      }
    }
  }

  // Atomics.wait on DONE for up to `ms`, where this thread may block; else returns (the caller spins).
  #block(control, done, ms) {
    if (!this.#blocking) return;
    try {
      Atomics.wait(control, CONTROL.DONE, done, ms);
    } catch {
      this.#blocking = false;  // a page's main thread: spin
    }
  }

  // Worker `index` stopped without being asked (`why`): no job can finish from now on.
  #workerDied(index, why) {
    if (this.#destroyed || this.#lost) return;
    this.#lost = new DeviceLostError(`CPU backend thread ${index} stopped (${why}): the model cannot run on; `
      + 'load it again.');
    this.#announceLost(this.#lost);
  }
}

// Resolves once DONE (at `control`) is no longer `done` (Atomics.waitAsync, where the engine has
// it), or after POLL_MS. The timer also keeps Node's event loop alive: the workers are unref()'d,
// and a pending waitAsync alone would let the process exit under the job.
function doneChanged(control, done) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, POLL_MS);
    const wait = Atomics.waitAsync?.(control, CONTROL.DONE, done, POLL_MS);
    if (!wait) return;
    const settle = () => {
      clearTimeout(timer);
      resolve();
    };
    if (wait.async) wait.value.then(settle);
    else settle();
  });
}

// Calls died(why) when `worker` fails (an uncaught error), cannot read a message (messageerror) or
// exits (Node; a browser worker has no exit event).
function watchWorker(worker, died) {
  const described = (event) => event?.message ?? String(event);
  if (worker.on) {  // Node
    worker.on('error', (error) => died(`error: ${described(error)}`));
    worker.on('messageerror', (error) => died(`messageerror: ${described(error)}`));
    worker.on('exit', (code) => died(`exit code ${code}`));
  } else {
    worker.addEventListener('error', (event) => died(`error: ${described(event)}`));
    worker.addEventListener('messageerror', () => died('messageerror: a message could not be read'));
  }
}

// A worker running thread_worker.js, started on `init`; resolves once it has instantiated the module.
async function startWorker(init) {
  const url = new URL('./thread_worker.js', import.meta.url);
  const worker = globalThis.Worker
    ? new Worker(url, { type: 'module' })
    : new (await import('node:worker_threads')).Worker(url);
  await new Promise((resolve, reject) => {
    const fail = (event) => reject(new Error(`A CPU backend thread failed to start: ${event.message ?? event}`));
    if (worker.once) {  // Node
      worker.once('message', resolve);
      worker.once('error', fail);
    } else {
      worker.addEventListener('message', resolve, { once: true });
      worker.addEventListener('error', fail, { once: true });
    }
    worker.postMessage(init);
  });
  if (worker.unref) worker.unref();  // Node: an idle pool does not keep the process alive
  return worker;
}
