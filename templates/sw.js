{#- Service worker of the site, a module service worker (the page registers it with
    { type: 'module' }). Values come in through `tojson` only (valid JS, and safe under the
    environment's autoescaping). -#}
// Service worker of a sitegen site: keeps the app shell available offline and runs the model
// for the site's pages (runtime/service_worker.js).
import { startServiceWorker } from {{ service_worker_module|tojson }};

// The shell's content hash: any change to a shell file gives a new cache.
const VERSION = {{ version|tojson }};
// Relative to this script, which sits at the root of the site.
const SHELL = {{ shell|tojson }};

startServiceWorker({ version: VERSION, shell: SHELL });
