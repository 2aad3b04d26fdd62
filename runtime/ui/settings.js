// The chat settings (system prompt, temperature, top_p, max tokens): kept in localStorage per
// site, bound to the settings form, turned into request fields. An empty field means "the
// model's default" (the engine applies the manifest's generation defaults), so nothing is sent.

import { readLocal, writeLocal } from './site_storage.js';

const STORAGE_NAME = 'settings';

const FIELDS = {
  system: { parse: (text) => text.trim() || null },
  temperature: { parse: (text) => number(text, { min: 0, max: 2 }) },
  top_p: { parse: (text) => number(text, { min: 0.01, max: 1 }) },
  max_tokens: { parse: (text) => number(text, { min: 1, integer: true }) },
};

/** { system, temperature, top_p, max_tokens } from saved text values; null = model default. */
export function parseSettings(values) {
  return Object.fromEntries(Object.entries(FIELDS).map(([key, { parse }]) => [key, parse(String(values[key] ?? ''))]));
}

/** The request for `conversation` under `settings`: OpenAI chat-completions fields. */
export function chatRequest(settings, messages) {
  const request = {
    messages: [
      ...(settings.system ? [{ role: 'system', content: settings.system }] : []),
      ...messages.map(({ role, content }) => ({ role, content })),
    ],
    stream: true,
    stream_options: { include_usage: true },
  };
  for (const key of ['temperature', 'top_p', 'max_tokens']) {
    if (settings[key] !== null) request[key] = settings[key];
  }
  return request;
}

function number(text, { min, max = Infinity, integer = false }) {
  if (!text.trim()) return null;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) return null;
  return value;
}

/** Keeps the form and localStorage in step: every edit is saved. */
export class SettingsForm {
  #form;

  constructor(form) {
    this.#form = form;
    const saved = this.#load();
    for (const name of Object.keys(FIELDS)) form.elements[name].value = saved[name] ?? '';
    form.addEventListener('input', () => this.#save());
    form.addEventListener('submit', (event) => event.preventDefault());
    form.querySelector('.reset-settings')?.addEventListener('click', () => {
      for (const name of Object.keys(FIELDS)) form.elements[name].value = '';
      this.#save();
    });
  }

  /** The current settings; a field the browser flags invalid counts as "default". */
  get value() {
    const values = {};
    for (const name of Object.keys(FIELDS)) {
      const field = this.#form.elements[name];
      values[name] = field.validity.valid ? field.value : '';
    }
    return parseSettings(values);
  }

  #save() {
    const values = Object.fromEntries(Object.keys(FIELDS).map((name) => [name, this.#form.elements[name].value]));
    writeLocal(STORAGE_NAME, JSON.stringify(values));
  }

  #load() {
    try {
      const values = JSON.parse(readLocal(STORAGE_NAME) ?? '{}');
      return values && typeof values === 'object' ? values : {};
    } catch {
      return {}; // not JSON (written by something else): start from the defaults
    }
  }
}
