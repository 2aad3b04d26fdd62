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

// The site's model, as the pages load it (index.html's data-model-manifest and data-weights-url):
// the service worker loads it for the site's OpenAI endpoint when no page has.
const MODEL = {
  id: {{ model_id|tojson }},
  manifestUrl: {{ model_manifest|tojson }},
  weightsUrl: {{ weights_url|tojson }},
};

startServiceWorker({ version: VERSION, shell: SHELL, model: MODEL });
