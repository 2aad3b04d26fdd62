// When the CPU backend (runtime/wasm/) may run a model whose WebGPU load failed: the one list,
// read by backend.js ('auto' in one thread), engine_host.js ('auto' in a dedicated worker, after
// its unload-and-retry) and the pages' side (sw_client.js: the service worker, which never runs
// the CPU backend, gives such a load to the page's dedicated worker). This module imports nothing,
// so the page side stays free of model code.

/**
 * The names (errors.js) of the WebGPU load failures that the CPU backend may take over from, and
 * why each is sound: the WebGPU backend (webgpu/model.js loadModel) throws each of them before it
 * reads any shard, and destroys its device on the way out, so falling back re-downloads nothing and
 * leaves no GPU memory held.
 *   WebGPUNotAvailableError  no navigator.gpu, no adapter, or the adapter refused a device: the
 *                            GPU cannot run anything here
 *   OutOfMemoryError         the GPU had no room for the model's buffers (a host has already
 *                            unloaded its other models and tried once more): this GPU cannot hold it
 *   UnsupportedModelError    the GPU cannot run the model: a tensor over the device's storage
 *                            binding limit (webgpu/weights.js), or a manifest the kernels refuse;
 *                            the CPU backend checks the manifest itself (format, kernels/limits.json)
 *                            and refuses what neither runs with its own UnsupportedModelError
 * Every other failure stays the load's: DeviceLostError (the device went away mid-load: the GPU
 * runs again after a reload, which the visitor is told), IntegrityError, NetworkError and
 * QuotaExceededError (the model's files, the same on either backend), anything else (a bug, to be
 * seen).
 */
export const GPU_FALLBACK_ERRORS = Object.freeze(['WebGPUNotAvailableError', 'OutOfMemoryError', 'UnsupportedModelError']);

/** Whether the CPU backend may take over a model whose WebGPU load rejected with `error` (above). */
export function cpuMayReplace(error) {
  return GPU_FALLBACK_ERRORS.includes(error?.name);
}
