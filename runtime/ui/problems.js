// What a page tells the visitor when something goes wrong, and what it offers to do. Pure data
// from an error (its `name` survives postMessage, see runtime/errors.js), so every state is
// tested in Node; runtime/ui/problem_box.js shows it and the page wires the actions:
//   'retry'    load the model again (verified shards stay cached: only what is missing or
//              damaged is downloaded again), or send the request again
//   'reload'   reload the page (a lost GPU device comes back with a fresh page)
//   'new-chat' start a new conversation (the current one stays saved; the chat page only)
//   'dismiss'  hide the message (only where the page goes on working)
// A problem reads as: title (what happened), text (what it means and what to do), an optional
// list (choices to scan, e.g. browsers), and details: the raw error message, for a bug report or
// a support question, shown collapsed because it speaks to developers, not to visitors.
// The chat page and a base model's completion page share the texts; PAGE_WORDS holds the few
// words that differ (as replyProgressText's `input` does for the reply status).

import { formatBytes } from '../units.js';
import { WEBGPU_BROWSERS } from '../webgpu_support.js';

/** The words of each page (`describeProblem`'s `page`) that the shared texts take. */
export const PAGE_WORDS = {
  chat: {
    app: 'The chat', // what runs the model, as the visitor sees it
    input: 'conversation', // what the model reads
    kept: 'Your conversations are saved', // what survives a reload
    full: 'full',
    shorten: 'Start a new chat (this one stays saved), or edit an earlier message to make it shorter.',
  },
  completion: {
    app: 'This page',
    input: 'text',
    kept: 'Your text is kept',
    full: 'too long',
    shorten: 'Shorten it (your text stays in the box), then try again.',
  },
};

// Request fields that hold what the visitor wrote (runtime/request.js and chat_template.js name
// them in InvalidRequestError.field); every other field is a setting.
const INPUT_FIELDS = new Set(['messages', 'prompt']);

const count = (number) => number.toLocaleString('en-US');

/**
 * { title, text, list, details, actions } for an error from loading the model or from a request.
 * `page`: 'chat' or 'completion' (a key of PAGE_WORDS), the page the problem is shown on.
 * Throws a TypeError for an unknown page (a bug of the page that calls it).
 */
export function describeProblem(error, { page = 'chat' } = {}) {
  const words = PAGE_WORDS[page];
  if (!words) throw new TypeError(`describeProblem: unknown page ${JSON.stringify(page)}; use one of ${Object.keys(PAGE_WORDS).join(', ')}`);
  const message = error?.message ?? String(error);
  return { list: [], details: message, ...problemOf(error, message, words) };
}

// Steps the visitor took that failed while the page goes on working: the problem says what did
// not happen and is dismissed.
const STEP_PROBLEMS = {
  import: (fileName) => ({
    title: 'The file was not imported',
    text: `Nothing from ${fileName} was added; your conversations are unchanged. Import a file saved with `
      + '“Export all” from this chat.',
  }),
  save: () => ({
    title: 'The conversation was not saved',
    text: 'This browser did not let the site store it (storage may be full, or this is a private window). You can '
      + 'go on chatting; “Export all” keeps a copy.',
  }),
  delete: () => ({
    title: 'The conversation was not deleted',
    text: 'This browser did not let the site change what it stored. Try again later.',
  }),
};

/** The problem of a failed `step` (import, save, delete), `subject` naming what it was about. */
export function describeStepProblem(step, error, subject) {
  return { list: [], details: error?.message ?? String(error), actions: ['dismiss'], ...STEP_PROBLEMS[step](subject) };
}

// title, text, actions and, where they differ from the defaults, list and details.
function problemOf(error, message, words) {
  switch (error?.name) {
    case 'WebGPUNotAvailableError':
      // Only where the page asked for backend 'webgpu' itself ('auto' falls back to the CPU).
      return {
        title: 'This browser cannot run the model on its GPU',
        text: `${words.app} was set to run the model on your device's GPU through WebGPU, which this browser does `
          + 'not offer. Open this page in one of these browsers:',
        list: WEBGPU_BROWSERS,
        actions: [],
      };
    case 'NoBackendAvailableError':
      // Neither backend runs (sw_client.js): no WebGPU, and no WebAssembly SIMD for the CPU one.
      // Reloading cannot help: the visitor needs another browser (or a setting) first.
      return {
        title: 'This browser cannot run the model',
        text: `${words.app} runs the model on your device's GPU through WebGPU, or else on its processor through `
          + 'WebAssembly; this browser offers neither. Open this page in one of these browsers:',
        list: WEBGPU_BROWSERS,
        actions: [],
      };
    case 'QuotaExceededError': {
      const { needed, available } = error;
      const sizes = Number.isFinite(needed) && Number.isFinite(available)
        ? ` The model needs ${formatBytes(needed)} more; this site may use ${formatBytes(Math.max(available, 0))}.`
        : '';
      return {
        title: 'Not enough storage for the model',
        text: `Your browser does not let this site store the model's files.${sizes} Free up disk space or `
          + 'clear data of other sites, then try again.',
        actions: ['retry'],
      };
    }
    case 'DeviceLostError':
      return {
        title: 'The GPU stopped responding',
        text: 'The graphics device was reset (a driver update, sleep, or too much work at once). '
          + `${words.kept}; reload the page to start the model again.`,
        actions: ['reload'],
      };
    case 'NetworkError':
      // Offline, or the site unreachable: once back online, trying again resumes the download.
      return {
        title: 'The model could not be downloaded',
        text: 'This device seems to be offline, or the site cannot be reached. Connect to the network, then try '
          + 'again: the model files downloaded so far are kept. Models already downloaded work offline.',
        actions: ['retry'],
      };
    case 'IntegrityError':
      return {
        title: 'A downloaded file was damaged',
        text: `${error.shard ? `The model file ${error.shard}` : 'A model file'} did not match its checksum. `
          + 'Download it again; the files that arrived intact are kept.',
        actions: ['retry'],
      };
    case 'ContextWindowExceededError':
      if (error.field === 'max_tokens' || error.field === 'max_completion_tokens') return maxTokensProblem(error, words);
      if (Number.isFinite(error.messageTokens)) {
        // the last message alone does not fit: a new chat cannot help, a shorter message can. The
        // chat page does not keep it as sent (runtime/app.js generate): its text is given back.
        return {
          title: 'This message is too long',
          text: `The model cannot read a message this long${contextSize({ ...error, promptTokens: error.messageTokens })}, `
            + 'so it was not sent. Your text is kept where you wrote it: shorten it, or split it over several messages.',
          actions: ['dismiss'],
        };
      }
      return {
        title: `This ${words.input} is ${words.full}`,
        text: `The model cannot read a ${words.input} this long${contextSize(error)}. ${words.shorten}`,
        actions: ['new-chat', 'dismiss'],
      };
    case 'UnsupportedModelError':
      if (Number.isFinite(error.needed) && Number.isFinite(error.available)) return memoryProblem(error, words);
      return {
        title: 'This model cannot run here',
        // Retrying cannot help: the model is too large for this GPU, or the site is broken.
        text: `${message} Try another device, or ask the site's owner for a smaller model.`,
        details: null,
        actions: ['dismiss'],
      };
    case 'OutOfMemoryError':
      // The browser refused the memory (the GPU's, or the CPU backend's WebAssembly memory): other
      // tabs or programs may hold it, so trying again after closing some can work.
      return {
        title: 'Not enough memory for the model',
        text: 'This device could not give the page the memory the model needs; other tabs or programs may be using '
          + `it. Close some of them, then try again, or ${SMALLER_MODEL}.`,
        actions: ['retry'],
      };
    case 'InvalidRequestError':
      // The message names the field and what it allows: it is the text, not a detail. The title
      // says where the fix is: what the visitor wrote (a template's raise_exception, an empty or
      // refused prompt) or a setting.
      return {
        title: INPUT_FIELDS.has(error.field) ? `The model cannot take this ${words.input}` : 'Check the settings',
        text: message,
        details: null,
        actions: ['dismiss'],
      };
    case 'ModelNotLoadedError':
      // The engine unloaded this page's model to make room for another (host_protocol.js).
      if (error.loaded) {
        return {
          title: 'Another tab switched the model',
          text: `Another tab of this site (or a program using its API) loaded ${error.loaded}, and this device's memory `
            + 'does not hold both models: yours was unloaded to make room. Try again to load your model back; the '
            + `other tab's may then be unloaded. ${words.kept}.`,
          actions: ['retry'],
        };
      }
    // falls through
    case 'EngineLostError':
      return {
        title: 'The model is not running',
        text: `The model stopped running in the background. Reload the page to start it again; ${lower(words.kept)}.`,
        actions: ['reload'],
      };
    default:
      return {
        title: 'Something went wrong',
        text: `${words.app} ran into an error it did not expect. Try again; if it keeps happening, reload the page. `
          + `${words.kept}.`,
        actions: ['retry', 'reload'],
      };
  }
}

// The way out of a model too large for the device, in the visitor's terms (the page has no setting
// for the context the engine reserves memory for).
const SMALLER_MODEL = 'choose a smaller model if this site offers one (or ask its owner for one)';

// The model and its context need more memory than the backend can have (UnsupportedModelError with
// { needed, available }: runtime/wasm's CPU backend, whose WebAssembly memory has a fixed maximum).
// Trying again cannot help. The engine's message, for developers, stays in the details.
function memoryProblem({ needed, available }, words) {
  return {
    title: 'This model is too large for this browser',
    text: `The model needs ${formatBytes(needed)} of memory, with room for the ${words.input} it reads, and this `
      + `browser lets the page use at most ${formatBytes(available)} for it. A browser with WebGPU may run it on the `
      + `GPU instead; otherwise ${SMALLER_MODEL}.`,
    actions: ['dismiss'],
  };
}

const lower = (sentence) => sentence[0].toLowerCase() + sentence.slice(1);

// The engine refused the Max tokens setting: the prompt fits, but not with that many tokens after it
// (engine.js assertFitsContextWindow; OpenAI's 400 context_length_exceeded on max_tokens).
function maxTokensProblem({ promptTokens, contextLength }, words) {
  const room = Number.isFinite(promptTokens) && Number.isFinite(contextLength)
    ? ` This ${words.input} takes ${count(promptTokens)} of the model's ${count(contextLength)} tokens: at most `
      + `${count(Math.max(contextLength - promptTokens, 0))} more fit.` : '';
  return {
    title: 'Max tokens is more than the model has room for',
    text: `The reply would not fit after this ${words.input}.${room} Lower Max tokens in Settings, or empty it to write `
      + 'until the model is full, then try again.',
    actions: ['dismiss'],
  };
}

// " (6,000 tokens; it holds 4,096, the reply included)" from the engine's ContextWindowExceededError
// fields, '' where the error lacks them. (The engine refuses a prompt of contextLength tokens too: it
// leaves no room for a reply.)
function contextSize({ promptTokens, contextLength } = {}) {
  return Number.isFinite(promptTokens) && Number.isFinite(contextLength)
    ? ` (${count(promptTokens)} tokens; it holds ${count(contextLength)}, the reply included)` : '';
}
