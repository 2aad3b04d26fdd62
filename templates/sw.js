{#- Service worker shell. Values come in through `tojson` only (valid JS, and safe under the
    environment's autoescaping). -#}
// Service worker of a sitegen site: keeps the app shell available offline.
// Only the shell is handled here; every other request (model shards included) goes to the
// network untouched.
const VERSION = {{ version|tojson }};
// Relative to this script, which sits at the root of the site.
const SHELL = {{ shell|tojson }};

// Cache Storage is per origin and several sitegen sites may share one (GitHub Pages project
// sites), so cache names carry this worker's scope and activation only deletes our own.
const PREFIX = `sitegen-shell:${self.registration.scope}:`;
const CACHE = PREFIX + VERSION;
const SHELL_URLS = new Set(SHELL.map((path) => new URL(path, self.location).href));

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    const stale = names.filter((name) => name.startsWith(PREFIX) && name !== CACHE);
    await Promise.all(stale.map((name) => caches.delete(name)));
    // Control the page that registered us, so it works offline from its first visit on.
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  url.search = '';
  if (request.method !== 'GET' || !SHELL_URLS.has(url.href)) return;
  event.respondWith(cacheFirst(request));
});

async function cacheFirst(request) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(request, { ignoreSearch: true });
  return cached ?? fetch(request);
}
