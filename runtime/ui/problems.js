// What the chat page tells the visitor when something goes wrong, and what it offers to do.
// Pure data from an error (its `name` survives postMessage, see runtime/errors.js), so every
// state is tested in Node; runtime/app.js shows it and wires the actions:
//   'retry'    load the model again (verified shards stay cached: only what is missing or
//              damaged is downloaded again)
//   'reload'   reload the page (a lost GPU device comes back with a fresh page)
//   'new-chat' start a new conversation (the current one stays saved)
//   'dismiss'  hide the message (only where the page goes on working)
// A problem reads as: title (what happened), text (what it means and what to do), an optional
// list (choices to scan, e.g. browsers), and details: the raw error message, for a bug report or
// a support question, shown collapsed because it speaks to developers, not to visitors.

import { formatBytes } from '../units.js';
import { WEBGPU_BROWSERS } from '../webgpu_support.js';

/** { title, text, list, details, actions } for an error from loading the model or from a chat request. */
export function describeProblem(error) {
  const message = error?.message ?? String(error);
  return { list: [], details: message, ...problemOf(error, message) };
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
function problemOf(error, message) {
  switch (error?.name) {
    case 'WebGPUNotAvailableError':
      // Reloading cannot help: the visitor needs another browser (or a setting) first.
      return {
        title: 'This browser cannot run the model',
        text: "The chat runs the model on your device's GPU through WebGPU, which this browser does not offer. Open "
          + 'this page in one of these browsers:',
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
        text: 'The graphics device was reset (a driver update, sleep, or too much work at once). Your '
          + 'conversations are saved; reload the page to start the model again.',
        actions: ['reload'],
      };
    case 'IntegrityError':
      return {
        title: 'A downloaded file was damaged',
        text: `${error.shard ? `The model file ${error.shard}` : 'A model file'} did not match its checksum. `
          + 'Download it again; the files that arrived intact are kept.',
        actions: ['retry'],
      };
    case 'ContextWindowExceededError':
      return {
        title: 'This conversation is full',
        text: 'The model cannot read a conversation this long. Start a new chat (this one stays saved), or '
          + 'edit an earlier message to make it shorter.',
        actions: ['new-chat', 'dismiss'],
      };
    case 'UnsupportedModelError':
      return {
        title: 'This model cannot run here',
        // Retrying cannot help: the model is too large for this GPU, or the site is broken.
        text: `${message} Try another device, or ask the site's owner for a smaller model.`,
        details: null,
        actions: ['dismiss'],
      };
    case 'InvalidRequestError':
      // The message names the field and what it allows: it is the text, not a detail.
      return { title: 'Check the settings', text: message, details: null, actions: ['dismiss'] };
    case 'ModelNotLoadedError':
    case 'EngineLostError':
      return {
        title: 'The model is not running',
        text: 'The model stopped running in the background. Reload the page to start it again; your conversations '
          + 'are saved.',
        actions: ['reload'],
      };
    default:
      return {
        title: 'Something went wrong',
        text: 'The chat ran into an error it did not expect. Try again; if it keeps happening, reload the page. '
          + 'Your conversations are saved.',
        actions: ['retry', 'reload'],
      };
  }
}
