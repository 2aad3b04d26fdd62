// The site's models for a page (chat or completion): which one runs, the picker that switches
// (templates/_model_picker.html, on sites of several models), what each has downloaded, and
// deleting a download.
//
// The engine in the service worker serves every tab and the OpenAI endpoint, and holds several
// models while they fit (host_protocol.js "Sharing rules"); loading one that does not fit unloads
// the least recently used. A tab switching models leaves its former one to that rule (other tabs
// or API requests may use it). Each row says what the engine holds now, whoever loaded it, as the
// service worker tells every page (sw_client.js watchHostModels): loaded, loading, or unloaded to
// make room for another; a tab whose model was unloaded so finds out at its next message, and
// "Try again" loads it back. A model this page runs in its own dedicated worker (where the service
// worker cannot run it) is shown by the page itself. A loaded row says where: in GPU memory, or in
// memory (CPU) where the CPU backend runs it. Each tab keeps its own choice; the last one made is
// remembered for the site (site_storage.js) and loaded on the next visit.

import { availableBytes, ModelFiles } from '../model_cache.js';
import { watchHostModels } from '../sw_client.js';
import { formatBytes, formatBytesOf } from '../units.js';
import { keepStorage, startPageEngine } from './engine_start.js';
import { readLocal, writeLocal } from './site_storage.js';

/**
 * The site's models, from `root`'s data-models (sitegen/site.py _model_entry): [{ id, name,
 * manifestUrl (relative to the page), weightsUrl (or null), bytes (download size) }], the first
 * the site's default.
 */
export function siteModels(root) {
  return JSON.parse(root.dataset.models);
}

/** The model this site's visitor chose last (site_storage 'model'), else the site's first. */
export function rememberedModel(models) {
  const id = readLocal('model');
  return models.find((model) => model.id === id) ?? models[0];
}

/**
 * How much of a model is downloaded, as its picker row says it: "Downloaded", "12.0 of 90.1 MB
 * downloaded", or "Not downloaded" with the room it needs. `stored`, `total`: bytes; `available`:
 * what the browser lets the site store still (null: unknown), after what is cached already.
 */
export function storedText(stored, total, available) {
  if (stored >= total) return 'Downloaded';
  if (stored > 0) return `${formatBytesOf(stored, total)} downloaded`;
  const room = available === null ? '' : `; ${formatBytes(available)} free for this site`;
  return `Not downloaded${room}`;
}

/**
 * What a picker row adds about an engine holding the model (the service worker's, HOST_EVENT.models;
 * or this page's own worker): `held` 'ready' (loaded), 'loading', or null (not held); `madeRoomFor`:
 * the name of the model it was unloaded to make room for, or null; `backend`: the one that runs it
 * when ready ('webgpu' | 'wasm': engine.backend, the models event's backend; left out: 'webgpu', the
 * service worker's only one). '' when there is nothing to say.
 */
export function heldText(held, madeRoomFor, backend = 'webgpu') {
  if (held === 'ready') return backend === 'wasm' ? 'loaded in memory (CPU)' : 'loaded in GPU memory';
  if (held === 'loading') return 'loading';
  return madeRoomFor ? `unloaded to make room for ${madeRoomFor}` : '';
}

/** What the picker's storage line says of navigator.storage.persist()'s answer (keepStorage). */
export function persistenceText(granted) {
  if (granted === null) return '';
  return granted ? 'The browser keeps the downloaded models (persistent storage granted).'
    : 'The browser may clear the downloaded models when disk space runs low (persistent storage not granted).';
}

// The settings' sampling fields whose empty value stands for the model's chatSampling.
const SAMPLING_FIELDS = ['temperature', 'top_p'];

/**
 * Show `model`'s defaults on the page: its data-models entry's chatSampling ({ temperature,
 * top_p } from its manifest's chat_sampling, or null: the engine's) as the placeholder and
 * data-chat-default of the settings form's empty fields (settings.js reads them; a field without
 * one says "default", as templates/_settings_dialog.html renders it), and its name in `input`'s
 * placeholder where `placeholder` is given ("Message {name}": the chat's composer).
 */
export function showModelDefaults(model, { form, input, placeholder = null }) {
  for (const name of SAMPLING_FIELDS) {
    const field = form.elements[name];
    const value = model.chatSampling?.[name];
    if (value == null) delete field.dataset.chatDefault;
    else field.dataset.chatDefault = String(value);
    field.placeholder = value == null ? 'default' : String(value);
  }
  if (placeholder) input.placeholder = placeholder.replace('{name}', model.name);
}

/**
 * Starts the page's model and wires the picker. `root`: the app element (data-models); `picker`:
 * the .model-picker element, or null (a site of one model); the rest as startPageEngine's, plus
 * `beforeSwitch()`: an async function run before the model changes (stop a running reply).
 * `onEngine(engine, model)` is called with the engine and its data-models entry once it runs,
 * and with null (and the model chosen next) while a switch unloads the running one.
 * Loads, switches and retries run one after another, the picker busy from the moment one is asked
 * for: a second choice made meanwhile waits for the first. Returns { reload(): load the chosen
 * model again (after another tab switched it, or its load failed) }.
 */
export function startSiteModels({ root, picker, loader, problemBox, input, onEngine, onControls, beforeSwitch }) {
  const models = siteModels(root);
  const view = new ModelPicker(picker, models, { choose: (id) => switchTo(id), remove: (id) => remove(id) });
  // Another tab or an API request may load, download or unload a model: show it as it happens.
  watchHostModels((event) => {
    view.held(event);
    view.refresh({ busy: pending > 0 });
  });
  let current = rememberedModel(models);
  let engine = null;
  let queue = Promise.resolve(); // the switch that runs now, and those asked for since, in order
  let pending = 0; // switches asked for and not done

  // Run `step` after the switches asked for before it, the picker busy until the last is done.
  function enqueue(id, step) {
    pending += 1;
    view.show(id, { busy: true });
    queue = queue.then(step).catch((error) => problemBox.show(error)).finally(() => {
      pending -= 1;
      if (!pending) view.show(current.id, { busy: false, running: !!engine });
    });
    return queue;
  }

  async function load() {
    await startPageEngine({ model: current, loader, problemBox, input, onControls, retry: reload,
      onEngine: (started) => {
        engine = started;
        view.running(current.id, started);
        onEngine(started, current);
      } });
    if (engine) view.persistence(await keepStorage());
    await view.refresh({ busy: pending > 1 });
  }

  function switchTo(id, { again = false } = {}) {
    return enqueue(id, async () => {
      const model = models.find((item) => item.id === id);
      if (!model || (model === current && engine && !again)) return;
      await beforeSwitch();
      current = model;
      writeLocal('model', id);
      const previous = engine;
      engine = null;
      view.running(null, null);
      onEngine(null, model);
      onControls();
      // A model in the service worker stays loaded for other tabs and API requests while it fits
      // (the host unloads it when another needs room: host_protocol.js); one in this page's own
      // worker is this page's alone.
      if (previous?.host === 'service-worker') previous.detach();
      else await previous?.unload().catch(() => {});
      await load();
    });
  }

  function reload() {
    return switchTo(current.id, { again: true });
  }

  // Delete a model's download, once the visitor confirmed it: never this tab's own model. Whether
  // another tab, or a request to the site's API, runs or loads that model now, a page cannot
  // tell (the engine host does not say): the confirmation says what deleting it then does.
  async function remove(id) {
    const model = models.find((item) => item.id === id);
    if (!model || model === current) return;
    if (!confirm(`Delete the download of ${model.name} (${formatBytes(model.bytes)})? It is downloaded again when `
                 + `chosen. Should another tab of this site, or a program using its API, run ${model.name} now, it `
                 + 'keeps running, but it has to download the model again when it next loads it; a download in '
                 + 'progress there fails.')) return;
    try {
      await new ModelFiles(model.manifestUrl, { weightsUrl: model.weightsUrl ?? undefined }).remove();
    } catch (error) {
      problemBox.show(error);
    }
    await view.refresh({ busy: pending > 0 });
  }

  enqueue(current.id, async () => {
    onEngine(null, current);
    await load();
  });
  return { reload };
}

// The picker's markup (templates/_model_picker.html): one row per model, in `models`' order,
// each a radio button, its size, what is downloaded and a delete button.
class ModelPicker {
  #element;
  #models;
  #current = null;
  #held = new Map(); // model id -> { state: 'ready' | 'loading', backend }, as the service worker's engine host last said
  #own = null; // { id, backend } of the model this page's own dedicated worker runs, which no models event tells
  #madeRoomFor = new Map(); // model id -> the id of the model it was unloaded to make room for

  constructor(element, models, { choose, remove }) {
    this.#element = element;
    this.#models = models;
    if (!element) return;
    element.addEventListener('change', (event) => {
      if (event.target.name === 'model') choose(event.target.value);
    });
    element.addEventListener('click', (event) => {
      const id = event.target.closest('.delete-model')?.closest('[data-model-id]')?.dataset.modelId;
      if (id) remove(id);
    });
  }

  /**
   * Mark model `id` as the one chosen; `busy` while it loads (the picker waits); `running` once it
   * runs (the element's data-running names it then, for tests and styles).
   */
  show(id, { busy, running = false }) {
    this.#current = id;
    for (const row of this.#rows()) {
      const radio = row.querySelector('input[name="model"]');
      radio.checked = row.dataset.modelId === id;
      radio.disabled = busy;
    }
    this.#element?.setAttribute('aria-busy', String(busy));
    if (!this.#element) return;
    if (running) this.#element.dataset.running = id;
    else delete this.#element.dataset.running;
  }

  /** Show `granted` (keepStorage's answer) in the storage line. */
  persistence(granted) {
    const line = this.#element?.querySelector('.storage-status');
    if (line) line.textContent = persistenceText(granted);
  }

  /**
   * The engine that runs model `id` for this page now (null, null: none, during a switch). Held by
   * the page's own dedicated worker (engine.host 'worker'), it is shown as loaded on its backend at
   * the next refresh(); the service worker's engine tells its models itself (held()).
   */
  running(id, engine) {
    this.#own = engine?.host === 'worker' ? { id, backend: engine.backend } : null;
  }

  /** Take in a HOST_EVENT.models message (sw_client.js watchHostModels): shown at the next refresh(). */
  held({ models, unloaded }) {
    const idOf = (manifestUrl) => this.#models.find((model) => new URL(model.manifestUrl, globalThis.location.href).href
                                                   === manifestUrl)?.id;
    this.#held = new Map(models.map(({ manifestUrl, ready, backend }) => [idOf(manifestUrl),
                                                                          { state: ready ? 'ready' : 'loading', backend }]));
    for (const { manifestUrl, for: other } of unloaded) this.#madeRoomFor.set(idOf(manifestUrl), other);
    for (const id of this.#held.keys()) this.#madeRoomFor.delete(id);
  }

  /** Read what each model has in the cache, and show it; `busy`: a switch is under way (no deleting). */
  async refresh({ busy }) {
    if (!this.#element) return;
    const available = await availableBytes().catch(() => null);
    for (const row of this.#rows()) {
      const model = this.#models.find((item) => item.id === row.dataset.modelId);
      const stored = await new ModelFiles(model.manifestUrl, { weightsUrl: model.weightsUrl ?? undefined })
        .storedBytes().catch(() => 0);
      const madeRoomFor = this.#models.find((other) => other.id === this.#madeRoomFor.get(model.id))?.name ?? null;
      const { state = null, backend } = this.#heldOf(model.id);
      const held = heldText(state, madeRoomFor, backend);
      row.querySelector('.model-stored').textContent = [storedText(stored, model.bytes, available), held].filter(Boolean).join('; ');
      row.dataset.stored = String(stored);
      row.dataset.held = state ?? '';
      // The running model's download stays: delete it after switching to another.
      row.querySelector('.delete-model').hidden = stored === 0 || model.id === this.#current || busy;
    }
  }

  // { state, backend } of model `id` as an engine holds it (this page's own worker first), else {}.
  #heldOf(id) {
    if (this.#own?.id === id) return { state: 'ready', backend: this.#own.backend };
    return this.#held.get(id) ?? {};
  }

  #rows() {
    return this.#element ? [...this.#element.querySelectorAll('[data-model-id]')] : [];
  }
}
