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

// The site's models, as the pages load them (the same list as the pages' data-models): the service
// worker loads the one a request names for the site's OpenAI endpoint. The first is the default.
const MODELS = {{ models|tojson }};

startServiceWorker({ version: VERSION, shell: SHELL, models: MODELS });
