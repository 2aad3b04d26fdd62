// What the page says about the backend that runs its model (backend.js Model.backend): nothing
// on the GPU, where the site runs as its visitors expect; a note on the CPU, where replies come
// several times slower, so that the visitor knows why and what would help. Pure text, tested in
// Node (ui.test.js); engine_start.js shows it in the page's .backend-note (templates/_loader.html).

// Why the CPU runs the model, and what would run it faster, by the error its WebGPU load met
// (gpu_fallback.js GPU_FALLBACK_ERRORS).
const WHY_CPU = {
  WebGPUNotAvailableError: { why: 'this browser has no usable WebGPU', faster: 'a browser with WebGPU runs it faster' },
  OutOfMemoryError: { why: 'this GPU cannot hold the model (it ran out of memory)',
                      faster: 'closing other GPU-heavy tabs, then reloading, may let the GPU run it' },
  UnsupportedModelError: { why: 'this GPU cannot hold the model (it exceeds the GPU\'s limits)',
                           faster: 'a device with a larger GPU runs it faster' },
};

/**
 * The note for `backend` ('webgpu' | 'wasm': engine.backend), or null where there is nothing to
 * say (the GPU). `gpuFailure`: engine.gpuFailure, the name of the error of the WebGPU load the CPU
 * took over from; null (or left out): none given, as where the browser has no usable WebGPU (the
 * pages never ask for the CPU backend themselves). Throws a TypeError for another value of either
 * (a bug of the caller).
 */
export function backendNote(backend, gpuFailure = null) {
  if (backend === 'webgpu') return null;
  if (backend !== 'wasm') throw new TypeError(`backendNote: unknown backend ${JSON.stringify(backend)}; use webgpu or wasm`);
  const reason = WHY_CPU[gpuFailure ?? 'WebGPUNotAvailableError'];
  if (!reason) {
    throw new TypeError(`backendNote: unknown gpuFailure ${JSON.stringify(gpuFailure)}; use one of `
      + `${Object.keys(WHY_CPU).join(', ')}, or null`);
  }
  return `Running on the CPU (WebAssembly): ${reason.why}. Expect a few tokens a second, and a wait before each `
    + `reply while the model reads the conversation; ${reason.faster}.`;
}

/**
 * The sentence the CPU note gains where the CPU backend runs on one thread but a reload would run it
 * on `threads` (engine_start.js threadsAfterReload: the page not cross-origin isolated yet, the
 * service worker ready to make the next load so). Throws a RangeError unless `threads` is a whole
 * number above 1 (one thread is what runs already: a bug of the caller).
 * @param {number} threads
 * @returns {string}
 */
export function reloadForThreadsNote(threads) {
  if (!(Number.isInteger(threads) && threads > 1)) throw new RangeError(`reloadForThreadsNote: ${threads} threads; give more than 1`);
  return `Reload the page to run it on ${threads} threads instead of 1, for faster replies.`;
}
