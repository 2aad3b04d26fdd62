// The completion page's entry module (templates/completion.html, the home page of a base model:
// manifest chat_template null): the visitor's text goes to engine.completions.create, and the
// continuation streams in after it. The loader, problem box, settings and service worker are the
// chat page's modules; the text typed is kept in localStorage (per site) across reloads.
//
// What the visitor typed is never lost or overwritten: the box keeps its text through a refused
// request; "Try again" sends what the box holds when it is pressed; "Continue from here" puts the
// completion in the box only while the box still holds the text that was continued (after an
// edit it is disabled, and a note says the edited text is what "Continue the text" continues).

import { CompletionView } from './ui/completion_view.js';
import { showModelDefaults, startSiteModels } from './ui/model_picker.js';
import { ProblemBox } from './ui/problem_box.js';
import { replyProgressText } from './ui/reply_progress.js';
import { completionRequest, SettingsForm, settingsError } from './ui/settings.js';
import { SettingsDialog } from './ui/settings_dialog.js';
import { isMessage, SendButton } from './ui/send_button.js';
import { keptText, readLocal } from './ui/site_storage.js';
import { registerServiceWorker } from './ui/site_worker.js';
import { STOPPING, StopButton } from './ui/stop_button.js';

// The site_storage name of the text typed, kept across reloads: written a moment after typing rather
// than at each key, and at once as the page goes away (keptText).
const PROMPT = 'prompt';
const keptPrompt = keptText(PROMPT);
// Said (in the field's error line) when the visitor asks to continue an empty text.
const EMPTY_PROMPT = 'Write the start of a text first: the model continues it.';

const $ = (selector) => document.querySelector(selector);

const app = {
  engine: null,
  generating: null, // Promise of the running completion
  models: null, // startSiteModels()'s: reload() the chosen model after another tab switched it
};

const dom = {
  app: $('.completion-app'),
  loader: $('.loader'),
  form: $('.completion-form'),
  prompt: $('#prompt'),
  promptError: $('#prompt-error'),
  send: $('.completion-form .send'),
  stop: $('.completion-form .stop'),
  continueFurther: $('.continue-further'),
  continueNote: $('#continue-note'),
};

const view = new CompletionView($('.completion'));
const stopButton = new StopButton(dom.stop, dom.prompt);
// "Continue the text" is offered only with a text to continue: the engine refuses an empty prompt,
// and the page sends none made of white space alone (refuseEmptyPrompt).
const sendButton = new SendButton(dom.send, dom.prompt);
const problemBox = new ProblemBox($('.problem'), { dismiss: () => dom.prompt.focus() }, { page: 'completion' });
const settingsForm = $('.settings-form');
const settings = new SettingsForm(settingsForm);
const settingsDialog = new SettingsDialog($('#settings-dialog'), $('.open-settings'));

main();

async function main() {
  dom.prompt.value = readLocal(PROMPT) ?? '';
  wireControls();
  registerServiceWorker($('.update'), stop);
  app.models = startSiteModels({ root: dom.app, picker: $('.model-picker'), loader: dom.loader, problemBox,
    input: dom.prompt, onControls: setControls, beforeSwitch: stop,
    onEngine: (engine, model) => {
      app.engine = engine;
      showModelDefaults(model, { form: settingsForm, input: dom.prompt }); // the settings follow the model chosen
    } });
}

// Changes the page before its first await: the controls show the completion under way at once,
// and a second Ctrl+Enter cannot start two.
async function complete(prompt) {
  if (!app.engine || app.generating || refuseEmptyPrompt(prompt) || refuseInvalidSettings()) return;
  problemBox.hide();
  let finished;
  app.generating = new Promise((resolve) => { finished = resolve; });
  view.start();
  setControls();
  let text = '';
  const stats = {};
  try {
    // A stop in progress keeps its status line: the prompt's progress reports go on until the slice ends.
    const onProgress = (report) => {
      if (!stopButton.stopping) view.setStatus(replyProgressText(report, { input: 'your text' }));
    };
    const stream = await app.engine.completions.create(completionRequest(settings.value.settings, prompt), { onProgress });
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.text) text += choice.text;
      if (choice?.finish_reason) stats.finishReason = choice.finish_reason;
      if (chunk.usage) {
        stats.completionTokens = chunk.usage.completion_tokens;
        stats.decodeTokensPerSecond = chunk.usage.extra?.decode_tokens_per_s;
      }
      if (text) view.update(prompt, text);
    }
    // A completion that ended without a word (an end token first) still shows what it continued.
    if (!text && stats.finishReason !== 'abort') view.update(prompt, text);
  } catch (error) {
    if (text) stats.finishReason = 'abort'; // the text so far stays
    // Another tab (or an API request) switched the site's model: Try again loads this tab's back.
    problemBox.show(error, { retry: error.loaded ? () => app.models.reload() : () => complete(dom.prompt.value) });
  } finally {
    view.end(stats);
    app.generating = null;
    finished();
    setControls();
  }
}

// Nothing to continue: the button is disabled, and Ctrl+Enter or Try again say so in the field
// (its error line is an alert) instead of doing nothing.
function refuseEmptyPrompt(prompt) {
  const empty = !isMessage(prompt);
  showPromptError(empty ? EMPTY_PROMPT : '');
  if (empty) dom.prompt.focus();
  return empty;
}

function showPromptError(text) {
  dom.promptError.textContent = text;
  if (text) dom.prompt.setAttribute('aria-invalid', 'true');
  else dom.prompt.removeAttribute('aria-invalid');
}

// A setting the engine would refuse stops the completion before it starts: the problem says why,
// and the settings open at the field; closing them goes back to the text.
function refuseInvalidSettings() {
  const error = settingsError(settings.value.errors, 'Your text');
  if (!error) return false;
  problemBox.show(error);
  settingsDialog.open({ returnFocusTo: dom.prompt });
  settings.focusInvalid();
  return true;
}

// The engine ends the completion at its next token, or after the prompt slice it is running
// (seconds on a slow GPU): until then the button and the status line say it is stopping. A second
// call (Esc, the update notice) waits for the same end.
async function stop() {
  if (!app.generating) return;
  if (stopButton.press()) {
    view.setStatus(STOPPING);
    app.engine.interruptGenerate();
  }
  await app.generating;
}

function setControls() {
  const ready = !!app.engine;
  const busy = !!app.generating;
  dom.prompt.disabled = !ready;
  sendButton.show({ ready, busy }); // and on each edit: it follows the box's text
  stopButton.show(busy);
  // "Continue from here" would replace the box's text: only while that text is the one continued.
  const edited = !!view.prompt && dom.prompt.value !== view.prompt;
  dom.continueFurther.disabled = !ready || busy || edited;
  dom.continueNote.hidden = busy || !edited;
}

function wireControls() {
  dom.form.addEventListener('submit', (event) => {
    event.preventDefault();
    complete(dom.prompt.value);
  });
  // Enter writes a new line (a text to continue often has several); Ctrl+Enter (Cmd on a Mac) sends,
  // or, with nothing to send (the button disabled), says why at the field and sends nothing.
  dom.prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      complete(dom.prompt.value);
    }
  });
  dom.prompt.addEventListener('input', () => {
    keptPrompt.set(dom.prompt.value);
    if (isMessage(dom.prompt.value)) showPromptError('');
    setControls();
  });
  dom.stop.addEventListener('click', () => stop());
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && app.generating) stop();
  });
  // The text and its continuation become the text to continue, and the model goes on (setControls
  // disables the button once the box's text is no longer the one continued).
  dom.continueFurther.addEventListener('click', () => {
    if (dom.prompt.value !== view.prompt) return;
    dom.prompt.value = view.fullText;
    keptPrompt.set(dom.prompt.value, { now: true }); // set by the page, not typed: no keystrokes to wait for
    complete(dom.prompt.value);
  });
}
