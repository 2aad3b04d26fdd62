// The names of the backends and of the `backend` option that chooses among them (CreateEngine's,
// the worker and service-worker engines', loadBackend's), with the check every entry point makes,
// so a mistyped choice is refused by name wherever it is given instead of loading on another
// backend. Imports nothing: the page side (host_protocol.js) uses it without model code.

/** The backends that run models, by the name Model.backend (backend.js) reports. */
export const BACKENDS = Object.freeze(['webgpu', 'wasm']);

/**
 * `backend` if it is a backend's name or 'auto' (WebGPU where available, else the CPU); throws a
 * RangeError naming it and the choices otherwise.
 * @param {unknown} backend
 * @returns {'webgpu' | 'wasm' | 'auto'}
 */
export function assertBackendChoice(backend) {
  if (backend !== 'auto' && !BACKENDS.includes(backend)) {
    throw new RangeError(`backend ${JSON.stringify(backend)} does not exist: one of ${BACKENDS.join(', ')}, `
      + 'or auto to use WebGPU where it is available and the CPU (WebAssembly) otherwise.');
  }
  return backend;
}
