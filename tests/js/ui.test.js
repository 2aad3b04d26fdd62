// The chat page's pure parts (runtime/ui/): what it shows for numbers and problems, the
// conversation export format, and the requests settings turn into. The page itself is tested
// in a real browser (tests/e2e/).
//
//   node --test tests/js/ui.test.js

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  EXPORT_FORMAT, exportFile, markInterrupted, mergeImported, newConversation, readExportFile, titleFrom, toStore,
} from '../../runtime/ui/conversations.js';
import { backendNote, reloadForThreadsNote } from '../../runtime/ui/backend_note.js';
import { isolatedThreads } from '../../runtime/cpu_threads.js';
import { heldText, persistenceText, storedText } from '../../runtime/ui/model_picker.js';
import { replyStats } from '../../runtime/ui/reply_stats.js';
import { describeProblem, describeStepProblem } from '../../runtime/ui/problems.js';
import { chatRequest, parseSettings, settingsError } from '../../runtime/ui/settings.js';
import { isMessage, SendButton } from '../../runtime/ui/send_button.js';
import { STOPPING, StopButton } from '../../runtime/ui/stop_button.js';
import {
  ContextWindowExceededError, DeviceLostError, IntegrityError, InvalidRequestError, ModelNotLoadedError,
  NoBackendAvailableError, OutOfMemoryError, QuotaExceededError, UnsupportedModelError, WebGPUNotAvailableError, fromPlain,
  toPlain,
} from '../../runtime/errors.js';
import { formatBytes } from '../../runtime/units.js';
import { WasmKernels } from '../../runtime/wasm/kernels.js';
import { loadModel } from '../../runtime/wasm/model.js';
import { fixture, modelFiles } from './helpers/model_files.js';

describe('format', () => {
  test('the line under a reply', () => {
    assert.equal(replyStats({ decodeTokensPerSecond: 23.456, completionTokens: 12, finishReason: 'stop' }), '23.5 tokens/s · 12 tokens');
    assert.equal(replyStats({ completionTokens: 1, finishReason: 'abort' }), '1 token · stopped');
    assert.equal(replyStats({ finishReason: 'length' }), 'cut off at the length limit');
  });
});

describe('the backend note', () => {
  test('the CPU backend says so, and what to expect; the GPU needs no note', () => {
    assert.match(backendNote('wasm'), /^Running on the CPU \(WebAssembly\): this browser has no usable WebGPU\. Expect a few tokens a second/);
    assert.match(backendNote('wasm', 'OutOfMemoryError'), /^Running on the CPU \(WebAssembly\): this GPU cannot hold the model \(it ran out of memory\)\..*closing other GPU-heavy tabs/);
    assert.match(backendNote('wasm', 'UnsupportedModelError'), /exceeds the GPU's limits\).*larger GPU/);
    assert.throws(() => backendNote('wasm', 'DeviceLostError'), /unknown gpuFailure "DeviceLostError"/);
    assert.equal(backendNote('webgpu'), null);
    assert.throws(() => backendNote(undefined), /unknown backend undefined; use webgpu or wasm/);
  });

  test('where a reload would add threads, the note says how many', () => {
    assert.equal(reloadForThreadsNote(4), 'Reload the page to run it on 4 threads instead of 1, for faster replies.');
    assert.throws(() => reloadForThreadsNote(1), RangeError);
    // what a reload gives: a thread per core the browser reports, up to 4
    assert.deepEqual([1, 2, 3, 4, 8, 64].map((cores) => isolatedThreads(cores)), [1, 2, 3, 4, 4, 4]);
    assert.equal(isolatedThreads(undefined), 1);
  });
});

describe('problems', () => {
  // Errors arrive from a worker as plain objects: describe what fromPlain gives back.
  const across = (error) => fromPlain(toPlain(error));

  test('each typed error gets its own message and actions', () => {
    const cases = [
      [new NoBackendAvailableError('It runs in Chrome 113+.'), /cannot run the model/, /through WebGPU, or else on its processor through WebAssembly; this browser offers neither/, []],
      [new WebGPUNotAvailableError('It runs in Chrome 113+.'), /cannot run the model on its GPU/, /set to run the model on your device's GPU through WebGPU/, []],
      [new QuotaExceededError('full', { needed: 2_500_000_000, available: 1_000_000_000 }), /Not enough storage/,
        /needs 2.50 GB more; this site may use 1.00 GB/, ['retry']],
      [new DeviceLostError('lost'), /GPU stopped responding/, /reload the page/, ['reload']],
      [new IntegrityError('bad', { shard: 'shard-00003.bin' }), /damaged/, /shard-00003.bin did not match/, ['retry']],
      [new ContextWindowExceededError('too long'), /conversation is full/, /Start a new chat/, ['new-chat', 'dismiss']],
      [new ContextWindowExceededError('max_tokens', { promptTokens: 4000, contextLength: 4096, maxTokens: 512, field: 'max_tokens' }),
        /Max tokens is more than the model has room for/, /takes 4,000 of the model's 4,096 tokens: at most 96 more fit\. Lower Max tokens in Settings/, ['dismiss']],
      [new UnsupportedModelError('The LM head exceeds this GPU\'s binding limit.'), /cannot run here/,
        /binding limit\. Try another device/, ['dismiss']],
      [new TypeError('boom'), /Something went wrong/, /Try again; if it keeps happening, reload/, ['retry', 'reload']],
    ];
    for (const [error, title, text, actions] of cases) {
      const problem = describeProblem(across(error));
      assert.match(problem.title, title);
      assert.match(problem.text, text);
      assert.deepEqual(problem.actions, actions);
    }
  });

  test('the raw message is a technical detail, unless it is the text', () => {
    assert.equal(describeProblem(across(new TypeError('boom at x.js:3'))).details, 'boom at x.js:3');
    assert.doesNotMatch(describeProblem(across(new TypeError('boom at x.js:3'))).text, /x\.js/);
    const invalid = describeProblem(settingsError({ temperature: 'Temperature must be a number from 0 to 2.' }));
    assert.match(invalid.text, /not sent\. Temperature must be a number from 0 to 2\./);
    assert.equal(invalid.details, null);
  });

  test('with neither backend: the browsers that work, internals folded away, nothing to retry', () => {
    const problem = describeProblem(across(new NoBackendAvailableError('Neither backend... Details: page: no adapter')));
    assert.ok(problem.text.length < 200, problem.text);
    assert.ok(problem.list.some((line) => /^Chrome or Edge 113/.test(line)));
    assert.ok(problem.list.some((line) => /Safari/.test(line)) && problem.list.some((line) => /Firefox/.test(line)));
    assert.match(problem.details, /Details: page: no adapter/);
    assert.deepEqual(problem.actions, []);
  });

  test('a refused request is titled by where the fix is: what was written, or a setting', () => {
    const template = describeProblem(across(new InvalidRequestError('Conversation roles must alternate user/assistant',
      { field: 'messages' })));
    assert.equal(template.title, 'The model cannot take this conversation');
    assert.equal(template.text, 'Conversation roles must alternate user/assistant');
    assert.equal(describeProblem(across(new InvalidRequestError('top_p must be ...', { field: 'top_p' }))).title,
      'Check the settings');
    assert.equal(describeProblem(settingsError({ max_tokens: 'Max tokens must be ...' })).title, 'Check the settings');
  });

  test('a full context says how long it is and how much the model reads', () => {
    const problem = describeProblem(across(new ContextWindowExceededError('too long', { promptTokens: 6123, contextLength: 4096 })));
    assert.equal(problem.title, 'This conversation is full');
    assert.match(problem.text, /^The model cannot read a conversation this long \(6,123 tokens; it holds 4,096, the reply included\)\. Start a new chat/);
  });

  test('a message too long on its own says so: a new chat would not help', () => {
    const problem = describeProblem(across(new ContextWindowExceededError('too long',
      { promptTokens: 34006, contextLength: 4096, messageTokens: 33950 })));
    assert.equal(problem.title, 'This message is too long');
    assert.equal(problem.text, 'The model cannot read a message this long (33,950 tokens; it holds 4,096, the reply '
      + 'included), so it was not sent. Your text is kept where you wrote it: shorten it, or split it over several messages.');
    assert.deepEqual(problem.actions, ['dismiss']);
  });

  // The refusals as the CPU backend really makes them: the whole model past its memory's maximum, checked
  // before any shard is read (a SmolLM2 with a 200,000-token context), and one allocation past it.
  test('a model too large for the memory says so in the visitor\'s terms; the engine\'s text is the detail', async () => {
    const { manifest } = await modelFiles(fixture('smollm2').url);
    const long = { ...manifest, architecture: { ...manifest.architecture, context_length: 200000 } };
    const refusals = [
      await loadModel(long, { readShard: () => assert.fail('a shard was read'), maxContext: 200000 }).catch((error) => error),
      await WasmKernels.create().then((wasm) => wasm.alloc(2 ** 32)).catch((error) => error),
    ];
    for (const error of refusals) {
      assert.equal(error.name, 'UnsupportedModelError');
      assert.match(error.message, /maxContext/, 'the engine\'s message names the option, for developers');
      const problem = describeProblem(across(error));
      assert.equal(problem.title, 'This model is too large for this browser');
      assert.equal(problem.text, `The model needs ${formatBytes(error.needed)} of memory, with room for the conversation `
        + `it reads, and this browser lets the page use at most ${formatBytes(error.available)} for it. A browser with `
        + 'WebGPU may run it on the GPU instead; otherwise choose a smaller model if this site offers one (or ask its '
        + 'owner for one).');
      assert.equal(problem.details, error.message);
      assert.deepEqual(problem.actions, ['dismiss']);
      assert.match(describeProblem(across(error), { page: 'completion' }).text, /with room for the text it reads/);
    }
    assert.match(describeProblem(refusals[0]).text, /^The model needs 9\.\d\d GB of memory.* at most 4\.29 GB for it\./);
  });

  test('memory the browser refused is worth another try after closing tabs', () => {
    const problem = describeProblem(across(new OutOfMemoryError('The browser could not give the CPU backend 123 bytes '
      + 'of WebAssembly memory (out of memory): close other tabs, or choose a smaller model or a shorter context.')));
    assert.equal(problem.title, 'Not enough memory for the model');
    assert.match(problem.text, /^This device could not give the page the memory the model needs.*Close some of them, then try again, or choose a smaller model/);
    assert.doesNotMatch(problem.text, /context/);
    assert.deepEqual(problem.actions, ['retry']);
  });

  test('a failed import is dismissed and says nothing changed', () => {
    const problem = describeStepProblem('import', new SyntaxError('Unexpected token } in JSON'), 'chats.json');
    assert.equal(problem.title, 'The file was not imported');
    assert.match(problem.text, /Nothing from chats\.json was added; your conversations are unchanged/);
    assert.equal(problem.details, 'Unexpected token } in JSON');
    assert.deepEqual(problem.actions, ['dismiss']);
    assert.deepEqual(describeStepProblem('save', new Error('QuotaExceeded')).actions, ['dismiss']);
  });
});

describe('the Stop button', () => {
  // The button as StopButton leaves it after each step of a request (a plain object has the
  // properties it sets; the pages' real buttons are driven in tests/e2e/).
  test('says it is stopping and cannot be pressed again until the request ends, then is as before', () => {
    const button = { textContent: 'Stop', hidden: true, disabled: false };
    const stop = new StopButton(button, null);
    const state = () => ({ hidden: button.hidden, disabled: button.disabled, label: button.textContent, stopping: stop.stopping });
    const states = [];
    stop.show(false); states.push(state());
    stop.show(true); states.push(state());
    assert.equal(stop.press(), true); states.push(state());
    assert.equal(stop.press(), false); // Esc after the click: the same stop
    stop.show(true); states.push(state()); // the page redrawn while the request still runs
    stop.show(false); states.push(state()); // the request ended
    stop.show(true); states.push(state()); // the next one
    assert.equal(STOPPING, 'Stopping…');
    assert.deepEqual(states, [
      { hidden: true, disabled: false, label: 'Stop', stopping: false },
      { hidden: false, disabled: false, label: 'Stop', stopping: false },
      { hidden: false, disabled: true, label: 'Stopping…', stopping: true },
      { hidden: false, disabled: true, label: 'Stopping…', stopping: true },
      { hidden: true, disabled: false, label: 'Stop', stopping: false },
      { hidden: false, disabled: false, label: 'Stop', stopping: false },
    ]);
  });
});

describe('the Send button', () => {
  test('white space alone is no message', () => {
    for (const text of ['', ' ', '\n\n', '\t \u00a0\r\n']) assert.equal(isMessage(text), false, JSON.stringify(text));
    for (const text of ['Hi', ' .', '\n\nWhy?\n']) assert.equal(isMessage(text), true, JSON.stringify(text));
  });

  // As for Stop, plain objects with the properties the page's elements have.
  test('is offered only with a message to send, to a ready model, no reply running', () => {
    const button = { hidden: false, disabled: false };
    const input = { value: '' };
    const send = new SendButton(button, input);
    const state = () => ({ hidden: button.hidden, disabled: button.disabled, enabled: send.enabled });
    const states = [];
    input.value = 'Hi'; send.show({ ready: false, busy: false }); states.push(state()); // a restored draft, the model loading
    send.show({ ready: true, busy: false }); states.push(state());
    input.value = '  \n'; send.update(); states.push(state()); // typed away to white space
    input.value = 'Hi'; send.update(); states.push(state());
    send.show({ ready: true, busy: true }); states.push(state()); // sent: Stop in its place
    input.value = ''; send.show({ ready: true, busy: false }); states.push(state()); // the reply ended, the box empty
    assert.deepEqual(states, [
      { hidden: false, disabled: true, enabled: false },
      { hidden: false, disabled: false, enabled: true },
      { hidden: false, disabled: true, enabled: false },
      { hidden: false, disabled: false, enabled: true },
      { hidden: true, disabled: true, enabled: false },
      { hidden: false, disabled: true, enabled: false },
    ]);
  });
});

describe('conversations', () => {
  test('titles come from the first line, cut at a word', () => {
    assert.equal(titleFrom('  Hello   there \nsecond line'), 'Hello there');
    assert.equal(titleFrom('word '.repeat(30)), `${'word '.repeat(12).trim()}…`);
    assert.equal(titleFrom('x'.repeat(80)), `${'x'.repeat(60)}…`);
    assert.equal(titleFrom('   '), 'New chat');
  });

  test('an export reads back; unknown fields are dropped', () => {
    const conversation = { ...newConversation(1000), title: 'Greeting', messages: [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!', stats: { decodeTokensPerSecond: 20, completionTokens: 3, finishReason: 'stop', html: '<b>' } },
    ] };
    const file = JSON.parse(JSON.stringify(exportFile([conversation], { modelId: 'm', now: 0 })));
    assert.equal(file.format, EXPORT_FORMAT);
    assert.equal(file.exported, '1970-01-01T00:00:00.000Z');
    const [back] = readExportFile(file);
    assert.deepEqual(back.messages[1].stats, { decodeTokensPerSecond: 20, completionTokens: 3, finishReason: 'stop' });
    assert.deepEqual({ ...back, messages: back.messages.slice(0, 1) }, { ...conversation, messages: conversation.messages.slice(0, 1) });
  });

  test("a thinking model's reasoning is kept on replies only", () => {
    const conversation = { ...newConversation(1000), title: 'Think', messages: [
      { role: 'user', content: 'Hi', reasoning_content: 'not mine' },
      { role: 'assistant', content: 'Hello!', reasoning_content: 'They greet me.' },
      { role: 'assistant', content: 'Again', reasoning_content: '' },
    ] };
    const [back] = readExportFile(JSON.parse(JSON.stringify(exportFile([conversation], { modelId: 'm', now: 0 }))));
    assert.deepEqual(back.messages, [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!', reasoning_content: 'They greet me.' },
      { role: 'assistant', content: 'Again' },
    ]);
  });

  test('a bad file names its first problem', () => {
    const good = exportFile([{ ...newConversation(0), messages: [{ role: 'user', content: 'x' }] }]);
    const cases = [
      [[], /the file is not a JSON object/],
      [{ ...good, format: 'other' }, /"format" must be "sitegen-conversations"/],
      [{ ...good, version: 2 }, /"version" must be 1 \(this file says 2\)/],
      [{ ...good, conversations: {} }, /"conversations" must be a list/],
      [{ ...good, conversations: [{ ...good.conversations[0], id: '' }] }, /conversations\[0\]\.id must be/],
      [{ ...good, conversations: [{ ...good.conversations[0], messages: [{ role: 'system', content: 'x' }] }] },
        /conversations\[0\]\.messages\[0\]\.role must be "user" or "assistant"/],
      [{ ...good, conversations: [{ ...good.conversations[0], messages: [{ role: 'user', content: 3 }] }] },
        /conversations\[0\]\.messages\[0\]\.content must be a string/],
    ];
    for (const [data, message] of cases) assert.throws(() => readExportFile(data), message);
  });

  test('a reply saved while it was written, found so, was interrupted; not one another page is writing', () => {
    const cut = { role: 'assistant', content: 'Once upon', streaming: true };
    const conversation = (id, messages) => ({ ...newConversation(0), id, messages });
    const conversations = [
      conversation('left', [{ role: 'user', content: 'Story?' }, { ...cut }]),
      conversation('written', [{ role: 'user', content: 'Story?' }, { ...cut }]),
      conversation('done', [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello', stats: { finishReason: 'stop' } }]),
      // a stale flag before the last message: no page writes that one
      conversation('older', [{ role: 'user', content: 'A' }, { ...cut }, { role: 'user', content: 'B' }]),
    ];
    markInterrupted(conversations, (id) => id === 'written' || id === 'older');
    const [left, written, done, older] = conversations.map((item) => item.messages);
    assert.deepEqual(left[1], { role: 'assistant', content: 'Once upon', stats: { finishReason: 'interrupted' } });
    assert.deepEqual(written[1], cut);
    assert.deepEqual(done[1].stats, { finishReason: 'stop' });
    assert.deepEqual(older[1], left[1]);
  });

  test('an interrupted reply stays so through an export; one exported while written ends there', () => {
    const conversation = { ...newConversation(0), messages: [
      { role: 'user', content: 'Story?' },
      { role: 'assistant', content: 'Once', stats: { finishReason: 'interrupted' } },
      { role: 'user', content: 'Again?' },
      { role: 'assistant', content: 'Twice', streaming: true },
    ] };
    const [back] = readExportFile(JSON.parse(JSON.stringify(exportFile([conversation]))));
    assert.deepEqual(back.messages.slice(1, 2), conversation.messages.slice(1, 2));
    assert.deepEqual(back.messages[3], { role: 'assistant', content: 'Twice', stats: { finishReason: 'interrupted' } });
  });

  // A tab saving its copy over what IndexedDB holds (store.js put): several tabs save the same
  // conversations, some from stale copies; no text of either side may be lost.
  test('a save over the stored copy: a stale copy never loses the stored text, a deleted one stays deleted', () => {
    const user = { role: 'user', content: 'Name a bird.' };
    const mine = { ...newConversation(10), title: 'Mine', messages: [user, { role: 'assistant', content: 'The most', streaming: true }] };
    // a new chat's first save creates it; a later one finds it deleted by another tab and stores nothing
    assert.deepEqual(toStore(mine, null, { create: true, now: 20 }), { ...mine, updated: 20 });
    assert.equal(toStore(mine, null, { now: 20 }), null);
    // the stored copy is the one this copy was made from: this copy, later than the stored one
    assert.deepEqual(toStore(mine, { ...mine, messages: [user] }, { now: 20 }), { ...mine, updated: 20 });
    assert.equal(toStore(mine, { ...mine, updated: 30 }, { now: 20 }).updated, 31, 'after the stored copy whatever the clock');
    // another tab finished the reply and renamed the chat since: its title and its longer reply stay
    const finished = { role: 'assistant', content: 'The most iconic bird is the eagle.' };
    const theirs = { ...mine, title: 'Birds', updated: 15, messages: [user, finished] };
    const merged = toStore(mine, theirs, { now: 20 });
    assert.deepEqual(merged, { ...theirs, updated: 20 });
    // this tab's longer text stays where the stored one is its beginning; equal texts: the finished one
    const longer = { role: 'assistant', content: `${finished.content} It soars.`, streaming: true };
    assert.equal(toStore({ ...mine, messages: [user, longer] }, theirs, { now: 20 }).messages[1], longer);
    const same = { ...finished, streaming: true };
    assert.equal(toStore({ ...mine, messages: [user, same] }, theirs, { now: 20 }).messages[1], finished);
    // messages that really differ: the stored ones first, then this tab's, none dropped
    const other = { role: 'assistant', content: 'A sparrow.' };
    const asked = { role: 'user', content: 'And a fish?' };
    const both = toStore({ ...mine, messages: [user, other, asked] }, theirs, { now: 20 }).messages;
    assert.deepEqual(both, [user, finished, other, asked]);
  });

  test('importing never overwrites: the same conversation is skipped, a changed one gets a new id', () => {
    const mine = { ...newConversation(5), title: 'Mine' };
    const existing = new Map([[mine.id, mine]]);
    const fresh = newConversation(7);
    const added = mergeImported(existing, [{ ...mine }, { ...mine, updated: 9, title: 'Theirs' }, fresh]);
    assert.equal(added.length, 2);
    assert.notEqual(added[0].id, mine.id);
    assert.equal(added[0].title, 'Theirs');
    assert.equal(added[1], fresh);
  });
});

describe('settings', () => {
  test('empty fields use the model default and are not sent', () => {
    const { settings, errors } = parseSettings({ system: '  Be brief. ', temperature: '0', top_p: ' ', max_tokens: '' });
    assert.deepEqual(settings, { system: 'Be brief.', temperature: 0, top_p: null, max_tokens: null });
    assert.deepEqual(errors, {});
    assert.deepEqual(chatRequest(settings, [{ role: 'user', content: 'Hi', stats: {} }]), {
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
      stream: true, stream_options: { include_usage: true }, temperature: 0,
    });
    assert.deepEqual(chatRequest(parseSettings({}).settings, []).messages, []);
    assert.deepEqual(parseSettings({ top_p: '0.9', max_tokens: '256' }).settings,
                     { system: null, temperature: null, top_p: 0.9, max_tokens: 256 });
    assert.equal(settingsError({}), null);
  });

  test("empty fields take the site's chat defaults where the model ships none, and are sent", () => {
    const chatDefaults = { temperature: 0.2, top_p: 0.9 };
    const { settings } = parseSettings({ temperature: '', top_p: '0.5', max_tokens: '' }, chatDefaults);
    assert.deepEqual(settings, { system: null, temperature: 0.2, top_p: 0.5, max_tokens: null });
    assert.deepEqual(chatRequest(settings, []), {
      messages: [], stream: true, stream_options: { include_usage: true }, temperature: 0.2, top_p: 0.5,
    });
    // An invalid value is not replaced by the default: it is an error, and null.
    const invalid = parseSettings({ temperature: '5' }, chatDefaults);
    assert.equal(invalid.settings.temperature, null);
    assert.match(invalid.errors.temperature, /^Temperature must be/);
  });

  test('values a request may not carry are errors saying what request.js allows', () => {
    const cases = [
      ['temperature', '5', /^Temperature must be a number from 0 to 2/],
      ['temperature', 'warm', /^Temperature must be a number from 0 to 2/],
      ['top_p', '0', /^Top p must be a number greater than 0 and at most 1\.$/],
      ['top_p', '1.5', /^Top p must be a number greater than 0 and at most 1\.$/],
      ['max_tokens', '0', /^Max tokens must be an integer >= 1\.$/],
      ['max_tokens', '-3', /^Max tokens must be an integer >= 1\.$/],
      ['max_tokens', '2.5', /^Max tokens must be an integer >= 1\.$/],
      ['max_tokens', '1e400', /^Max tokens must be an integer >= 1\.$/],
    ];
    for (const [name, text, message] of cases) {
      const { settings, errors } = parseSettings({ [name]: text });
      assert.equal(settings[name], null, `${name} ${text}`);
      assert.match(errors[name], message, `${name} ${text}`);
    }
    // The boundaries request.js accepts are accepted here too.
    assert.deepEqual(parseSettings({ temperature: '2', top_p: '1', max_tokens: '1' }).errors, {});
    const error = settingsError(parseSettings({ temperature: '5', max_tokens: '0' }).errors);
    assert.equal(error.name, 'InvalidRequestError');
    assert.equal(error.field, 'temperature');
    assert.match(error.message, /^Your message was not sent\. Temperature must be/);
  });
});

describe('the model picker', () => {
  test('says how much of a model is downloaded, and the room left before a download', () => {
    assert.equal(storedText(90_100_000, 90_100_000, 5e9), 'Downloaded');
    assert.equal(storedText(12_000_000, 90_100_000, 5e9), '12.0 of 90.1 MB downloaded');
    assert.equal(storedText(0, 90_100_000, 1_500_000_000), 'Not downloaded; 1.50 GB free for this site');
    assert.equal(storedText(0, 90_100_000, null), 'Not downloaded');
  });

  test('says whether the engine holds a model, and for whom it unloaded one', () => {
    assert.equal(heldText('ready', null), 'loaded in GPU memory');
    assert.equal(heldText('ready', null, 'wasm'), 'loaded in memory (CPU)');
    assert.equal(heldText('loading', null), 'loading');
    assert.equal(heldText(null, 'Tiny Qwen'), 'unloaded to make room for Tiny Qwen');
    assert.equal(heldText(null, null), '');
  });

  test("says whether the browser keeps the downloads", () => {
    assert.match(persistenceText(true), /keeps the downloaded models \(persistent storage granted\)/);
    assert.match(persistenceText(false), /may clear the downloaded models .*not granted/);
    assert.equal(persistenceText(null), '');
  });

  test('a model switched by another tab offers to load this tab\'s back, across postMessage', () => {
    const error = fromPlain(toPlain(new ModelNotLoadedError('switched', { loaded: 'tiny' })));
    const problem = describeProblem(error);
    assert.equal(problem.title, 'Another tab switched the model');
    assert.match(problem.text, /loaded tiny, and this device's memory does not hold both models: yours was unloaded to make room\. Try again to load your model back/);
    assert.deepEqual(problem.actions, ['retry']);
    // Without `loaded`, the model stopped in the background: as before.
    assert.deepEqual(describeProblem(new ModelNotLoadedError('gone')).actions, ['reload']);
  });
});
