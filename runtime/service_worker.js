// The site's service worker, started by sw.js (templates/sw.js, a module service worker):
//
//   import { startServiceWorker } from './runtime/service_worker.js';
//   startServiceWorker({ version, shell });
//
// It keeps the app shell available offline and hosts the engine (engine_host.js) for every page
// of the site, so that one loaded model serves all tabs and outlives page reloads. The messages
// are host_protocol.js's; the pages' side is sw_client.js, which also states the lifetime rules
// the two rely on.

import { EngineHost } from './engine_host.js';
import { OP, TAKE_OVER } from './host_protocol.js';
import { useFetch } from './io.js';

// While a page has generations open, how often the worker checks that the page still exists.
const PAGE_CHECK_MS = 1000;

/**
 * version: the shell's content hash (names its cache); shell: the shell's paths, relative to
 * sw.js. Call it while the worker script first runs: browsers only deliver events to listeners
 * added then.
 */
export function startServiceWorker({ version, shell }) {
  // The worker's own fetches skip its fetch handler: the engine's reads of shell files (the
  // kernels) would miss the cache, and fail offline, without this.
  useFetch(serveShell({ version, shell }));
  self.addEventListener('message', (event) => {
    if (event.data?.op === TAKE_OVER) event.waitUntil(self.skipWaiting());
  });
  hostEngine();
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
    if (inShell(event.request)) event.respondWith(cacheFirst(event.request));
  });
  return (url, init) => {
    const request = new Request(url, init);
    return inShell(request) ? cacheFirst(request) : fetch(request);
  };
}

// The engine. Each page (a client, known by its id) gets a connection to the one EngineHost;
// requests come as message events, each kept alive by waitUntil() for as long as its operation
// runs, and replies go back with client.postMessage().
function hostEngine() {
  const host = new EngineHost();
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
    if (!client?.id || typeof event.data?.op !== 'string' || event.data.op === TAKE_OVER) return;
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
