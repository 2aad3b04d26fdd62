// The site's service worker, started by sw.js (templates/sw.js, a module service worker):
//
//   import { startServiceWorker } from './runtime/service_worker.js';
//   startServiceWorker({ version, shell, models: [{ id, name, manifestUrl, weightsUrl, bytes }, ...] });
//
// It keeps the app shell available offline, hosts the engine (engine_host.js) for every page
// of the site, so that one loaded model serves all tabs and outlives page reloads, and answers the
// site's OpenAI endpoint `<scope>v1` (openai_endpoint.js) with that engine. The messages are
// host_protocol.js's; the pages' side is sw_client.js, which also states the lifetime rules the
// two rely on.
//
// It also makes the site's pages cross-origin isolated (crossOriginIsolated: SharedArrayBuffer, so
// the CPU backend can split its work over threads sharing one WebAssembly.Memory): static hosts
// such as GitHub Pages cannot send the headers that do it, so the shell files this worker serves
// get them (isolating()). A page it does not control yet (the first visit, a hard reload) is not
// isolated and runs the CPU backend on one thread. Under COEP require-corp the page may load a
// cross-origin file only with CORS (or that file's Cross-Origin-Resource-Policy): the weights of
// --weights-url are fetched in CORS mode (model_cache.js), so their host must send
// Access-Control-Allow-Origin, as it must anyway (README). The engine in this worker needs no
// isolation: it runs models on WebGPU only (EngineHost's cpu: false); the CPU backend runs in a
// page's dedicated worker (sw_client.js), as does a model this worker's GPU cannot take.

import { EngineHost } from './engine_host.js';
import { EngineLostError, ModelNotLoadedError } from './errors.js';
import { ENGINE_PAGE, OP, TAKE_OVER, isHostOperation, loadMessage } from './host_protocol.js';
import { useFetch } from './io.js';
import { hostConnector, manifestReader, openAIEndpoint } from './openai_endpoint.js';
import { hasWebAssemblySimd, noBackendAvailable } from './sw_client.js';
import { Connection } from './worker_client.js';

// While a page has generations open, how often the worker checks that the page still exists.
const PAGE_CHECK_MS = 1000;
// How long the endpoint waits for open pages to say whether they run the model (ENGINE_PAGE.query).
const QUERY_TIMEOUT_MS = 1000;
// How long a page has to take a request forwarded to it (ENGINE_PAGE.accept) before it counts as gone.
const FORWARD_TIMEOUT_MS = 10_000;

/**
 * version: the shell's content hash (names its cache); shell: the shell's paths, relative to
 * sw.js; models: the site's models (sitegen/site.py _model_entry), each { id (its folder under
 * models/, as /v1/models lists it), manifestUrl (relative to sw.js), weightsUrl (where the shards
 * live if not beside the manifest, else null), ... }, the same list the pages load them from; the
 * first is the default. Call it while the worker script first runs: browsers only deliver events
 * to listeners added then.
 */
export function startServiceWorker({ version, shell, models }) {
  // The worker's own fetches skip its fetch handler: the engine's reads of shell files (the
  // kernels) would miss the cache, and fail offline, without this.
  useFetch(serveShell({ version, shell }));
  self.addEventListener('message', (event) => {
    if (event.data?.op === TAKE_OVER) event.waitUntil(self.skipWaiting());
  });
  const host = new EngineHost({ cpu: false });
  hostEngine(host);
  serveOpenAI(host, models);
}

// The app shell: precached on install under a versioned cache name, older versions of ours deleted
// on activate, served cache first (ignoring the query string). Other requests, the model's files
// included (model_cache.js keeps those), go to the network untouched. Returns fetch() as this
// worker serves it.
function serveShell({ version, shell }) {
  // Cache Storage is per origin and several sitegen sites may share one (GitHub Pages project
  // sites), so cache names carry this worker's scope and activation only deletes our own.
  const prefix = `sitegen-shell:${self.registration.scope}:`;
  const name = prefix + version;
  const urls = new Set(shell.map((path) => new URL(path, self.location).href));
  const inShell = (request) => {
    const url = new URL(request.url);
    url.search = '';
    return request.method === 'GET' && urls.has(url.href);
  };
  const cacheFirst = async (request) => {
    const cache = await caches.open(name);
    return (await cache.match(request, { ignoreSearch: true })) ?? fetch(request);
  };

  self.addEventListener('install', (event) => {
    event.waitUntil(caches.open(name).then((cache) => cache.addAll(shell)));
  });
  self.addEventListener('activate', (event) => {
    event.waitUntil((async () => {
      const stale = (await caches.keys()).filter((key) => key.startsWith(prefix) && key !== name);
      await Promise.all(stale.map((key) => caches.delete(key)));
      // Control the page that registered us, so it works offline from its first visit on.
      await self.clients.claim();
    })());
  });
  self.addEventListener('fetch', (event) => {
    if (inShell(event.request)) event.respondWith(cacheFirst(event.request).then(isolating));
  });
  return (url, init) => {
    const request = new Request(url, init);
    return inShell(request) ? cacheFirst(request) : fetch(request);
  };
}

// The headers that make a document cross-origin isolated (https://web.dev/articles/coop-coep): its
// own browsing context group (COOP), and only subresources that agreed to be embedded (COEP).
const ISOLATION_HEADERS = Object.freeze({
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
});

// `response` with ISOLATION_HEADERS added: a page gets them for itself, a dedicated worker's script
// for the worker (a worker started by an isolated page must be isolated too, or it does not load).
// Redirects and opaque responses are passed on as they are: their headers cannot be rewritten, and
// what they lead to comes through here again.
function isolating(response) {
  if (response.type === 'opaque' || response.type === 'opaqueredirect') return response;
  const headers = new Headers(response.headers);
  for (const [name, value] of Object.entries(ISOLATION_HEADERS)) headers.set(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

// The engine. Each page (a client, known by its id) gets a connection to the one EngineHost;
// requests come as message events, each kept alive by waitUntil() for as long as its operation
// runs, and replies go back with client.postMessage().
function hostEngine(host) {
  const pages = new Map(); // client id -> connection
  const watched = new Set(); // client ids being watched

  // A page closed or reloaded mid-generation sends 'close' on pagehide, but that message may never
  // come: so while a page has generations open, check every second that it still exists, and give
  // up its requests when it does not (a stream left running would hold the engine forever).
  async function watch(clientId, connection) {
    if (watched.has(clientId)) return;
    watched.add(clientId);
    try {
      while (connection.openRequests > 0) {
        await new Promise((resolve) => { setTimeout(resolve, PAGE_CHECK_MS); });
        if (!(await self.clients.get(clientId))) {
          pages.delete(clientId);
          await connection.close();
          return;
        }
      }
    } finally {
      watched.delete(clientId);
    }
  }

  // Pages that left without generations open leave an idle connection: drop those when a new page comes.
  async function forgetLeftPages() {
    for (const [clientId, connection] of pages) {
      if (await self.clients.get(clientId)) continue;
      pages.delete(clientId);
      await connection.close();
    }
  }

  self.addEventListener('message', (event) => {
    const client = event.source;
    if (!client?.id || !isHostOperation(event.data?.op)) return;
    let connection = pages.get(client.id);
    if (!connection) {
      connection = host.connect((message) => {
        try {
          client.postMessage(message);
        } catch {
          // the page is gone: nobody is waiting for the reply
        }
      });
      pages.set(client.id, connection);
      event.waitUntil(forgetLeftPages());
    }
    event.waitUntil(connection.handle(event.data));
    if (event.data.op === OP.create || event.data.op === OP.completion) event.waitUntil(watch(client.id, connection));
  });
}

// The OpenAI endpoint, run by the engine here where this worker runs the request's model on WebGPU,
// else forwarded to a page that runs it in its dedicated worker (on WebGPU there, or on the CPU
// backend). host.probe(), asked at each request (a load here may have failed since), is the test
// the pages apply too (sw_client.js), so both agree where a model runs.
function serveOpenAI(host, models) {
  // model id -> the 'load' message a page sends for it
  const messages = new Map(models.map(({ id, manifestUrl, weightsUrl }) => [
    id, loadMessage(manifestUrl, { weightsUrl }, (url) => new URL(url, self.location).href)]));
  const first = messages.values().next().value.manifestUrl;
  const pages = new EnginePages(manifestReader());
  const onHost = hostConnector(host, messages);
  const endpoint = openAIEndpoint({
    scope: self.registration.scope,
    modelIds: [...messages.keys()],
    connect: async (waitUntil, modelId, check) => {
      const manifestUrl = modelId ? messages.get(modelId).manifestUrl : null;
      // without a model named, the one the host would take: the most recently used, else the site's first
      const { webgpu, reason } = await host.probe(manifestUrl ?? host.models[0]?.manifestUrl ?? first);
      if (webgpu) return onHost(waitUntil, modelId, check);
      return pages.connect(`this service worker has no WebGPU that runs it (${reason})`, manifestUrl, modelId,
                           { check, fallback: first });
    },
  });
  self.addEventListener('fetch', (event) => {
    const response = endpoint(event.request, (promise) => event.waitUntil(promise));
    if (response) event.respondWith(response);
  });
  self.addEventListener('message', (event) => {
    const { op, manifestUrl, reply, requestId } = event.data ?? {};
    if (op === ENGINE_PAGE.offer) pages.offer(event.source, manifestUrl);
    else if (op === ENGINE_PAGE.withdraw) pages.withdraw(event.source);
    else if (op === ENGINE_PAGE.accept) pages.accept(event.source, requestId);
    else if (op === ENGINE_PAGE.reply) pages.reply(event.source, reply);
  });
}

// The pages that run a model in their dedicated worker, where this worker has no WebGPU, and the
// endpoint's Connections to them (host_protocol.js ENGINE_PAGE): a page offers itself, naming its
// model, once that model is loaded (or when asked), and withdraws when it stops answering (it
// switched models, or is leaving). A request goes to a page that still exists and runs its model.
class EnginePages {
  #pages = new Map(); // client id -> { manifestUrl, connection, deliver(reply) }
  #offered = new Set(); // of connect()s waiting for an offer: each checks, at every offer, whether it is theirs
  #timer = null;
  #manifestOf;

  /** manifestOf(manifestUrl): Promise of a model's manifest (openai_endpoint.js manifestReader). */
  constructor(manifestOf) {
    this.#manifestOf = manifestOf;
  }

  /** `client` runs the model of `manifestUrl` (absolute) and takes forwarded requests. */
  offer(client, manifestUrl) {
    if (this.#pages.get(client.id)?.manifestUrl !== manifestUrl) {
      this.withdraw(client); // an offer of another model: the page's former engine is gone
      const page = { manifestUrl };
      // A timeout of a request forwarded before a withdrawal concerns that page only, not a later offer's.
      const onSilent = () => { if (this.#pages.get(client.id) === page) this.#lose(client.id, 'did not answer'); };
      this.#pages.set(client.id, Object.assign(page, pageConnection(client, onSilent)));
    }
    for (const check of this.#offered) check();
    // While pages run a model, notice those that left: their requests in flight fail.
    this.#timer ??= setInterval(() => this.#forgetLeftPages(), PAGE_CHECK_MS);
  }

  /** `client` no longer answers: its open requests fail with EngineLostError. */
  withdraw(client) {
    this.#lose(client?.id, 'stopped running it (it switched models, or was closed)');
  }

  /** `client` took the forwarded request `id`: it will answer it when its turn comes. */
  accept(client, id) {
    this.#pages.get(client?.id)?.accept(id);
  }

  reply(client, reply) {
    this.#pages.get(client?.id)?.deliver(reply);
  }

  /**
   * A Connection to a page that runs the model of `manifestUrl` (absolute; null: any model), and
   * the manifest URL of the model it runs: { connection, manifestUrl }. Rejects, when no page does,
   * with ModelNotLoadedError (`why` the pages run it, `name` the model's), or NoBackendAvailableError
   * where this browser lacks WebAssembly SIMD too (no page can run it then: `why` says the GPU
   * side). Either way `check` (openAIEndpoint's) first passes the request against the manifest of
   * its model (`fallback`'s, the site's first, where it names none and no page runs one).
   */
  async connect(why, manifestUrl, name, { check, fallback }) {
    await this.#forgetLeftPages();
    const find = () => [...this.#pages.values()].find((page) => manifestUrl === null || page.manifestUrl === manifestUrl);
    if (!find()) await this.#query(find);
    const page = find();
    check(await this.#manifestOf(page?.manifestUrl ?? manifestUrl ?? fallback));
    if (page) return { connection: page.connection, manifestUrl: page.manifestUrl };
    if (!hasWebAssemblySimd()) throw noBackendAvailable(`service worker: ${why}`);
    throw new ModelNotLoadedError(`No page of this site runs the model${name ? ` ${name}` : ''}: ${why}, so `
      + 'the model runs in a page of the site instead. Open the site in a tab of this browser, '
      + `${name ? `choose ${name} in its model picker, ` : ''}let the model load, and keep the tab open `
      + '(should the page say that this browser cannot run the model, no page of it can).');
  }

  // Ask the open pages which model they run (a restarted worker has forgotten the offers);
  // settles at the first offer that `found()` accepts, or after QUERY_TIMEOUT_MS.
  async #query(found) {
    const pages = await self.clients.matchAll({ type: 'window' });
    if (!pages.length) return;
    let resolve;
    const offered = new Promise((settle) => { resolve = settle; });
    const check = () => { if (found()) resolve(); };
    this.#offered.add(check);
    for (const page of pages) page.postMessage({ op: ENGINE_PAGE.query });
    const timer = setTimeout(resolve, QUERY_TIMEOUT_MS);
    await offered;
    clearTimeout(timer);
    this.#offered.delete(check);
  }

  // The page of `clientId` is gone (`what` it did): its requests fail.
  #lose(clientId, what) {
    const page = this.#pages.get(clientId);
    if (!page) return;
    this.#pages.delete(clientId);
    page.connection.fail(new EngineLostError(`The page that ran the model ${what}. Retry: another open page of `
      + 'the site may run it.'));
    if (!this.#pages.size) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  async #forgetLeftPages() {
    for (const clientId of this.#pages.keys()) {
      if (!(await self.clients.get(clientId))) this.#lose(clientId, 'was closed');
    }
  }
}

// A Connection to the engine of the page `client`: messages go to it forwarded, its replies come
// back through deliver(reply). The page takes each forwarded request at once (ENGINE_PAGE.accept,
// or a reply); one that it has not taken after FORWARD_TIMEOUT_MS means the page no longer
// answers (an older version of the site, a page frozen in the background): `onSilent()`.
function pageConnection(client, onSilent) {
  const listeners = [];
  const untaken = new Map(); // request id -> its timeout
  const take = (id) => {
    clearTimeout(untaken.get(id));
    untaken.delete(id);
  };
  const connection = new Connection({
    postMessage: (message) => {
      if (message.op !== OP.close) untaken.set(message.id, setTimeout(onSilent, FORWARD_TIMEOUT_MS));
      else take(message.id);
      client.postMessage({ op: ENGINE_PAGE.forward, message });
    },
    addEventListener: (type, listener) => listeners.push(listener),
  });
  return {
    connection,
    accept: take,
    deliver: (reply) => {
      take(reply.id);
      listeners.forEach((listener) => listener({ data: reply }));
    },
  };
}
