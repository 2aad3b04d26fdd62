// The chat page's entry module: wires the page (templates/index.html) to the engine.
//
// The engine starts as runtime/ui/engine_start.js says (the service worker, else a dedicated
// worker), with the model the visitor chose (runtime/ui/model_picker.js: one model at a time). Conversations live in IndexedDB, settings, the open conversation's id and the
// composer's unsent text in localStorage, all per site.
// Each step of a reply is saved as it streams, so a reload or a crash loses at most a second; the
// page that loads such a reply next shows it as interrupted.
// Tabs of the site share the conversations: each tab's saves and deletes are announced to the others
// (runtime/ui/store.js), which show them (takeChange); a save never overwrites another tab's newer
// text (conversations.js toStore). Each chat has its own unsent text (its draft), and each tab its
// own open chat across its reloads. A duplicated tab (the browser's "Duplicate tab") starts as a copy
// of its original and goes on as a tab of its own (claimTab, keepOwnCopy); a tab back from the
// back/forward cache reads the conversations again (resync).

import { ChatView } from './ui/chat_view.js';
import { ConversationList } from './ui/conversation_list.js';
import { exportFile, markInterrupted, mergeImported, newConversation, newId, readExportFile, titleFrom } from './ui/conversations.js';
import { Drawer } from './ui/drawer.js';
import { PaneScroll } from './ui/pane_scroll.js';
import { showModelDefaults, startSiteModels } from './ui/model_picker.js';
import { ProblemBox } from './ui/problem_box.js';
import { describeStepProblem } from './ui/problems.js';
import { replyProgressText } from './ui/reply_progress.js';
import { chatRequest, SettingsForm, settingsError } from './ui/settings.js';
import { SettingsDialog } from './ui/settings_dialog.js';
import { SendButton } from './ui/send_button.js';
import { keptText, readLocal, readTab, removeLocal, removeTab, siteFolder, writeLocal, writeTab } from './ui/site_storage.js';
import { registerServiceWorker } from './ui/site_worker.js';
import { STOPPING, StopButton } from './ui/stop_button.js';
import { ConversationStore } from './ui/store.js';

const SAVE_EVERY_MS = 1000;
// The site_storage name of a chat's unsent text in the composer (setPrompt), kept across reloads
// until sent: one per chat (a new chat's under the id its first save will have), so that tabs on
// different chats do not overwrite each other's.
const draftName = (chatId) => `draft:${chatId}`;
// Whether this tab keeps chat `chatId`'s unsent text as its own (site_storage, this tab's) rather than
// the site's: a duplicated tab does for the stored chat it came with (keepOwnCopy).
const ownDraft = (chatId) => readTab(draftName(chatId)) !== null;
// Chat `chatId`'s unsent text in this tab: its own, else the site's; null: none.
const readDraft = (chatId) => readTab(draftName(chatId)) ?? readLocal(draftName(chatId));
// The site_storage (this tab's) name of the open chat's id (app.chatId).
const TAB_CHAT = 'chat';
// The site_storage (this tab's) name of this tab's id, which the page holds as a Web Lock (tabLock).
const TAB_ID = 'tab';
const tabLock = (id) => `sitegen-tab:${siteFolder()}${id}`;
// How long a page waits for its tab's lock where the page it replaced (a reload) may still hold it;
// a live tab never lets it go.
const TAB_RELEASE_MS = 1000;
// The open chat: this tab's across its reloads; a new tab opens the site's last opened conversation.
const firstChatId = readTab(TAB_CHAT) || readLocal('current') || newId();
const draft = keptText(draftName(firstChatId), { tab: ownDraft(firstChatId) });
// Below this width the conversations are a drawer; the same breakpoint as themes/_layout.css.
const DRAWER_QUERY = '(max-width: 48rem)';
const $ = (selector) => document.querySelector(selector);

const app = {
  engine: null,
  store: null,
  conversations: [], // most recent first, as the sidebar lists them
  current: null, // the open conversation; null = a new chat not saved yet
  chatId: firstChatId, // the open chat's id: app.current's, or the one a new chat will be saved under
  generating: null, // Promise of the running reply
  writing: null, // the conversation whose reply this tab is writing (with app.generating)
  models: null, // startSiteModels()'s: reload() the chosen model after another tab switched it
};

const dom = {
  app: $('.chat-app'),
  loader: $('.loader'),
  update: $('.update'),
  composer: $('.composer'),
  prompt: $('#prompt'),
  send: $('.composer .send'),
  stop: $('.composer .stop'),
  starters: $('.starters'),
  newChat: $('.new-chat'),
  exportChats: $('.export-chats'),
  importChats: $('.import-chats input'),
};

// After "Jump to latest" the button hides: focus goes where the next message is written.
const paneScroll = new PaneScroll($('.message-scroll'), $('.jump-to-latest'), { afterJump: () => dom.prompt.focus() });
const chatView = new ChatView($('.messages'), $('#message-template'), {
  edit: (index, text) => reply(index, text),
  regenerate: (index) => reply(index),
}, paneScroll);
// Conversations made in this tab and not saved yet: their first save creates them (ConversationStore.put).
const unsaved = new WeakSet();
const conversationList = new ConversationList($('.conversation-list'), $('#conversation-template'), {
  open: (id) => openConversation(id),
  rename: (id, title) => renameConversation(id, title),
  remove: (id) => deleteConversation(id),
}, { emptyFocus: $('.new-chat') });
const problemBox = new ProblemBox($('.problem'), {
  // The conversation is full: its last message, unanswered, goes on in the new chat's composer.
  'new-chat': () => startNewChat({ carry: unansweredText(app.current) }),
  dismiss: () => dom.prompt.focus(), // the Dismiss button goes away with the box: back to where one writes
});
const stopButton = new StopButton(dom.stop, dom.prompt);
const sendButton = new SendButton(dom.send, dom.prompt);
const settingsForm = $('.settings-form');
const settings = new SettingsForm(settingsForm);
const settingsDialog = new SettingsDialog($('#settings-dialog'), $('.open-settings'));
// While the drawer is open only it and its toggle are live.
const drawer = new Drawer({
  panel: $('#conversations'),
  toggle: $('.toggle-sidebar'),
  backdrop: $('.drawer-backdrop'),
  outside: document.querySelectorAll('.skip-link, .site-title, .site-header nav, .header-tools > :not(.toggle-sidebar), .chat'),
  query: DRAWER_QUERY,
});

main();

async function main() {
  const duplicate = claimTab(); // found while the page starts; the store's answer waits for it
  // A draft kept before drafts were kept per chat (one per site, under 'draft') becomes the open
  // chat's, unless that chat has one: a site rebuilt with this page loses no text typed before.
  const siteDraft = readLocal('draft');
  if (siteDraft !== null) {
    if (!readLocal(draftName(app.chatId))) writeLocal(draftName(app.chatId), siteDraft);
    removeLocal('draft');
  }
  showPrompt(readDraft(app.chatId) ?? '');
  wireControls();
  registerServiceWorker(dom.update, stopReply);
  await openStore(duplicate);
  // Back from the back/forward cache (not a load: nothing above ran again).
  addEventListener('pageshow', (event) => {
    if (event.persisted) resync();
  });
  loadEngine();
}

// --- this tab --------------------------------------------------------------------------------

/**
 * Holds this tab's id while the page lives. The browser's "Duplicate tab" copies a tab's
 * sessionStorage, the id and the open chat's with it: where another live tab holds the id, this tab
 * is that tab's duplicate and takes an id of its own. Without Web Locks (not a secure context) no
 * duplicate is found.
 * @returns {Promise<boolean>} whether this tab is a duplicate of a live one
 */
async function claimTab() {
  if (!navigator.locks) return false;
  const hold = (id, options) => new Promise((resolve) => {
    navigator.locks.request(tabLock(id), options, (lock) => {
      resolve(Boolean(lock));
      return lock && new Promise(() => {}); // held until the page goes away
    }).catch(() => resolve(false)); // not granted in time (options.signal)
  });
  const inherited = readTab(TAB_ID);
  if (inherited && ((await hold(inherited, { ifAvailable: true }))
      || (await hold(inherited, { signal: AbortSignal.timeout(TAB_RELEASE_MS) })))) return false;
  const id = newId();
  writeTab(TAB_ID, id);
  hold(id, { ifAvailable: true });
  return inherited !== null;
}

/**
 * A duplicated tab (claimTab) came with its original's open chat and composer text: it keeps both as
 * copies of its own, so that neither tab writes over the other's. A new chat not saved yet gets an
 * id of its own (under the same id, the two tabs' first messages would make one conversation); a
 * stored one stays open in both tabs, this tab's unsent text of it kept as its own (ownDraft), apart
 * from the site's that the original tab writes.
 */
function keepOwnCopy() {
  if (!app.current) {
    setChat(null, { keepComposer: true });
    return;
  }
  writeTab(draftName(app.chatId), dom.prompt.value);
  draft.keepAs(draftName(app.chatId), { tab: true });
}

// --- the engine ------------------------------------------------------------------------------

// The composer's placeholder, as templates/index.html renders it for the site's first model.
const PROMPT_PLACEHOLDER = 'Message {name}';

function loadEngine() {
  app.models = startSiteModels({ root: dom.app, picker: $('.model-picker'), loader: dom.loader, problemBox,
    input: dom.prompt, onControls: setControls, beforeSwitch: stopReply,
    onEngine: (engine, model) => {
      app.engine = engine;
      // The settings' defaults and the composer follow the model chosen (sitegen/site.py _model_entry).
      showModelDefaults(model, { form: settingsForm, input: dom.prompt, placeholder: PROMPT_PLACEHOLDER });
    } });
}

// --- conversations ---------------------------------------------------------------------------

/** `duplicate`: Promise of claimTab's answer. */
async function openStore(duplicate) {
  try {
    app.store = await ConversationStore.open(`sitegen-chats:${siteFolder()}`, { onChange: takeChange });
    app.conversations = await app.store.list();
    // Replies whose page went away while writing them, not those another tab is writing now.
    const held = new Set((await navigator.locks?.query())?.held.map((lock) => lock.name));
    markInterrupted(app.conversations, (id) => held.has(replyLock(id)));
    for (const conversation of app.conversations) watchReply(conversation);
  } catch (error) {
    // Private windows of some browsers have no IndexedDB: chat on, without saving.
    console.warn('Conversations will not be saved:', error);
    app.store = null;
  }
  // Not stored (deleted since, or never saved): a new chat under that id, its draft kept.
  app.current = app.conversations.find((conversation) => conversation.id === app.chatId) ?? null;
  if (await duplicate) keepOwnCopy();
  writeTab(TAB_CHAT, app.chatId);
  showConversation({ latest: true });
}

/**
 * Reads the conversations again and shows what changed, as takeChange shows one change another tab
 * announces: a page back from the back/forward cache heard nothing while it was kept there (Chromium
 * evicts a kept page that is sent a BroadcastChannel message instead; other browsers may keep the page
 * and drop the message).
 */
async function resync() {
  if (!app.store) return;
  let stored;
  try {
    stored = await app.store.list();
  } catch (error) {
    console.warn('Conversations were not read again:', error);
    return;
  }
  const ids = new Set(stored.map(({ id }) => id));
  // Gone from the store: deleted elsewhere (not this tab's own, not stored yet).
  const deleted = app.conversations.filter((item) => !ids.has(item.id) && !unsaved.has(item) && item !== app.writing);
  for (const { id } of deleted) await takeChange(id, null, { list: false });
  for (const conversation of stored) await takeChange(conversation.id, conversation, { list: false });
  renderList();
  setControls();
}

/** Show the open conversation; `latest`: at its last message (it was just opened). */
function showConversation({ latest = false } = {}) {
  chatView.render(app.current?.messages ?? [], { busy: !!app.generating, latest });
  renderList();
  setControls();
}

// The list again (a title being typed stays: ConversationList.render); keyboard focus on a
// conversation's button stays on that conversation's, which the re-render made anew.
function renderList() {
  const list = $('.conversation-list');
  const focused = list.contains(document.activeElement) ? document.activeElement : null;
  const id = focused?.closest('.conversation')?.dataset.id;
  conversationList.render(app.conversations, app.current?.id);
  if (!focused || !id || focused.isConnected) return;
  const item = [...list.querySelectorAll('.conversation')].find((element) => element.dataset.id === id);
  item?.querySelector(`.${[...focused.classList].join('.')}`)?.focus();
}

/**
 * Makes `conversation` the open chat (null: a new one, saved under `id` once it has a message): the
 * composer shows that chat's unsent text, or with `keepComposer` keeps its own as that chat's.
 * `discard`: the text of the chat left not written yet is dropped (the chat was deleted).
 */
function setChat(conversation, { id = conversation?.id ?? newId(), keepComposer = false, discard = false } = {}) {
  app.current = conversation;
  app.chatId = id;
  writeTab(TAB_CHAT, id);
  writeLocal('current', conversation?.id ?? '');
  draft.keepAs(draftName(id), { discard, tab: ownDraft(id) });
  if (keepComposer) draft.set(dom.prompt.value, { now: true });
  else showPrompt(readDraft(id) ?? '');
}

// Stores `conversation` (ConversationStore.put) and takes back what was stored: another tab's newer
// title, and messages merged with its newer ones. One deleted meanwhile in another tab is dropped.
async function save(conversation) {
  const create = unsaved.delete(conversation);
  if (!app.conversations.includes(conversation)) app.conversations.unshift(conversation);
  if (conversation === app.current) writeLocal('current', conversation.id);
  const sent = conversation.messages;
  try {
    if (!app.store) conversation.updated = Date.now(); // no IndexedDB: the list's order only
    const stored = await app.store?.put(conversation, { create });
    if (stored === null) app.conversations = app.conversations.filter((item) => item !== conversation);
    else if (stored) {
      conversation.title = stored.title;
      conversation.updated = stored.updated;
      // Merged with another tab's newer messages (not a copy of this page's own array, which
      // may have changed since the save began).
      if (stored.messages !== sent && stored.messages !== conversation.messages) {
        conversation.messages = stored.messages;
        if (conversation === app.current) showConversation();
      }
    }
  } catch (error) {
    if (create) unsaved.add(conversation); // not created: its next save creates it (not "deleted elsewhere")
    problemBox.show(error, { problem: describeStepProblem('save', error) });
  }
  app.conversations.sort((a, b) => b.updated - a.updated);
}

/**
 * Another tab stored conversation `id` (`stored`: the record now; also this tab's own rename) or
 * deleted it (null). The list and the open conversation show it; a reply this tab is writing keeps
 * its messages (its next save merges them, toStore) and takes only the title; the composer is never
 * touched, except that an open chat deleted elsewhere becomes a new chat that keeps its text.
 * @param {string} id
 * @param {object|null} stored
 * @param {{ list?: boolean }} [options] `list: false`: the list is rendered by the caller (resync)
 */
async function takeChange(id, stored, { list = true } = {}) {
  const known = app.conversations.find((conversation) => conversation.id === id);
  if (!stored) {
    app.conversations = app.conversations.filter((conversation) => conversation !== known);
    if (known && app.current === known) {
      await stopReply(); // its save finds it deleted and keeps nothing
      setChat(null, { keepComposer: true, discard: true });
      showConversation();
    } else if (list) renderList();
    removeTab(draftName(id));
    return;
  }
  if (known && stored.updated <= known.updated) return; // a read older than this page's copy
  if (known === app.writing) known.title = stored.title;
  else if (!known) app.conversations.push(stored);
  else {
    app.conversations[app.conversations.indexOf(known)] = stored;
    if (app.current === known) {
      const shown = JSON.stringify(known.messages) !== JSON.stringify(stored.messages);
      app.current = stored;
      if (shown) {
        chatView.render(stored.messages, { busy: !!app.generating });
        setControls();
      }
    }
  }
  if (known !== app.writing) watchReply(stored);
  app.conversations.sort((a, b) => b.updated - a.updated);
  if (list) renderList();
}

const watchedReplies = new Set(); // ids of the conversations watchReply waits on

/**
 * A reply that another tab is writing shows as written until that tab stores its end. A tab that goes
 * away first (closed, crashed, its machine asleep for good) stores no end: its Web Lock on the reply
 * (replyLock) is released all the same, and this tab, waiting for it, then shows the reply
 * interrupted, as openStore shows those it finds so when the page opens. Without Web Locks openStore
 * has shown them so already.
 * @param {object} conversation a stored conversation, its last message maybe `streaming`
 */
function watchReply(conversation) {
  const { id } = conversation;
  if (!navigator.locks || !app.store || watchedReplies.has(id) || !conversation.messages.at(-1)?.streaming) return;
  watchedReplies.add(id);
  // Shared: the tabs that watch one reply do not wait on each other; a writer's lock is exclusive.
  navigator.locks.request(replyLock(id), { mode: 'shared' }, async () => {
    watchedReplies.delete(id);
    // A writer stores its reply's end before it lets go of the lock (generate): a store still
    // holding the reply unfinished means the writer went away. (Its announcement may come later.)
    const stored = await app.store.get(id);
    const known = app.conversations.find((item) => item.id === id);
    if (!stored?.messages.at(-1)?.streaming || !known?.messages.at(-1)?.streaming || known === app.writing) return;
    markInterrupted([known]);
    if (app.current === known) {
      chatView.render(known.messages, { busy: !!app.generating });
      setControls();
    }
  });
}

async function openConversation(id) {
  await stopReply();
  setChat(app.conversations.find((conversation) => conversation.id === id) ?? null, { id });
  drawer.close();
  problemBox.hide();
  showConversation({ latest: true });
  dom.prompt.focus();
}

/** Open an empty chat; `carry`: text to put in its composer (toComposer). */
async function startNewChat({ carry = '' } = {}) {
  await stopReply();
  setChat(null);
  drawer.close();
  problemBox.hide();
  showConversation();
  if (carry) toComposer(carry);
  dom.prompt.focus();
}

// The Web Lock a page holds while it writes a reply to conversation `id` (generate). Without Web
// Locks (not a secure context: plain HTTP from another host) a reply another tab is writing shows
// as interrupted.
function replyLock(id) {
  return `sitegen-reply:${siteFolder()}${id}`;
}

// `conversation`'s last message where it is the visitor's, unanswered; else null.
function lastUnanswered(conversation) {
  const last = conversation?.messages.at(-1);
  return last?.role === 'user' ? last : null;
}

// The text of that message; else ''.
function unansweredText(conversation) {
  return lastUnanswered(conversation)?.content ?? '';
}

// The title alone is changed in the store, read and written in one transaction: this page's copy
// may be older than the stored one (a reply another tab finished), and must not overwrite it.
async function renameConversation(id, title) {
  const conversation = app.conversations.find((item) => item.id === id);
  if (!conversation) return;
  conversation.title = title;
  try {
    // The stored record (newer than this copy) replaces it, as another tab's change would.
    if (app.store) await takeChange(id, await app.store.update(id, (stored) => { stored.title = title; }));
    else conversation.updated = Date.now(); // no IndexedDB: the list's order only
  } catch (error) {
    problemBox.show(error, { problem: describeStepProblem('save', error) });
  }
  showConversation();
}

async function deleteConversation(id) {
  if (app.current?.id === id) await startNewChat();
  app.conversations = app.conversations.filter((conversation) => conversation.id !== id);
  removeLocal(draftName(id));
  removeTab(draftName(id));
  try {
    await app.store?.delete(id);
  } catch (error) {
    problemBox.show(error, { problem: describeStepProblem('delete', error) });
  }
  showConversation();
}

function exportConversations() {
  const data = exportFile(app.conversations, { modelId: app.engine?.modelId });
  const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
  const link = Object.assign(document.createElement('a'), {
    href: url, download: `conversations-${new Date().toISOString().slice(0, 10)}.json`,
  });
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function importConversations(file) {
  try {
    const imported = readExportFile(JSON.parse(await file.text()));
    const added = mergeImported(new Map(app.conversations.map((c) => [c.id, c])), imported);
    await app.store?.putAll(added);
    app.conversations = [...app.conversations, ...added].sort((a, b) => b.updated - a.updated);
    showConversation();
  } catch (error) {
    problemBox.show(error, { problem: describeStepProblem('import', error, file.name) });
  }
}

// --- replies ---------------------------------------------------------------------------------

// send, reply and generate change the page before their first await: the controls show the
// reply under way at once, and a second Enter cannot send twice.
async function send(text) {
  if (!text.trim() || !app.engine || app.generating || refuseInvalidSettings()) return;
  if (!app.current) {
    app.current = newConversation(Date.now(), app.chatId);
    unsaved.add(app.current);
  }
  if (!app.current.messages.length) app.current.title = titleFrom(text);
  app.current.messages.push({ role: 'user', content: text });
  setPrompt('');
  await generate(unsendLast);
}

/** Reply again from message `index` on: its new text if given (an edit), else regenerate. */
async function reply(index, text) {
  if (!app.current || !app.engine || app.generating || refuseInvalidSettings()) return;
  const before = app.current.messages;
  const messages = before.slice(0, index);
  if (text !== undefined) messages.push({ role: 'user', content: text });
  app.current.messages = messages;
  // An edit the model cannot read is not made: the conversation as it was, the new text in the
  // message's editor again.
  await generate(text === undefined ? unsendLast : (conversation) => {
    conversation.messages = before;
    return { text, edit: index };
  });
}

// Takes the conversation's last message, the visitor's that the model cannot read, back out of it:
// its text goes back to the composer. (A regenerate meets one only in a conversation saved before
// the page took such messages back, or imported.)
function unsendLast(conversation) {
  const last = lastUnanswered(conversation);
  if (!last) return null;
  conversation.messages = conversation.messages.slice(0, -1);
  return { text: last.content };
}

// Gives the visitor back the text of a message the model could not read (`unsent`: what generate()'s
// `unsend` returned; `error`, the refusal the problem box shows): in the editor of message `edit` where
// it was an edit of `conversation` and that is on screen, else in the composer. Cancelling that edit
// discards the text, and with it the problem that says the text is kept.
function giveBack(unsent, conversation, error) {
  if (unsent.edit !== undefined && app.current === conversation
      && chatView.editMessage(unsent.edit, unsent.text, { onCancel: () => problemBox.hide(error) })) return;
  toComposer(unsent.text);
}

// Puts `text` in the composer, before anything typed there since: nothing typed is lost.
function toComposer(text) {
  setPrompt(dom.prompt.value.trim() ? `${text}\n\n${dom.prompt.value}` : text);
  dom.prompt.focus();
}

// The composer's text, set by the page: kept as the draft at once (sent, it is gone for good), as
// what the visitor types is, a moment later (wireControls).
function setPrompt(text) {
  showPrompt(text);
  draft.set(text, { now: true });
}

// Puts `text` in the composer as it is shown: Send follows it, as it follows what is typed.
function showPrompt(text) {
  dom.prompt.value = text;
  sendButton.update();
}

// A setting the engine would refuse stops a message before anything changes (the text stays
// where it was typed): the problem says why, and the settings open at the field, showing what
// it allows; closing them goes back to the message.
function refuseInvalidSettings() {
  const error = settingsError(settings.value.errors);
  if (!error) return false;
  problemBox.show(error);
  settingsDialog.open({ returnFocusTo: dom.prompt });
  settings.focusInvalid();
  return true;
}

// The reply to the open conversation as it stands (its last message the visitor's). `unsend(conversation)`
// undoes the step that made that message, where the model cannot read it at all (a
// ContextWindowExceededError with messageTokens: every later message would fail the same way): it
// returns { text, edit (the index of the message edited, if it was an edit) } to give back to the
// visitor, or null.
async function generate(unsend) {
  const conversation = app.current;
  problemBox.hide();
  let finished;
  const generating = app.generating = new Promise((resolve) => { finished = resolve; });
  app.writing = conversation;
  navigator.locks?.request(replyLock(conversation.id), () => generating);
  const saved = save(conversation); // the question is kept whatever happens to the reply
  // Flagged while it is written (each periodic save keeps the flag): found so, it was cut off.
  const message = { role: 'assistant', content: '', streaming: true };
  showConversation();
  chatView.startReply(message);
  // Ready for the next message: after a send, and where the edit box or button just went away.
  dom.prompt.focus();
  const request = chatRequest(settings.value.settings, conversation.messages);
  let savedAt = 0;
  let unsent = null;
  let refusal = null; // the error of a message not sent (unsent)
  try {
    await saved;
    // Before the first words: whether the reply waits for another tab's, and how far the prompt is.
    // A stop in progress keeps its status line: the prompt's progress reports go on until the slice ends.
    const onProgress = (report) => {
      if (!stopButton.stopping) chatView.setReplyStatus(replyProgressText(report));
    };
    const stream = await app.engine.chat.completions.create(request, { onProgress });
    conversation.messages.push(message);
    const stats = {};
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (choice?.delta?.reasoning_content) message.reasoning_content = (message.reasoning_content ?? '') + choice.delta.reasoning_content;
      if (choice?.delta?.content) message.content += choice.delta.content;
      if (choice?.finish_reason) stats.finishReason = choice.finish_reason;
      if (chunk.usage) {
        stats.completionTokens = chunk.usage.completion_tokens;
        stats.decodeTokensPerSecond = chunk.usage.extra?.decode_tokens_per_s;
      }
      chatView.updateReply(message.content, message.reasoning_content);
      if (performance.now() - savedAt > SAVE_EVERY_MS) {
        savedAt = performance.now();
        save(conversation);
      }
    }
    message.stats = stats;
    // Stopped before its first words (while it waited or read the prompt): no reply to keep.
    if (!message.content && !message.reasoning_content && stats.finishReason === 'abort') {
      conversation.messages = conversation.messages.filter((item) => item !== message);
    }
  } catch (error) {
    // Nothing is lost: a partial reply stays; an empty one is dropped, the question stays.
    if (!message.content && !message.reasoning_content) conversation.messages = conversation.messages.filter((item) => item !== message);
    else message.stats = { finishReason: 'abort' };
    // A message too long on its own is not kept as sent: its text goes back to the visitor.
    if (Number.isFinite(error?.messageTokens)) {
      unsent = unsend?.(conversation) ?? null;
      refusal = error;
    }
    // Another tab (or an API request) switched the site's model: Try again loads this tab's back.
    problemBox.show(error, { retry: error.loaded ? () => app.models.reload() : () => reply(conversation.messages.length) });
  } finally {
    delete message.streaming; // ended, stopped or failed here: not interrupted
    chatView.endReply();
    // A conversation left with no message (a new chat's first, taken back) is not kept: the chat is a new one again.
    const forgotten = Boolean(unsent) && !conversation.messages.length;
    if (forgotten) await forget(conversation);
    else await save(conversation);
    app.generating = null;
    app.writing = null;
    finished();
    if (app.current === conversation || (forgotten && !app.current)) showConversation();
    else setControls();
    if (unsent) giveBack(unsent, conversation, refusal);
  }
}

// Drops `conversation` from the list and the store (it was saved with a message since taken back);
// where it is open, the chat is a new one again (app.current null). Never rejects.
async function forget(conversation) {
  app.conversations = app.conversations.filter((item) => item !== conversation);
  // A new chat again, under the same id: the composer keeps its text (that chat's draft).
  if (app.current === conversation) setChat(null, { id: conversation.id, keepComposer: true });
  try {
    await app.store?.delete(conversation.id);
  } catch (error) {
    // The problem box keeps saying why the message was taken back; the leftover is an empty chat.
    console.warn('An empty conversation stays saved:', error);
  }
}

// The engine ends the reply at its next token, or after the prompt slice it is running (seconds
// on a slow GPU): until then the button and the reply's status line say it is stopping. A second
// call (Esc, a new chat) waits for the same end.
async function stopReply() {
  if (!app.generating) return;
  if (stopButton.press()) {
    chatView.setReplyStatus(STOPPING);
    app.engine.interruptGenerate();
  }
  await app.generating;
}

// --- page state and controls -----------------------------------------------------------------

function setControls() {
  const ready = !!app.engine;
  const busy = !!app.generating;
  dom.prompt.disabled = !ready;
  sendButton.show({ ready, busy });
  stopButton.show(busy);
  dom.newChat.disabled = false;
  dom.exportChats.disabled = !app.conversations.length;
  dom.importChats.disabled = !app.store;
  const empty = !app.current?.messages.length;
  if (dom.starters) {
    dom.starters.hidden = !empty;
    for (const button of dom.starters.querySelectorAll('button')) button.disabled = !ready || busy;
  }
}

function wireControls() {
  dom.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    send(dom.prompt.value);
  });
  dom.prompt.addEventListener('input', () => {
    draft.set(dom.prompt.value);
    sendButton.update();
  });
  // Enter does what Send would: nothing while there is nothing to send (nor a new line).
  dom.prompt.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (sendButton.enabled) dom.composer.requestSubmit();
    }
  });
  dom.stop.addEventListener('click', () => stopReply());
  // Esc closes the drawer if it is open (and does nothing else), else stops a reply.
  document.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    if (drawer.isOpen) drawer.close({ returnFocus: true });
    else if (app.generating) stopReply();
  });
  dom.starters?.addEventListener('click', (event) => {
    const prompt = event.target.closest('.starter')?.dataset.prompt;
    if (prompt) send(prompt);
  });
  dom.newChat.addEventListener('click', () => startNewChat());
  dom.exportChats.addEventListener('click', () => exportConversations());
  dom.importChats.addEventListener('change', () => {
    const [file] = dom.importChats.files;
    dom.importChats.value = '';
    if (file) importConversations(file);
  });
}
