// Starting the model for a page: the engine in the service worker where it can run there (the
// model then survives reloads and is shared by tabs), else in a dedicated worker
// (CreateServiceWorkerEngine picks), with the download's progress in the page's loader
// (templates/_loader.html). Shared by the chat and the completion page.

import { CreateServiceWorkerEngine } from '../sw_client.js';

/**
 * The engine of the model that `root`'s data-model-manifest (and optional data-weights-url) name;
 * `loader`: the .loader element, shown while the model loads. Rejects with the engine's typed
 * errors (WebGPUNotAvailableError, QuotaExceededError, IntegrityError, ...: runtime/errors.js).
 */
export async function startEngine(root, loader) {
  const text = loader.querySelector('.load-text');
  const bar = loader.querySelector('.load-progress');
  loader.hidden = false;
  navigator.storage?.persist?.().catch(() => {}); // ask to keep the model when space runs low
  try {
    const engine = await CreateServiceWorkerEngine(root.dataset.modelManifest, {
      weightsUrl: root.dataset.weightsUrl,
      // The report's text carries the numbers: "Downloading weights: 45.2 of 90.1 MB, 12.3 MB/s, 4 s left".
      initProgressCallback: (report) => {
        text.textContent = report.text;
        bar.value = report.progress;
      },
    });
    document.body.dataset.engineHost = engine.host;
    return engine;
  } finally {
    loader.hidden = true;
  }
}

/**
 * startEngine for a page, its failures shown in `problemBox` (problem_box.js) with a "Try again"
 * that starts over. `onEngine(engine)` receives the engine once it runs; `onControls()` is called
 * before and after each attempt (the page enables what it can use); `input` gets focus when the
 * model is ready, unless the visitor went on to something else while it loaded. Never rejects.
 */
export async function startPageEngine({ root, loader, problemBox, input, onEngine, onControls }) {
  problemBox.hide();
  onControls();
  let engine = null;
  try {
    engine = await startEngine(root, loader);
    onEngine(engine);
  } catch (error) {
    problemBox.show(error, { retry: () => startPageEngine({ root, loader, problemBox, input, onEngine, onControls }) });
  }
  onControls();
  if (engine && (!document.activeElement || document.activeElement === document.body)) input.focus();
}
