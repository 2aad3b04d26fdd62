// The page's settings (system prompt on the chat page, temperature, top_p, max tokens): kept in
// localStorage per site, bound to the settings form, turned into request fields. An empty field means "the
// model's default": the chat default the site was built with where the model ships none (the
// manifest's chat_sampling, which the page renders as the field's data-chat-default and
// placeholder; sitegen/chat_sampling.py), else nothing is sent and the engine applies the
// manifest's generation defaults.
//
// A value a request may not carry is shown as invalid, with what is allowed, and kept as typed:
// never replaced by the default behind the visitor's back. The check is request.js's own (the one
// place requests are validated), so the form accepts exactly what the engine does and says so in
// its words; no bound is repeated here.

import { InvalidRequestError } from '../errors.js';
import { parseChatRequest } from '../request.js';
import { readLocal, writeLocal } from './site_storage.js';

const STORAGE_NAME = 'settings';

// The sampling fields, by request field name, with the name the form shows.
const NUMBER_FIELDS = { temperature: 'Temperature', top_p: 'Top p', max_tokens: 'Max tokens' };
const FIELD_NAMES = ['system', ...Object.keys(NUMBER_FIELDS)];

// The smallest request request.js accepts: a probe carries one setting besides it. The fields
// probed depend on no manifest value, so an empty manifest does.
const PROBE_MESSAGES = [{ role: 'user', content: '' }];

/**
 * The settings in saved text values: { settings, errors }. settings: { system, temperature,
 * top_p, max_tokens }: a field's number; where it is empty, `chatDefaults[field]` (numbers, e.g.
 * { temperature: 0.2, top_p: 0.9 }) or else null (the engine's default); null where it is invalid.
 * errors: { field: text saying what is allowed } for each invalid field.
 */
export function parseSettings(values, chatDefaults = {}) {
  const settings = { system: String(values.system ?? '').trim() || null };
  const errors = {};
  for (const [name, label] of Object.entries(NUMBER_FIELDS)) {
    const text = String(values[name] ?? '').trim();
    settings[name] = null;
    if (!text) {
      settings[name] = chatDefaults[name] ?? null;
      continue;
    }
    const value = Number(text); // NaN for a non-number, which request.js refuses like any bad value
    const error = requestFieldError(name, value, label);
    if (error) errors[name] = error;
    else settings[name] = value;
  }
  return { settings, errors };
}

/**
 * The error to show for `errors` of parseSettings when `unsent` ("Your message", "Your text") is
 * sent; null if there are none.
 */
export function settingsError(errors, unsent = 'Your message') {
  const [field, text] = Object.entries(errors)[0] ?? [];
  if (!field) return null;
  return new InvalidRequestError(`${unsent} was not sent. ${text} Change it in Settings, or clear it to use the `
                                 + 'default.', { field });
}

/** The request for `conversation` under `settings`: OpenAI chat-completions fields. */
export function chatRequest(settings, messages) {
  return streamedRequest(settings, {
    messages: [
      ...(settings.system ? [{ role: 'system', content: settings.system }] : []),
      ...messages.map(({ role, content }) => ({ role, content })),
    ],
  });
}

/** The request continuing `prompt` (a string) under `settings`: OpenAI completions fields. */
export function completionRequest(settings, prompt) {
  return streamedRequest(settings, { prompt });
}

// `fields` streamed with usage, plus the sampling settings that are set.
function streamedRequest(settings, fields) {
  const request = { ...fields, stream: true, stream_options: { include_usage: true } };
  for (const key of Object.keys(NUMBER_FIELDS)) {
    if (settings[key] !== null) request[key] = settings[key];
  }
  return request;
}

// request.js's verdict on one field: null, or "<Label> must be <what request.js allows>."
function requestFieldError(name, value, label) {
  try {
    parseChatRequest({ messages: PROBE_MESSAGES, [name]: value }, {});
    return null;
  } catch (error) {
    if (error.name !== 'InvalidRequestError' || error.field !== name) throw error;
    // the form shows the value itself: only what the field allows is said
    return error.allowed ? `${label} must be ${error.allowed}.` : error.message;
  }
}

/**
 * Keeps the form and localStorage in step (every edit is saved, valid or not) and marks invalid
 * fields the native way: setCustomValidity (so :invalid and reportValidity apply), aria-invalid,
 * and the text of the element the field's aria-describedby names.
 */
export class SettingsForm {
  #form;
  #fields; // FIELD_NAMES the form has (the completion page has no system prompt)

  constructor(form) {
    this.#form = form;
    this.#fields = FIELD_NAMES.filter((name) => form.elements[name]);
    const saved = this.#load();
    for (const name of this.#fields) form.elements[name].value = saved[name] ?? '';
    form.addEventListener('input', () => {
      this.#save();
      this.#mark();
    });
    form.addEventListener('submit', (event) => event.preventDefault());
    form.querySelector('.reset-settings')?.addEventListener('click', () => {
      for (const name of this.#fields) form.elements[name].value = '';
      this.#save();
      this.#mark();
    });
    this.#mark(); // saved values are checked too: a value once valid may not be any more
  }

  /** { settings, errors } as parseSettings gives them for the form's fields. */
  get value() {
    return parseSettings(this.#values(), this.#chatDefaults());
  }

  // { field: number } from the fields' data-chat-default, read at each use: on a site of several
  // models they are the loaded model's (model_picker.js showModelDefaults).
  #chatDefaults() {
    return Object.fromEntries(Object.keys(NUMBER_FIELDS)
      .filter((name) => this.#form.elements[name]?.dataset.chatDefault !== undefined)
      .map((name) => [name, Number(this.#form.elements[name].dataset.chatDefault)]));
  }

  /** Focus the first invalid field; the caller shows the form first (it lives in a dialog). */
  focusInvalid() {
    const { errors } = this.value;
    this.#form.elements[Object.keys(errors)[0]]?.focus();
  }

  #mark() {
    const { errors } = this.value;
    for (const name of Object.keys(NUMBER_FIELDS)) {
      const field = this.#form.elements[name];
      const error = errors[name] ?? '';
      field.setCustomValidity(error);
      field.setAttribute('aria-invalid', String(!!error));
      const errorText = document.getElementById(field.getAttribute('aria-describedby'));
      if (errorText) errorText.textContent = error;
    }
  }

  #values() {
    return Object.fromEntries(this.#fields.map((name) => [name, this.#form.elements[name].value]));
  }

  #save() {
    writeLocal(STORAGE_NAME, JSON.stringify(this.#values()));
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
