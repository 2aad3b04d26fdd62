// What the page says about the backend that runs its model (backend.js Model.backend): nothing
// on the GPU, where the site runs as its visitors expect; a note on the CPU, where replies come
// several times slower, so that the visitor knows why and what would help. Pure text, tested in
// Node (ui.test.js); engine_start.js shows it in the page's .backend-note (templates/_loader.html).

/**
 * The note for `backend` ('webgpu' | 'wasm': engine.backend), or null where there is nothing to
 * say (the GPU). Throws a TypeError for another value (a bug of the caller).
 */
export function backendNote(backend) {
  if (backend === 'webgpu') return null;
  if (backend === 'wasm') {
    return 'Running on the CPU (WebAssembly): this browser has no usable WebGPU. Expect a few tokens a second, '
      + 'and a wait before each reply while the model reads the conversation; a browser with WebGPU runs it faster.';
  }
  throw new TypeError(`backendNote: unknown backend ${JSON.stringify(backend)}; use webgpu or wasm`);
}
