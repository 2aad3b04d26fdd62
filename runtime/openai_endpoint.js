// The site's OpenAI endpoint: its service worker (service_worker.js) answers HTTP requests to
// `<scope>v1/...` on the site's own origin, under the site's own path, so any OpenAI client
// library talks to the model on the visitor's GPU by changing only its base URL:
//
//   GET  <scope>v1/models             { object: 'list', data: [Model] }: the site's models
//   GET  <scope>v1/models/<id>        that Model (404 for another id)
//   POST <scope>v1/chat/completions   engine.chat.completions.create(body)
//   POST <scope>v1/completions        engine.completions.create(body)
//
// A request body is what the engine takes (runtime/request.js checks it, and refuses what it
// cannot honour naming the field); `model` may be left out (the loaded model used last, else the
// site's first), and names one of the site's models if given: the service worker then loads that
// one, beside those loaded while they fit (host_protocol.js).
// The reply is the engine's: JSON, or with `stream: true` server-sent events exactly as OpenAI
// sends them: `data: <chunk JSON>\n\n` per chunk, then `data: [DONE]\n\n`. An error after the
// stream began comes as one last event `data: {"error": {...}}` without [DONE], as OpenAI's API
// sends it (its SDKs throw it as an APIError).
//
// Heartbeats: a reply whose body has nothing to say for HEARTBEAT_MS says something. Once the
// request is checked (its 400, 404, 503 keep their statuses): here (the body, its model), by
// `connect` (request.js against the model's manifest) and then by the engine host before the
// request waits for its turn (the chat template, tokenisation and the context window, the model's
// tool support: host_protocol.js 'checked'), a reply or error that comes within HEARTBEAT_MS is
// answered as it is; else status 200 and the reply's headers go out then, and the body holds a
// heartbeat after every HEARTBEAT_MS of silence while the request waits its turn and
// runs: a JSON reply a space (JSON allows leading whitespace: JSON.parse and every client read it
// as the object), then the completion's JSON; a streamed one an SSE comment line `: keep-alive`
// (skipped by EventSource and the openai SDKs' parsers, as the SSE standard says), then its events.
// Why: Chromium never fires a service worker's FetchEvent request.signal, so a caller's abort
// (AbortController, an SDK's timeout) reaches the worker only as the cancel of a response body it
// already has; and Chromium fails a fetch whose respondWith() has not resolved within 5 minutes,
// which a long generation, or one waiting behind others, would pass (a body may last longer, while
// no waitUntil() keeps its fetch event open: see generate()). An abort before the headers reaches
// the worker when they go out (Chromium then cancels the body nobody reads). The cost: an error
// that comes after the headers (one found only while the request runs, which a stream, or a reply
// that waited or ran HEARTBEAT_MS, meets with its headers out: a response_format or tool-call
// grammar that allows no token, or that xgrammar cannot compile; its model unloaded, while it
// waited, to make room for another; a lost GPU device; the page that ran it closed) cannot change
// the status any more: a JSON body is then
// OpenAI's error object `{"error": {message, type, param, code}}` under status 200, which a client
// tells from a completion by its `error` field; a stream's is its last event, as above. And
// a client timeout that ends with the headers (the openai SDKs' `timeout` option) bounds the wait
// for those only, as for any stream: to bound the whole request, abort it (an AbortSignal, e.g. the
// SDK's `signal: AbortSignal.timeout(ms)`).
//
// The requests go to an engine host (engine_host.js) as the 'create' and 'completion' messages
// of host_protocol.js, over a worker_client.js Connection that service_worker.js supplies: to its
// own EngineHost, or forwarded to a page that runs the engine. Either way they queue with the
// pages' own chats, one generation at a time. Cancelling (the caller aborts the request, or
// cancels the response body, i.e. closes the stream) sends 'close': a stream ends and frees the
// engine, a request still waiting leaves the queue, a running non-streamed one stops. A request
// aborted before its response is answered with Response.error(), a network error: the caller's
// fetch() has rejected with an AbortError already and reads no status (HTTP has none for "the
// client went away"; nginx's 499 is no standard and OpenAI never sends it).
//
// A request is checked before it can be refused for its model not running yet (503): a client
// retries a 503, and would retry an invalid request forever. HEAD is answered as GET, without a body.
//
// Errors are OpenAI's JSON `{ error: { message, type, param, code } }` with OpenAI's statuses
// (ERRORS below). Same-origin callers need no CORS headers, and none are sent: another origin's
// pages must not drive this visitor's GPU.

import { ModelNotLoadedError, fromPlain } from './errors.js';
import { OP, REPLY } from './host_protocol.js';
import { ModelFiles } from './model_cache.js';
import { parseChatRequest, parseCompletionRequest } from './request.js';
import { Connection } from './worker_client.js';

/**
 * A typed runtime error (errors.js name) -> its HTTP answer: status, OpenAI's error `type`, its
 * `code`; `retry`: a 503 whose Retry-After says when to try again (the error's `retryAfter`
 * field, in seconds, else DEFAULT_RETRY_AFTER_S). Others are 500 server_error. InvalidRequestError
 * and ContextWindowExceededError name the request field in `param` (the error's `field`; for a
 * ContextWindowExceededError without one, the prompt's field).
 */
const ERRORS = {
  InvalidRequestError: { status: 400, type: 'invalid_request_error', code: null },
  // OpenAI's code and status for a prompt, or a prompt and max_tokens, longer than the context window.
  ContextWindowExceededError: { status: 400, type: 'invalid_request_error', code: 'context_length_exceeded' },
  // The model is loading, or no page runs it (service_worker.js says which).
  ModelNotLoadedError: { status: 503, type: 'server_error', code: 'model_not_loaded', retry: true },
  WebGPUNotAvailableError: { status: 503, type: 'server_error', code: 'webgpu_not_available', retry: true },
  // This browser runs neither backend (sw_client.js): no Retry-After, since waiting cannot help here.
  NoBackendAvailableError: { status: 503, type: 'server_error', code: 'no_backend_available' },
  // The page or worker that ran the model went away mid-request.
  EngineLostError: { status: 503, type: 'server_error', code: 'engine_lost', retry: true },
  // The model's files could not be downloaded (offline): its message says so.
  NetworkError: { status: 503, type: 'server_error', code: 'network_error', retry: true },
  DeviceLostError: { status: 500, type: 'server_error', code: 'device_lost' },
};
const DEFAULT_RETRY_AFTER_S = 10;
// Retry-After while a model loads: its download's time left plus the upload to the GPU (a
// guess), else RETRY_UNKNOWN_S; at most OpenAI's SDKs' limit (they retry at once past 60 s).
const LOAD_AFTER_DOWNLOAD_S = 3;
const RETRY_UNKNOWN_S = 5;
const RETRY_MAX_S = 60;

// Each generation route: its host operation, the prompt's request field (the `param` of a
// context-window error), request.js's check of its requests, and the other route, whose prompt
// field sent here means the caller picked the wrong one.
const GENERATIONS = {
  'chat/completions': { op: OP.create, promptField: 'messages', parse: parseChatRequest, other: 'completions' },
  completions: { op: OP.completion, promptField: 'prompt', parse: parseCompletionRequest, other: 'chat/completions' },
};

const encoder = new TextEncoder();

/** The server-sent event of one chunk (or error body): `data: <JSON>\n\n`. */
export function sseEvent(value) {
  return `data: ${JSON.stringify(value)}\n\n`;
}

/** The event that ends a stream, as OpenAI sends it. */
export const SSE_DONE = 'data: [DONE]\n\n';

/**
 * An error the endpoint itself answers with (not the engine): an HTTP status and OpenAI's error
 * fields. headers: extra response headers (Allow for a 405).
 */
export class EndpointError extends Error {
  constructor(status, message, { type = 'invalid_request_error', param = null, code = null, headers = {} } = {}) {
    super(message);
    this.name = 'EndpointError';
    Object.assign(this, { status, type, param, code, headers });
  }
}

/**
 * The HTTP answer to `error`: { status, headers, body: { error: { message, type, param, code } } }.
 * `error`: an EndpointError, or a runtime error (errors.js type, by its name; see ERRORS).
 * promptField: the request field a ContextWindowExceededError is about ('messages', 'prompt').
 */
export function errorAnswer(error, { promptField = null } = {}) {
  if (error instanceof EndpointError) {
    const { status, type, param, code, headers } = error;
    return { status, headers, body: { error: { message: error.message, type, param, code } } };
  }
  const { status, type, code, retry = false } = ERRORS[error?.name] ?? { status: 500, type: 'server_error', code: null };
  const param = { InvalidRequestError: error?.field ?? null, ContextWindowExceededError: error?.field ?? promptField }[error?.name] ?? null;
  const headers = retry ? { 'Retry-After': String(error.retryAfter ?? DEFAULT_RETRY_AFTER_S) } : {};
  return { status, headers, body: { error: { message: String(error?.message ?? error), type, param, code } } };
}

/**
 * The OpenAI Model object of a model id. `created` (OpenAI: the model's creation time in Unix
 * seconds) is 0: a build records no dates, so that the same input gives the same site.
 */
export function modelObject(id) {
  return { id, object: 'model', created: 0, owned_by: 'sitegen' };
}

/**
 * The endpoint's fetch handling.
 * @param {object} site
 * @param {string} site.scope  the service worker's scope (absolute, ends with '/'): the endpoint
 *   is `${scope}v1`
 * @param {string[]} site.modelIds  the ids of the models the site serves (/v1/models)
 * @param {number} [site.heartbeatMs]  milliseconds a reply may take before its headers go out, and
 *   that its body may then stay silent before a heartbeat (HEARTBEAT_MS; tests pass less)
 * @param {(waitUntil: (p: Promise) => void, modelId: string | undefined, check: (manifest: object) => void) => Promise<{ connection, manifestUrl }>} site.connect
 *   `connection`: a worker_client.js Connection to the engine host that runs the request for the
 *   model `modelId` (one of modelIds, undefined when the request names none); `manifestUrl`: the
 *   absolute manifest URL of the model the request is for (the host refuses to run it on another),
 *   or null for whichever is loaded. Rejects with a typed runtime error (ModelNotLoadedError with
 *   retryAfter while the model loads, NetworkError where its files cannot be fetched, ...); first,
 *   loaded or not, it calls `check` with that model's manifest, which throws the request's
 *   InvalidRequestError (request.js). `waitUntil` keeps the service worker
 *   alive for work it starts (a load).
 * @returns {(request: Request, waitUntil: (p: Promise) => void) => Promise<Response> | null}
 *   the response to a request under `${scope}v1`, else null (not the endpoint's: let it pass)
 */
export function openAIEndpoint({ scope, modelIds, connect, heartbeatMs = HEARTBEAT_MS }) {
  const base = `${scope}v1`;
  return (request, waitUntil) => {
    const url = new URL(request.url);
    const path = url.origin + url.pathname;
    if (path !== base && !path.startsWith(`${base}/`)) return null;
    const route = path.slice(base.length + 1);
    return answer(request, route, { modelIds, connect, waitUntil, heartbeatMs }).catch((error) => respondError(error));
  };
}

// The response to `request` for `route` (its path after v1/).
async function answer(request, route, site) {
  const methods = methodsOf(route, request, site);
  const what = `${request.method} ${new URL(request.url).pathname}`;
  // OpenAI's wording for both.
  if (!methods) throw new EndpointError(404, `Invalid URL (${what})`);
  // HEAD is GET without the body (RFC 9110 9.3.2), wherever GET is answered.
  const allowed = methods.GET ? { ...methods, HEAD: async () => withoutBody(await methods.GET()) } : methods;
  if (!Object.hasOwn(allowed, request.method)) {
    const names = Object.keys(allowed).join(', ');
    throw new EndpointError(405, `Invalid method for URL (${what}): use ${names}.`, { headers: { Allow: names } });
  }
  return allowed[request.method]();
}

function withoutBody(response) {
  return new Response(null, { status: response.status, headers: response.headers });
}

// The methods `route` takes, each a function giving its response; null for no such route.
function methodsOf(route, request, { modelIds, connect, waitUntil, heartbeatMs }) {
  if (route === 'models') return { GET: () => jsonResponse(200, { object: 'list', data: modelIds.map(modelObject) }) };
  if (route.startsWith('models/')) {
    return { GET: () => jsonResponse(200, modelObject(knownModel(modelIds, decodedId(route.slice('models/'.length))))) };
  }
  if (!Object.hasOwn(GENERATIONS, route)) return null;
  return { POST: async () => generate(await readBody(request, modelIds, GENERATIONS[route]), GENERATIONS[route],
                                      { connect, waitUntil, heartbeatMs, signal: request.signal }) };
}

// `id` if the site serves it, else OpenAI's 404 (`fix` after the site's models: what to send instead).
function knownModel(modelIds, id, fix = '') {
  if (modelIds.includes(id)) return id;
  if (id === '') {
    throw new EndpointError(404, `No model named: ask GET v1/models/<id> for one of ${listed(modelIds)}, or GET `
                            + 'v1/models for the list.', { param: 'model', code: 'model_not_found' });
  }
  throw new EndpointError(404, `The model \`${id}\` does not exist. This site serves ${listed(modelIds)}${fix}.`,
                          { param: 'model', code: 'model_not_found' });
}

const listed = (modelIds) => modelIds.map((id) => `\`${id}\``).join(', ');

// The model id of a /v1/models/<id> path segment; a malformed escape (%E0) names no model: 404.
function decodedId(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new EndpointError(404, `The model \`${segment}\` does not exist: its URL escape is malformed.`,
                            { param: 'model', code: 'model_not_found' });
  }
}

// The request's JSON body. A `model` that is a string must be the site's (404 otherwise, as
// OpenAI answers); the other route's prompt field without this one's means the wrong route (400
// naming the right one); anything else wrong with the body is request.js's to say.
async function readBody(request, modelIds, { promptField, other }) {
  let body;
  try {
    body = JSON.parse(await request.text());
  } catch (error) {
    throw new EndpointError(400, `The request body is not valid JSON (${error.message}). Send a JSON object `
                            + 'with Content-Type: application/json.');
  }
  const them = modelIds.length > 1 ? 'one of them' : 'it';
  if (body?.model === '') {
    throw new EndpointError(400, `model is empty: send ${modelIds.length > 1 ? 'one of ' : ''}${listed(modelIds)}, or leave `
                            + 'model out (the model loaded answers).', { param: 'model' });
  }
  if (typeof body?.model === 'string') knownModel(modelIds, body.model, `: send ${them} as model, or leave model out`);
  const otherField = GENERATIONS[other].promptField;
  if (body?.[otherField] != null && body[promptField] == null) {
    throw new EndpointError(400, `${otherField} belongs to POST v1/${other}; this is v1/${GENERATIONS[other].other}, `
                            + `which takes ${promptField}. Send the request to v1/${other}.`, { param: otherField });
  }
  return body;
}

// Runs `body` on the engine host as `op`; resolves with the response once `connect` has checked
// the request (its 4xx and 503 come before), and the host too ('checked' or its error: its 4xx
// come before the wait): the reply (JSON, or an event stream that the host's chunks then fill) or
// error when it comes within `heartbeatMs` of the host's 'checked', else a body of its kind begun
// then (see Heartbeats at the top of this file). Either body's cancel stops the request, waiting or
// running.
async function generate(body, { op, promptField, parse }, { connect, waitUntil, signal, heartbeatMs }) {
  const check = (manifest) => { parse(body, manifest); };
  const { connection, manifestUrl } = await connect(waitUntil, typeof body?.model === 'string' ? body.model : undefined, check);
  // No waitUntil() for the generation: Chromium keeps a service worker alive while a response body
  // is being read, but cuts a fetch event still extended past 5 minutes, body and all.
  const kind = body?.stream === true ? BODIES.events : BODIES.json;
  return new Promise((resolve) => {
    let out = null; // the body's controller, once the response is out
    let heartbeat = null; // the timer of the next heartbeat, heartbeatMs after the body's last bytes
    const send = (text) => {
      try {
        out.enqueue(encoder.encode(text));
      } catch {
        // the caller cancelled the body: 'close' is on its way to the host
      }
      beatLater();
    };
    const respond = () => {
      if (out) return;
      resolve(new Response(new ReadableStream({ start: (controller) => { out = controller; }, cancel: close }),
                           { status: 200, headers: kind.headers }));
    };
    function beatLater() {
      clearTimeout(heartbeat);
      heartbeat = setTimeout(() => {
        respond();
        send(kind.heartbeat);
      }, heartbeatMs);
    }
    const id = connection.open({ op, request: body, progress: false, model: manifestUrl ?? undefined }, (reply) => {
      switch (reply.type) {
        case REPLY.checked: // nothing found wrong before its turn: from now on its headers may go out
          beatLater();
          return false;
        case REPLY.result:
          if (!out) resolve(jsonResponse(200, reply.value));
          else send(JSON.stringify(reply.value));
          break;
        case REPLY.stream:
          respond();
          return false;
        case REPLY.chunk:
          send(sseEvent(reply.chunk));
          return false;
        case REPLY.done:
          send(SSE_DONE);
          break;
        case REPLY.error: {
          const error = fromPlain(reply.error);
          if (!out) resolve(respondError(error, { promptField }));
          else send(kind.error(errorAnswer(error, { promptField }).body));
          break;
        }
        default: // progress: not asked for
          return false;
      }
      if (out) closeBody(out);
      end();
      return true;
    });
    function close() {
      connection.send({ op: OP.close, id });
      // A request that still waited leaves the queue without a reply, and a stream's last ones
      // have no reader: nobody listens for this one any more.
      connection.forget(id);
      resolve(Response.error()); // nobody reads it (see the top of this file)
      if (out) closeBody(out); // one already out ends (cancelled already, where its cancel called this)
      end();
    }
    function end() {
      clearTimeout(heartbeat);
      signal?.removeEventListener('abort', close);
    }
    if (signal?.aborted) close();
    else signal?.addEventListener('abort', close, { once: true });
  });
}

function closeBody(controller) {
  try {
    controller.close();
  } catch {
    // already cancelled by the caller
  }
}

// OpenAI's stream headers; no-cache: each reply is new.
const SSE_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache' };
const JSON_HEADERS = { 'Content-Type': 'application/json' };
// How long a body may stay silent before a heartbeat: short enough that a proxy or client idle
// timeout (commonly 30 s and more) never sees a silent connection.
const HEARTBEAT_MS = 5000;

/** A stream's heartbeat: an SSE comment line, which event-stream parsers skip (the SSE standard's "keep-alive"). */
export const SSE_KEEP_ALIVE = ': keep-alive\n\n';

// Per kind of reply body: its headers, its heartbeat, and how an error that comes after the headers
// is written (Heartbeats at the top of this file).
const BODIES = {
  json: { headers: JSON_HEADERS, heartbeat: ' ', error: (value) => JSON.stringify(value) },
  events: { headers: SSE_HEADERS, heartbeat: SSE_KEEP_ALIVE, error: sseEvent },
};

function jsonResponse(status, value, headers = {}) {
  return new Response(JSON.stringify(value), { status, headers: { ...JSON_HEADERS, ...headers } });
}

function respondError(error, options) {
  const { status, headers, body } = errorAnswer(error, options);
  return jsonResponse(status, body, headers);
}

/**
 * A worker_client.js Connection to an engine_host.js EngineHost in this thread (the service
 * worker's own): messages go to a HostConnection of its own, so its requests queue with the other
 * connections' (the pages'); replies come back as message events do to a page, uncloned.
 */
export function sameThreadConnection(host) {
  const listeners = [];
  const hostConnection = host.connect((reply) => {
    for (const listener of listeners) listener({ data: reply });
  });
  return new Connection({
    postMessage: (message) => { hostConnection.handle(message); },
    addEventListener: (type, listener) => listeners.push(listener),
  });
}

/**
 * The endpoint's `connect` (openAIEndpoint) to an engine host in this thread (the service
 * worker's own, where it has WebGPU), through a sameThreadConnection so that its requests queue
 * with the pages'. `messages`: model id -> the 'load' message (host_protocol.js loadMessage, URLs
 * absolute) a page sends for it; the first is the site's default.
 *
 * A request naming no model takes the one used last of those loaded, else the one loading (a
 * model that loads is never preferred to one that answers now: its request would get a needless
 * 503), else the site's first. A request for a model that is not loaded starts loading it (the host keeps the others
 * while they fit, host_protocol.js), unless a load is in progress: one load runs at a time, so a
 * request for another model waits for it to end (two clients alternating models would otherwise
 * never get one loaded). Until its model is ready a request is refused with ModelNotLoadedError
 * and a retryAfter (503 + Retry-After: OpenAI's SDKs retry those, and a plain fetch() learns how
 * long to wait), naming the model that loads. Before any of that, `check` (openAIEndpoint's) is
 * applied to the model's manifest: an invalid request is refused as such (400), never retried, and
 * never answered with the 200 of a body that has begun (openAIEndpoint). A load
 * that failed is told, once, to the next request for that model (by manifest URL); the one after
 * tries again. Resolves with { connection, manifestUrl: the model the request is for }.
 */
export function hostConnector(host, messages) {
  const connection = sameThreadConnection(host);
  const idOf = (manifestUrl) => [...messages].find(([, message]) => message.manifestUrl === manifestUrl)?.[0];
  const failures = new Map(); // manifest URL -> the error of its failed load, not told yet
  const manifestOf = manifestReader();
  return async (waitUntil, modelId, check = () => {}) => {
    const models = host.models;
    const id = modelId ?? idOf((models.find((model) => model.ready) ?? models[0])?.manifestUrl) ?? messages.keys().next().value;
    const wanted = messages.get(id);
    const { manifestUrl } = wanted;
    check(await manifestOf(manifestUrl)); // an invalid request is refused as such, loaded or not
    if (host.models.find((model) => model.manifestUrl === manifestUrl)?.ready) return { connection, manifestUrl };
    if (failures.has(manifestUrl)) {
      const error = failures.get(manifestUrl);
      failures.delete(manifestUrl);
      throw error;
    }
    if (!host.models.some((model) => !model.ready)) {
      waitUntil(host.load(wanted, () => {}).catch((error) => { failures.set(manifestUrl, error); }));
    }
    const loading = host.models.find((model) => !model.ready);
    throw loadingError(loading, idOf(loading.manifestUrl), id);
  };
}

/**
 * manifestUrl (absolute) -> Promise of that model's manifest, read (model_cache.js: network
 * first, else the cached copy) once per service worker: a site's manifests change only with the
 * site, and so with its service worker. A read that failed (NetworkError offline) is tried again.
 */
export function manifestReader() {
  const manifests = new Map();
  return (manifestUrl) => {
    if (!manifests.has(manifestUrl)) {
      const read = new ModelFiles(manifestUrl).manifest();
      manifests.set(manifestUrl, read);
      read.catch(() => manifests.delete(manifestUrl));
    }
    return manifests.get(manifestUrl);
  };
}

// The error of a request for model `id` that came while model `loadingId` loads: `loading`, the
// host's entry of that one (EngineHost#models), whose latest load_progress.js ProgressReport says
// how long it takes. Both ids are named: a client retrying a 503 learns what it waits for.
function loadingError(loading, loadingId, id) {
  const report = loading.report;
  const retryAfter = report?.secondsLeft == null ? RETRY_UNKNOWN_S
    : Math.min(RETRY_MAX_S, Math.ceil(report.secondsLeft) + LOAD_AFTER_DOWNLOAD_S);
  const progress = report?.text ?? 'starting';
  const what = loadingId === id ? `The model ${id} is loading (${progress})`
    : `Another model of this site, ${loadingId}, is loading (${progress}); this request's model, ${id}, loads once it is ready`;
  return new ModelNotLoadedError(`${what}. Retry in ${retryAfter} s.`, { retryAfter });
}
