// Starting a model for a page: the engine in the service worker where it can run there (the
// model then survives reloads and is shared by tabs), else in a dedicated worker
// (CreateServiceWorkerEngine picks), with the download's progress in the page's loader
// (templates/_loader.html), and, once it runs, a note where it runs on the CPU (backend_note.js).
// Shared by the chat and the completion page.

import { CreateServiceWorkerEngine } from '../sw_client.js';
import { isolatedThreads } from '../cpu_threads.js';
import { backendNote, reloadForThreadsNote } from './backend_note.js';
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

// Counts showBackendNote's calls, so that a late threadsAfterReload() leaves a newer model's note alone.
let notesShown = 0;

// `note`: the .backend-note element (templates/_loader.html); hidden where there is nothing to say,
// or once the visitor hid that text (its Hide button; kept per site, so a reload or the other page
// does not bring it back: on a phone it takes room from the conversation; another reason shows).
// On the CPU, where a reload would add threads, the note says so once the service worker is ready;
// hiding the note hides its main text for good, whatever the thread count.
function showBackendNote(note, { backend, gpuFailure }) {
  const text = backendNote(backend, gpuFailure);
  const shown = ++notesShown;
  const paragraph = note.querySelector('.backend-note-text');
  paragraph.textContent = text ?? '';
  note.hidden = text === null || readLocal('backend-note-hidden') === text;
  note.querySelector('.hide-backend-note').onclick = () => {
    note.hidden = true;
    writeLocal('backend-note-hidden', text);
  };
  if (text === null) return;
  threadsAfterReload().then((threads) => {
    // First: the one thing the visitor can do, in sight where the note scrolls inside itself.
    if (threads && shown === notesShown) paragraph.textContent = `${reloadForThreadsNote(threads)} ${text}`;
  });
}

/**
 * The threads a reload would give the CPU backend, where that is more than the one it runs on now;
 * else null. A page that is not cross-origin isolated runs it on one thread (runtime/wasm/threads.js
 * defaultThreads; its dedicated worker is isolated only if the page is). The site's service worker
 * serves the pages with the headers that isolate them (runtime/service_worker.js), so a reload
 * isolates a page that did not come through it (the first visit, a hard reload) once it is active:
 * this resolves then, with cpu_threads.js isolatedThreads() where that is more than 1. A page that
 * came through it and is still not isolated would not be after a reload either: null. Never
 * rejects; stays pending where no service worker becomes active (it failed to register).
 * @returns {Promise<number | null>}
 */
async function threadsAfterReload() {
  const threads = isolatedThreads();
  if (globalThis.crossOriginIsolated || threads < 2 || !navigator.serviceWorker) return null;
  // Navigation Timing: workerStart is 0 where no service worker handled this page's load.
  if (performance.getEntriesByType('navigation')[0]?.workerStart > 0) return null;
  await navigator.serviceWorker.ready;
  return threads;
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
