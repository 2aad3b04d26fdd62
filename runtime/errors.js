// Typed errors of the runtime. Each sets `name`, so callers can branch on err.name (as they do
// with DOMException), and survives postMessage: toPlain() / fromPlain() carry name, message and
// the extra fields across a worker boundary.

export class SitegenRuntimeError extends Error {
  constructor(message, fields = {}) {
    super(message);
    this.name = new.target.name;
    Object.assign(this, fields);
  }
}

export class WebGPUNotAvailableError extends SitegenRuntimeError {}
// Neither backend can run here: no usable WebGPU, and no WebAssembly with SIMD for the CPU one.
export class NoBackendAvailableError extends SitegenRuntimeError {}
export class DeviceLostError extends SitegenRuntimeError {}
export class ContextWindowExceededError extends SitegenRuntimeError {} // fields: { promptTokens, contextLength, maxTokens, field, messageTokens (a chat's last message alone, where that does not fit) }
export class IntegrityError extends SitegenRuntimeError {} // fields: { shard } (its file name)
export class QuotaExceededError extends SitegenRuntimeError {} // fields: { needed, available } (bytes)
export class InvalidRequestError extends SitegenRuntimeError {} // fields: { field, allowed (what the field takes, where said) }
export class ModelNotLoadedError extends SitegenRuntimeError {}
// fields, where the model and its context need more memory than the backend can have (the CPU
// backend's WebAssembly memory): { needed, available } (bytes); the message names the engine
// options that would help, the page's problem text (runtime/ui/problems.js) the visitor's ways out.
export class UnsupportedModelError extends SitegenRuntimeError {}
// The engine's host (worker or service worker) failed, stopped or was replaced: the loaded model
// and the requests in flight are gone. Create the engine again.
export class EngineLostError extends SitegenRuntimeError {}
// The model's memory could not be had: the GPU ran out while its buffers were allocated (a WebGPU
// 'out-of-memory' error), or the browser refused to grow the CPU backend's WebAssembly memory. A
// smaller model, or unloading others, may fit.
export class OutOfMemoryError extends SitegenRuntimeError {}
// A file could not be fetched because the network failed (offline, the host unreachable, the
// connection dropped mid-download), as opposed to the server answering with an error status.
// fields: { url } (the file's). Trying again once online can succeed.
export class NetworkError extends SitegenRuntimeError {}

const TYPES = {
  WebGPUNotAvailableError, NoBackendAvailableError, DeviceLostError, ContextWindowExceededError, IntegrityError,
  QuotaExceededError, InvalidRequestError, ModelNotLoadedError, UnsupportedModelError, EngineLostError,
  NetworkError, OutOfMemoryError,
};

export function toPlain(error) {
  const { name = 'Error', message = String(error), ...fields } = error ?? {};
  return { name, message, fields: JSON.parse(JSON.stringify(fields)) };
}

export function fromPlain({ name, message, fields }) {
  const Type = TYPES[name];
  if (Type) return new Type(message, fields);
  const error = new Error(message);
  error.name = name;
  return Object.assign(error, fields);
}
