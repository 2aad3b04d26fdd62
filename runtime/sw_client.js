// CreateServiceWorkerEngine (WebLLM's name): the engine in the site's service worker, where a
// loaded model serves every tab of the site and outlives page reloads; or, where the service worker
// cannot run the model on WebGPU (it has none: WebGPU reached service workers in Chrome 124; its
// adapter refused a device; its GPU cannot hold the model: gpu_fallback.js) or none controls the
// page, in a dedicated worker of this page, on WebGPU where the worker can, else on the CPU
// (WebAssembly, engine_host.js 'auto'). The service worker never runs the CPU backend (its host
// has cpu: false): its synchronous kernels would stall every tab's fetches and the OpenAI endpoint
// there, and only a page's worker can start the threads they split their work over.
//
//   navigator.serviceWorker.register('sw.js', { type: 'module' });    // the page does this
//   const engine = await CreateServiceWorkerEngine('models/<id>/manifest.json', { initProgressCallback, maxContext });
//   engine.host;        // 'service-worker' | 'worker'; the rest of the API is CreateWorkerEngine's
//   engine.backend;     // 'webgpu' | 'wasm'
//   engine.gpuFailure;  // why 'wasm' although the GPU was tried: 'WebGPUNotAvailableError' | 'OutOfMemoryError' | ..., else null
//
// Lifetime rules of service workers (Chrome) this relies on:
// - A service worker that gets no event for 30 s is stopped, and its loaded model with it. Every
//   message is an event, so the page sends a ping every 10 s while it holds the engine. (A
//   MessageChannel port would not count: messages go to the worker object itself.) Hidden tabs may
//   run their timers only once a minute: a model left idle in a background tab can be stopped.
// - An event whose waitUntil() runs over 5 minutes gets the worker stopped unless other events
//   keep arriving: the pings cover long downloads and generations.
// - The worker may be stopped, or replaced by a new version of the site, at any time: the pings
//   compare the host's id (a restarted worker has another), and the worker object reports being
//   replaced; either way the requests in flight and later ones fail with EngineLostError.
//
// The service worker also answers the site's OpenAI endpoint (openai_endpoint.js) with the engine.
// Where the engine runs in this page's dedicated worker instead, this page answers the requests the
// service worker forwards to it (host_protocol.js ENGINE_PAGE) with that worker's engine.

import { EngineLostError, NoBackendAvailableError, WebGPUNotAvailableError } from './errors.js';
import { cpuMayReplace } from './gpu_fallback.js';
import { ENGINE_PAGE, HOST_EVENT, OP, REPLY } from './host_protocol.js';
import { WEBGPU_BROWSERS } from './webgpu_support.js';
import { Connection, CreateWorkerEngine, connectEngine } from './worker_client.js';

// On a first visit the service worker installs (precaches the site) before it is ready.
const READY_TIMEOUT_MS = 10_000;
// A service worker of an older site version has no engine: it never answers, or fails.
const HANDSHAKE_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_MS = 10_000;

// What the visitor needs, by what the browser lacks: WebGPU only (the engine was told to use it),
// or WebGPU and the CPU backend's WebAssembly SIMD both (noBackendAvailable).
const WEBGPU_HELP = `WebGPU is not available in this browser, so the model cannot run here. It runs in: ${WEBGPU_BROWSERS.join('; ')}.`;
const NO_BACKEND_HELP = 'This browser can run the model neither on its GPU (WebGPU is not available) nor on its '
  + 'CPU (WebAssembly with SIMD is not available). Open the site in a browser with WebGPU, or turn WebAssembly '
  + 'back on where a setting turned it off (a strict security mode that disables the JavaScript JIT does). It '
  + `runs in: ${WEBGPU_BROWSERS.join('; ')}.`;

// The smallest module that uses a 128-bit SIMD instruction (i8x16.popcnt of a splat, as
// wasm-feature-detect tests it): a browser that validates it can compile the CPU kernels.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0,
                                   65, 0, 253, 15, 253, 98, 11]);

/** Whether this browser offers what the CPU backend needs: WebAssembly with SIMD. */
export function hasWebAssemblySimd() {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/**
 * The NoBackendAvailableError of a browser that runs neither backend: the message names both
 * causes and the fix; `details` (text) says what each engine host found.
 */
export function noBackendAvailable(details) {
  return new NoBackendAvailableError(`${NO_BACKEND_HELP} Details: ${details}`);
}

/**
 * Load the model of `manifestUrl` in the service worker, else in a dedicated worker, and return
 * its engine. Options: as CreateWorkerEngine's (backend: 'auto' by default; 'wasm' loads in the
 * dedicated worker). The service worker's host says whether it runs the model on WebGPU (probe);
 * where it does but its load fails as gpu_fallback.js lists, the dedicated worker loads it.
 * Rejects with NoBackendAvailableError where neither backend can run (no WebGPU, and no
 * WebAssembly SIMD), WebGPUNotAvailableError with backend 'webgpu' and no WebGPU, else with the
 * host's error.
 */
export async function CreateServiceWorkerEngine(manifestUrl, options = {}) {
  const reasons = [];
  const serviceWorker = await activeServiceWorker();
  if (options.backend === 'wasm') {
    reasons.push('service worker: skipped, the CPU backend runs in the page\'s worker');
  } else if (serviceWorker) {
    const connection = new Connection(serviceWorkerPort(serviceWorker));
    const probing = { op: OP.probe, manifestUrl: new URL(manifestUrl, globalThis.location.href).href };
    const [ping, probe] = await withTimeout(HANDSHAKE_TIMEOUT_MS, Promise.all([
      connection.call({ op: OP.ping }), connection.call(probing)])).catch(() => null) ?? [];
    if (probe?.webgpu) {
      try {
        return await loadInServiceWorker(connection, serviceWorker, ping.hostId, manifestUrl, options);
      } catch (error) {
        if (!cpuMayReplace(error)) throw error;
        reasons.push(`service worker: ${error.message}`);
      }
    } else {
      reasons.push(`service worker: ${probe ? probe.reason : 'no answer (an older version of the site?)'}`);
    }
  } else {
    reasons.push('service worker: none serves this page');
  }
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  try {
    const engine = await CreateWorkerEngine(worker, manifestUrl, workerOptions(options));
    const stopAnswering = serviceWorker ? answerForwardedRequests(worker, serviceWorker, manifestUrl) : () => {};
    // The worker is this page's alone: unloading its model (a switch to another) ends it too.
    const unload = engine.unload.bind(engine);
    engine.unload = () => unload().finally(() => {
      stopAnswering();
      worker.terminate();
    });
    return engine;
  } catch (error) {
    worker.terminate();
    if (error.name !== 'WebGPUNotAvailableError') throw error;
    const details = [...reasons, `worker: ${error.message}`].join('; ');
    throw hasWebAssemblySimd() ? new WebGPUNotAvailableError(`${WEBGPU_HELP} Details: ${details}`) : noBackendAvailable(details);
  }
}

// The dedicated worker's engine options: without WebAssembly SIMD the CPU backend cannot run, so
// 'auto' comes down to WebGPU alone, whose absence then fails as WebGPUNotAvailableError (which
// the caller turns into NoBackendAvailableError), while any other failure keeps its own error.
function workerOptions(options) {
  const auto = (options.backend ?? 'auto') === 'auto';
  return auto && !hasWebAssemblySimd() ? { ...options, backend: 'webgpu' } : options;
}

/**
 * Calls `listener(event)` with each host_protocol.js HOST_EVENT.models message of the site's
 * service worker: { models: [{ manifestUrl (absolute), ready }], unloaded: [{ manifestUrl, for }] },
 * sent whenever the models its engine holds change, whoever changed them (this page, another tab,
 * an API request). Returns the function that stops listening. Nothing comes where there is no
 * service worker, or its engine holds no models (it has no WebGPU: the pages run them).
 */
export function watchHostModels(listener) {
  const container = globalThis.navigator?.serviceWorker;
  if (!container) return () => {};
  const onMessage = ({ data }) => {
    if (data?.type === HOST_EVENT.models && data.id === undefined) listener(data);
  };
  container.addEventListener('message', onMessage);
  return () => container.removeEventListener('message', onMessage);
}

// The service worker that serves this page, once it is active; null if there is none in time.
async function activeServiceWorker() {
  const container = globalThis.navigator?.serviceWorker;
  if (!container) return null; // no service workers here (not a secure context, some private modes)
  container.startMessages(); // replies may arrive before the document has loaded
  const registration = await withTimeout(READY_TIMEOUT_MS, container.ready);
  // An uncontrolled page (first visit, or a hard reload) can still talk to the active worker.
  return registration ? (container.controller ?? registration.active) : null;
}

// The service worker as a Connection port: requests go to the worker object, each its own
// message event (which keeps the worker alive); replies come to this page's container.
function serviceWorkerPort(worker) {
  return {
    postMessage: (message) => worker.postMessage(message),
    addEventListener: (type, listener) => navigator.serviceWorker.addEventListener(type, listener),
  };
}

async function loadInServiceWorker(connection, worker, hostId, manifestUrl, options) {
  const stopWatching = watchServiceWorker(connection, worker, hostId);
  try {
    return await connectEngine(connection, manifestUrl, options, { host: 'service-worker', onUnload: stopWatching });
  } catch (error) {
    stopWatching();
    throw error;
  }
}

// Keeps the worker alive while the page holds its engine (see the lifetime rules above), fails
// the connection when the worker that holds the model is gone, and gives up the page's requests
// when the page goes away. Returns the function that stops all this.
function watchServiceWorker(connection, worker, hostId) {
  const container = navigator.serviceWorker;
  const lose = (why) => {
    connection.fail(new EngineLostError(`The service worker that ran the model ${why}: the model and the replies `
      + 'in progress are gone. Create the engine again (or reload the page).'));
    stop();
  };
  const onStateChange = () => {
    if (worker.state === 'redundant') lose('was replaced by a new version of the site');
  };
  const onControllerChange = () => {
    // The worker claiming an uncontrolled page is the same worker; another one is a new version.
    if (container.controller && container.controller !== worker) lose('was replaced by a new version of the site');
  };
  const onPageHide = () => connection.abandon();
  const ping = async () => {
    const reply = await connection.call({ op: OP.ping }).catch(() => null);
    if (reply && reply.hostId !== hostId) lose('was stopped by the browser');
  };
  const timer = setInterval(ping, KEEP_ALIVE_MS);
  worker.addEventListener('statechange', onStateChange);
  container.addEventListener('controllerchange', onControllerChange);
  globalThis.addEventListener('pagehide', onPageHide);
  function stop() {
    clearInterval(timer);
    worker.removeEventListener('statechange', onStateChange);
    container.removeEventListener('controllerchange', onControllerChange);
    globalThis.removeEventListener('pagehide', onPageHide);
  }
  return stop;
}

// Runs the endpoint requests that the service worker forwards to this page on the engine in
// `worker` (loaded with the model of `manifestUrl`), and offers this page for them, naming that
// model, to `serviceWorker` now and to any later one that asks. The requests go through a
// Connection of their own, so they queue with the page's chat; the worker serves one connection
// though, so the page's Stop (interruptGenerate) ends them too. The page withdraws its offer when
// it stops answering (the returned function: its model is unloaded) and while it is hidden away
// (pagehide: closed, or kept in the back-forward cache, from which pageshow offers it again).
// Returns the function that stops answering.
function answerForwardedRequests(worker, serviceWorker, manifestUrl) {
  const relay = new Connection(worker);
  const ids = new Map(); // the service worker's request id -> the relay's
  const last = new Set([REPLY.result, REPLY.done, REPLY.error]);
  const offer = { op: ENGINE_PAGE.offer, manifestUrl: new URL(manifestUrl, globalThis.location.href).href };
  const told = new Set([serviceWorker]); // the service workers this page offered itself to
  const answer = ({ data, source }) => {
    if (data?.op === ENGINE_PAGE.query) {
      told.add(source);
      source.postMessage(offer);
    }
    if (data?.op !== ENGINE_PAGE.forward) return;
    const { id, op, request, model } = data.message;
    if (op === OP.close) {
      if (ids.has(id)) {
        relay.send({ op: OP.close, id: ids.get(id) });
        relay.forget(ids.get(id)); // a request that still waited gets no reply
      }
      ids.delete(id);
      return;
    }
    if (op !== OP.create && op !== OP.completion) return; // the endpoint forwards nothing else
    source.postMessage({ op: ENGINE_PAGE.accept, requestId: id });
    ids.set(id, relay.open({ op, request, progress: false, model }, (reply) => {
      if (last.has(reply.type)) ids.delete(id);
      source.postMessage({ op: ENGINE_PAGE.reply, reply: { ...reply, id } });
      return last.has(reply.type);
    }));
  };
  const tell = (message) => {
    for (const target of told) {
      try {
        target.postMessage(message);
      } catch {
        // a service worker replaced since (redundant) takes no messages, and needs none
      }
    }
  };
  const withdraw = () => tell({ op: ENGINE_PAGE.withdraw });
  const reoffer = (event) => {
    if (event.persisted) tell(offer);
  };
  navigator.serviceWorker.addEventListener('message', answer);
  globalThis.addEventListener('pagehide', withdraw);
  globalThis.addEventListener('pageshow', reoffer);
  serviceWorker.postMessage(offer);
  return () => {
    navigator.serviceWorker.removeEventListener('message', answer);
    globalThis.removeEventListener('pagehide', withdraw);
    globalThis.removeEventListener('pageshow', reoffer);
    withdraw();
  };
}

// `promise`'s value, or null if it takes longer than `ms`.
function withTimeout(ms, promise) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(resolve, ms, null); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
