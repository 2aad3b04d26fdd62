// The protocol between an engine host (engine_host.js, run by worker.js in a dedicated worker and
// by service_worker.js in the service worker) and its clients (worker_client.js, sw_client.js).
// Both sides import the names below from here; this module imports no model code (only
// backend_choice.js's names), so the page side stays free of it.
//
// Each client numbers its requests (ids unique per client); every reply carries its id.
//   client -> host  { id, op: 'load', manifestUrl, options }   loadMessage(); options: ENGINE_OPTIONS
//                   { id, op: 'create', request, progress, model }  an OpenAI chat-completions request;
//                                                     progress: true asks for its progress reports;
//                                                     model: the absolute manifest URL of the model
//                                                     it is for (left out: the client's last 'load')
//                   { id, op: 'completion', request, progress }  an OpenAI completions request
//                                                     (engine.completions.create); the rest as 'create'
//                   { id, op: 'close' }               the client gave up request `id` (left its
//                                                     stream, or is leaving the page)
//                   { id, op: 'resetChat' } | { id, op: 'unload' }
//                   { id, op: 'probe', manifestUrl }  result: { webgpu, reason }: can this host run that
//                                                     model (left out: any model) on WebGPU: a usable
//                                                     adapter, and no earlier WebGPU load of it failed
//                                                     (engine_host.js probe())? A service worker's host
//                                                     runs WebGPU only; a page's worker else the CPU
//                   { id, op: 'ping' }                result: { hostId }, random per host instance:
//                                                     a keep-alive that also reveals a restarted host
//                   { op: 'interrupt' }               no reply
//   host -> client  { id, type: 'progress', report }  load: while loading (load_progress.js
//                                                     ProgressReport); create with progress: true:
//                                                     until its first token (request_progress.js
//                                                     RequestProgressReport)
//                   { id, type: 'result', value }     load: { modelId, backend ('webgpu' | 'wasm': engine.js
//                                                     Engine.backend), gpuFailure (the name of the error
//                                                     the WebGPU load met where the CPU took over, else
//                                                     null) }; create, completion: the response;
//                                                     resetChat, unload: no value
//                   { id, type: 'checked' }           create, completion: the request passed every check
//                                                     made before it waits for its turn (EngineHost
//                                                     generate(): request.js, the chat template, tool
//                                                     support, the context window); an error after
//                                                     this one is found only while it runs. One that
//                                                     fails them gets its 'error' instead, at once
//                   { id, type: 'stream' }            create, completion with stream: true; then, as they come:
//                   { id, type: 'chunk', chunk } ... { id, type: 'done' }
//                   { id, type: 'error', error }      errors.js toPlain(); ends the request or stream
//                   { type: HOST_EVENT.models, models, unloaded }  no id, to every connection, whenever
//                                                     the models held change (a load starts, ends or
//                                                     fails; an unload; a device loss): models: [{
//                                                     manifestUrl, ready, backend }] loaded (ready) or loading,
//                                                     most recently used first; unloaded: [{ manifestUrl,
//                                                     for }]: models unloaded just now to make room for
//                                                     the model of id `for` (else []). A page's model
//                                                     picker shows them (sw_client.js watchHostModels)
// Besides, a page sends { op: TAKE_OVER } to a new version of the service worker that waits to
// take over (runtime/app.js, when the visitor accepts the update): it activates at once instead of
// when every tab has closed. That message is the service worker's own, not the engine host's.
//
// The service worker also serves the site's OpenAI endpoint (openai_endpoint.js). Where it has no
// WebGPU, the engine runs in a page's dedicated worker (sw_client.js decides: there the CPU backend
// may split its work over threads, which a service worker cannot start), and the service
// worker forwards the endpoint's requests to such a page; these messages are its own too:
//   page -> sw   { op: ENGINE_PAGE.offer, manifestUrl }  this page runs the model of manifestUrl
//                                                      (absolute) and takes forwarded requests for it
//                                                      (sent once loaded, to a query, and when the
//                                                      page comes back from the back-forward cache)
//   page -> sw   { op: ENGINE_PAGE.withdraw }          this page no longer answers (its model was
//                                                      unloaded: a switch; or pagehide): the requests
//                                                      forwarded to it fail with EngineLostError
//   sw -> page   { op: ENGINE_PAGE.query }             which pages run which model? (a restarted
//                                                      service worker has forgotten the offers)
//   sw -> page   { op: ENGINE_PAGE.forward, message }  a client -> host message ('create',
//                                                      'completion', 'close'; ids the service worker's)
//                                                      for the page's engine; requests go to a page
//                                                      that offered the model they are for
//   page -> sw   { op: ENGINE_PAGE.accept, requestId }  the page took forwarded request requestId (at once:
//                                                      one not taken within a timeout counts the page
//                                                      as gone, as a withdrawal does)
//   page -> sw   { op: ENGINE_PAGE.reply, reply }      a host -> client reply to one, under that id
// None of them has a top-level id, so no Connection mistakes one for a reply of its own.
//
// Sharing rules:
// - A host holds several models while they fit, one per manifest URL: their estimated sizes
//   (engine_host.js modelBytes: weights plus KV cache) must fit its memory budget together
//   (engine_host.js defaultMemoryBudget: half of navigator.deviceMemory, since a WebGPU adapter
//   does not say how much GPU memory it has; where the platform does not say either, one model at
//   a time). A 'load' of another model first unloads the least recently used models until it fits,
//   and should the GPU still run out of memory while it loads (OutOfMemoryError), unloads all the
//   others and tries once more; the HOST_EVENT.models message says which it unloaded, for whom.
//   A create or completion for a model that is not loaded (its 'model', else the connection's last
//   'load') fails with ModelNotLoadedError, at once or, unloaded while the request waited, when its
//   turn comes, rather than run on another model (its `loaded` field: the model it was unloaded to
//   make room for, if so); an 'unload' from a connection whose model was unloaded since leaves the
//   others alone.
// - 'load' of the manifest URL and options that are loaded returns at once (its one progress
//   report: the 'ready' one of that load); of those being loaded, joins that load (its progress
//   goes to every connection waiting on it). This is how a model outlives page reloads and is
//   shared by tabs. The same manifest with other options replaces that model, for every
//   connection; 'unload' ends the connection's model for every connection. After a GPU device
//   loss, requests fail with DeviceLostError and the next 'load' loads the model again.
// - Generations of all connections run one at a time, in the order their 'create' arrived. A
//   request is checked before it waits ('checked', else 'error'), and a stream accepted ('stream')
//   when its turn comes. Until then, a create that asked for progress hears that it waits, and
//   whether for another connection (tab).
// - 'interrupt' ends the connection's own open creates, never another connection's: the running
//   generation at its next token (or between slices of its prompt), and those still waiting for
//   their turn at once, leaving the queue. Each ends as an aborted reply, as the in-thread
//   engine's interruptGenerate() ends them (engine.js): a 'result' with finish_reason 'abort', or
//   a stream ('stream', its last chunks, 'done'), with no content when stopped before its first
//   token. 'close' ends a stream ('done' follows), drops a request still waiting for its turn (no
//   reply) and interrupts a running non-streamed one.
// - A connection closed (its page is gone) gives up all its requests as 'close' does.

import { assertBackendChoice } from './backend_choice.js';

/** Operations, the `op` of client messages. */
export const OP = Object.freeze({
  load: 'load',
  create: 'create',
  completion: 'completion',
  close: 'close',
  resetChat: 'resetChat',
  unload: 'unload',
  probe: 'probe',
  ping: 'ping',
  interrupt: 'interrupt',
});

/** Reply types, the `type` of host messages. */
export const REPLY = Object.freeze({
  progress: 'progress',
  result: 'result',
  checked: 'checked',
  stream: 'stream',
  chunk: 'chunk',
  done: 'done',
  error: 'error',
});

/** The `type`s of the host's messages to every connection (no id: no request's reply; above). */
export const HOST_EVENT = Object.freeze({
  models: 'models',
});

/** The `op` of the message that makes a waiting service worker take over (above). */
export const TAKE_OVER = 'take-over';

/** The `op`s of the messages that forward the OpenAI endpoint's requests to a page (above). */
export const ENGINE_PAGE = Object.freeze({
  offer: 'engine-page-offer',
  withdraw: 'engine-page-withdraw',
  query: 'engine-page-query',
  accept: 'engine-page-accept',
  forward: 'engine-page-forward',
  reply: 'engine-page-reply',
});

/** Whether `op` is an engine host operation (OP), as opposed to the service worker's own messages. */
export function isHostOperation(op) {
  return Object.values(OP).includes(op);
}

// The CreateEngine options (engine.js) a client passes through a host, each with how the client
// prepares its value for the host: `absolute(url)` resolves a URL against the page, since the
// host would resolve a relative one against its own script. Other options stay where they are:
// initProgressCallback on the client's side (progress comes as replies), gpu the host's own.
const ENGINE_OPTIONS = {
  backend: (value) => (value === undefined ? undefined : assertBackendChoice(value)),
  maxContext: (value) => value,
  weightsUrl: (value, absolute) => (value ? absolute(value) : undefined), // '' too: none
};

/**
 * The client's 'load' message (without its id): { op: 'load', manifestUrl (absolute), options:
 * { backend, maxContext, weightsUrl (absolute, or undefined) } }. Throws a RangeError for a
 * backend that does not exist (backend_choice.js), before anything is sent.
 * @param {string | URL} manifestUrl
 * @param {{ backend?: 'auto' | 'webgpu' | 'wasm', maxContext?: number, weightsUrl?: string | URL }} options
 *   CreateEngine's (undefined: its default); others are ignored
 * @param {(url: string | URL) => string} absolute  resolves a URL against the page
 */
export function loadMessage(manifestUrl, options, absolute) {
  const prepared = Object.entries(ENGINE_OPTIONS).map(([name, prepare]) => [name, prepare(options[name], absolute)]);
  return { op: OP.load, manifestUrl: absolute(manifestUrl), options: Object.fromEntries(prepared) };
}

/**
 * The host's side of a 'load' message's options: the engine options it passes to CreateEngine
 * (anything else a client sent is dropped), and the key that tells two loads apart: loads with
 * the same manifest URL and options share one model.
 * @returns {{ options: { backend, maxContext, weightsUrl }, key: string }}
 */
export function readLoad({ manifestUrl, options }) {
  const engineOptions = Object.fromEntries(Object.keys(ENGINE_OPTIONS).map((name) => [name, options?.[name] ?? undefined]));
  const key = JSON.stringify([manifestUrl, ...Object.values(engineOptions).map((value) => value ?? null)]);
  return { options: engineOptions, key };
}
