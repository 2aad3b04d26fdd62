// What the chat page tells the visitor when something goes wrong, and what it offers to do.
// Pure data from an error (its `name` survives postMessage, see runtime/errors.js), so every
// state is tested in Node; runtime/app.js shows it and wires the actions:
//   'retry'    load the model again (verified shards stay cached: only what is missing or
//              damaged is downloaded again)
//   'reload'   reload the page (a lost GPU device comes back with a fresh page)
//   'new-chat' start a new conversation (the current one stays saved)
//   'dismiss'  hide the message

import { formatBytes } from '../units.js';

/** { title, text, actions } for an error from loading the model or from a chat request. */
export function describeProblem(error) {
  const message = error?.message ?? String(error);
  switch (error?.name) {
    case 'WebGPUNotAvailableError':
      return {
        title: 'This browser cannot run the model',
        // The runtime's message says which browsers and settings work (runtime/sw_client.js).
        text: `The chat runs on your device's GPU. ${message}`,
        actions: ['reload'],
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
        actions: ['dismiss'],
      };
    case 'InvalidRequestError':
      return { title: 'Check the settings', text: message, actions: ['dismiss'] };
    case 'ModelNotLoadedError':
    case 'EngineLostError':
      return {
        title: 'The model is not running',
        text: `${message} Reload the page to start it again; your conversations are saved.`,
        actions: ['reload'],
      };
    default:
      return {
        title: 'Something went wrong',
        text: `${message} If it keeps happening, reload the page; your conversations are saved.`,
        actions: ['retry', 'reload'],
      };
  }
}
