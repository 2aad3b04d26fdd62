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
export class DeviceLostError extends SitegenRuntimeError {}
export class ContextWindowExceededError extends SitegenRuntimeError {}
export class IntegrityError extends SitegenRuntimeError {} // fields: { shard } (its file name)
export class QuotaExceededError extends SitegenRuntimeError {} // fields: { needed, available } (bytes)
export class InvalidRequestError extends SitegenRuntimeError {} // fields: { field, allowed (what the field takes, where said) }
export class ModelNotLoadedError extends SitegenRuntimeError {}
export class UnsupportedModelError extends SitegenRuntimeError {}
// The engine's host (worker or service worker) failed, stopped or was replaced: the loaded model
// and the requests in flight are gone. Create the engine again.
export class EngineLostError extends SitegenRuntimeError {}

const TYPES = {
  WebGPUNotAvailableError, DeviceLostError, ContextWindowExceededError, IntegrityError,
  QuotaExceededError, InvalidRequestError, ModelNotLoadedError, UnsupportedModelError, EngineLostError,
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
