// Starting a model for a page: the engine in the service worker where it can run there (the
// model then survives reloads and is shared by tabs), else in a dedicated worker
// (CreateServiceWorkerEngine picks), with the download's progress in the page's loader
// (templates/_loader.html), and, once it runs, a note where it runs on the CPU (backend_note.js).
// Shared by the chat and the completion page.

import { CreateServiceWorkerEngine } from '../sw_client.js';
import { backendNote } from './backend_note.js';
import { readLocal, writeLocal } from './site_storage.js';

/**
 * The engine of `model` (an entry of the page's data-models: { id, manifestUrl, weightsUrl }, see
 * model_picker.js); `loader`: the .loader element, shown while the model loads. Once loaded, the
 * page's body says where it runs (data-engine-host: engine.host; data-engine-backend:
 * engine.backend) and the page's .backend-note what the backend means for the visitor, and why the
 * CPU runs it where it does (engine.gpuFailure).
 * The browser is then asked to keep the site's storage (keepStorage). Rejects with the engine's typed
 * errors (NoBackendAvailableError, QuotaExceededError, IntegrityError, ...: runtime/errors.js).
 */
export async function startEngine(model, loader) {
  const text = loader.querySelector('.load-text');
  const bar = loader.querySelector('.load-progress');
  text.textContent = `Starting ${model.name ?? model.id}…`;
  bar.value = 0;
  loader.hidden = false;
  try {
    const engine = await CreateServiceWorkerEngine(model.manifestUrl, {
      weightsUrl: model.weightsUrl ?? undefined,
      // The report's text carries the numbers: "Downloading weights: 45.2 of 90.1 MB, 12.3 MB/s, 4 s left".
      initProgressCallback: (report) => {
        text.textContent = report.text;
        bar.value = report.progress;
      },
    });
    document.body.dataset.engineHost = engine.host;
    document.body.dataset.engineBackend = engine.backend;
    showBackendNote(document.querySelector('.backend-note'), engine);
    return engine;
  } finally {
    loader.hidden = true;
  }
}

// `note`: the .backend-note element (templates/_loader.html); hidden where there is nothing to say,
// or once the visitor hid that text (its Hide button; kept per site, so a reload or the other page
// does not bring it back: on a phone it takes room from the conversation; another reason shows).
function showBackendNote(note, { backend, gpuFailure }) {
  const text = backendNote(backend, gpuFailure);
  note.querySelector('.backend-note-text').textContent = text ?? '';
  note.hidden = text === null || readLocal('backend-note-hidden') === text;
  note.querySelector('.hide-backend-note').onclick = () => {
    note.hidden = true;
    writeLocal('backend-note-hidden', text);
  };
}

/**
 * Ask the browser to keep this origin's storage (the downloaded models) when disk space runs low:
 * asked after a model's first complete download, when there is something to keep (browsers
 * grant it more readily to a site in use, and asking before would prompt for nothing).
 * Resolves with true (kept), false (refused: the browser may clear the models) or null where the
 * browser has no such request.
 */
export async function keepStorage() {
  const storage = globalThis.navigator?.storage;
  if (!storage?.persist) return null;
  try {
    return (await storage.persisted?.()) || await storage.persist();
  } catch {
    return false;
  }
}

/**
 * startEngine for a page, its failures shown in `problemBox` (problem_box.js) with a "Try again"
 * that runs `retry()` (the caller starts over its own way: model_picker.js through its queue of
 * switches). `model`: which model (as startEngine's); `onEngine(engine)` receives the engine once
 * it runs; `onControls()` is called before and after each attempt (the page enables what it can
 * use); `input` gets focus when the model is ready, unless the visitor went on to something else
 * while it loaded. Never rejects.
 */
export async function startPageEngine({ model, loader, problemBox, input, onEngine, onControls, retry }) {
  problemBox.hide();
  onControls();
  let engine = null;
  try {
    engine = await startEngine(model, loader);
    onEngine(engine);
  } catch (error) {
    problemBox.show(error, { retry });
  }
  onControls();
  if (engine && (!document.activeElement || document.activeElement === document.body)) input.focus();
}
