// The completion page's entry module (templates/completion.html, the home page of a base model:
// manifest chat_template null): the visitor's text goes to engine.completions.create, and the
// continuation streams in after it. The loader, problem box, settings and service worker are the
// chat page's modules; the text typed is kept in localStorage (per site) across reloads.

import { CompletionView } from './ui/completion_view.js';
import { startPageEngine } from './ui/engine_start.js';
import { ProblemBox } from './ui/problem_box.js';
import { replyProgressText } from './ui/reply_progress.js';
import { completionRequest, SettingsForm, settingsError } from './ui/settings.js';
import { SettingsDialog } from './ui/settings_dialog.js';
import { readLocal, writeLocal } from './ui/site_storage.js';
import { registerServiceWorker } from './ui/site_worker.js';

const $ = (selector) => document.querySelector(selector);

const app = {
  engine: null,
  generating: null, // Promise of the running completion
};

const dom = {
  app: $('.completion-app'),
  loader: $('.loader'),
  form: $('.completion-form'),
  prompt: $('#prompt'),
  send: $('.completion-form .send'),
  stop: $('.completion-form .stop'),
  continueFurther: $('.continue-further'),
};

const view = new CompletionView($('.completion'));
const problemBox = new ProblemBox($('.problem'), { dismiss: () => dom.prompt.focus() });
const settings = new SettingsForm($('.settings-form'));
const settingsDialog = new SettingsDialog($('#settings-dialog'), $('.open-settings'));

main();

async function main() {
  dom.prompt.value = readLocal('prompt') ?? '';
  wireControls();
  registerServiceWorker($('.update'), stop);
  await loadEngine();
}

function loadEngine() {
  return startPageEngine({ root: dom.app, loader: dom.loader, problemBox, input: dom.prompt,
    onEngine: (engine) => { app.engine = engine; }, onControls: setControls });
}

// Changes the page before its first await: the controls show the completion under way at once,
// and a second Ctrl+Enter cannot start two.
async function complete(prompt) {
  if (!prompt.trim() || !app.engine || app.generating || refuseInvalidSettings()) return;
  problemBox.hide();
  let finished;
  app.generating = new Promise((resolve) => { finished = resolve; });
  view.start(prompt);
  setControls();
  let text = '';
  const stats = {};
  try {
    const onProgress = (report) => view.setStatus(replyProgressText(report, { input: 'your text' }));
    const stream = await app.engine.completions.create(completionRequest(settings.value.settings, prompt), { onProgress });
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.text) text += choice.text;
      if (choice?.finish_reason) stats.finishReason = choice.finish_reason;
      if (chunk.usage) {
        stats.completionTokens = chunk.usage.completion_tokens;
        stats.decodeTokensPerSecond = chunk.usage.extra?.decode_tokens_per_s;
      }
      view.update(text);
    }
  } catch (error) {
    if (text) stats.finishReason = 'abort'; // the text so far stays
    problemBox.show(error, { retry: () => complete(prompt) });
  } finally {
    view.end(stats);
    app.generating = null;
    finished();
    setControls();
  }
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

async function stop() {
  if (!app.generating) return;
  app.engine.interruptGenerate();
  await app.generating;
}

function setControls() {
  const ready = !!app.engine;
  const busy = !!app.generating;
  dom.prompt.disabled = !ready;
  dom.send.disabled = !ready || busy;
  dom.send.hidden = busy;
  dom.stop.hidden = !busy;
  dom.continueFurther.disabled = !ready || busy;
}

function wireControls() {
  dom.form.addEventListener('submit', (event) => {
    event.preventDefault();
    complete(dom.prompt.value);
  });
  // Enter writes a new line (a text to continue often has several); Ctrl+Enter (Cmd on a Mac) sends.
  dom.prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
      event.preventDefault();
      dom.form.requestSubmit();
    }
  });
  dom.prompt.addEventListener('input', () => writeLocal('prompt', dom.prompt.value));
  dom.stop.addEventListener('click', () => stop());
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && app.generating) stop();
  });
  // The text and its continuation become the text to continue, and the model goes on.
  dom.continueFurther.addEventListener('click', () => {
    dom.prompt.value = view.fullText;
    writeLocal('prompt', dom.prompt.value);
    complete(dom.prompt.value);
  });
}
