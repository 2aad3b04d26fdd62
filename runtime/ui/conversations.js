// Conversations: their shape, titles, and the export/import file format. Pure (tested in Node);
// runtime/ui/store.js keeps them in IndexedDB.
//
// A conversation: { id, title, created, updated (ms since epoch), messages: [message] }
// A message:      { role: 'user' | 'assistant', content: string, reasoning_content?: string (a
//                   thinking model's reasoning, replies only), stats?: { decodeTokensPerSecond,
//                   completionTokens, finishReason } (stats on replies: the line under them),
//                   streaming?: true (a reply saved while it is written; gone once it ends) }
// finishReason: the engine's 'stop', 'length' or 'abort' (Stop, or a failure), or 'interrupted' (the
// page went away while the reply was written: markInterrupted).
// The system prompt is a setting of the site, not part of a conversation.

export const EXPORT_FORMAT = 'sitegen-conversations';
export const EXPORT_VERSION = 1;
const TITLE_LENGTH = 60;
const FINISH_REASONS = ['stop', 'length', 'abort', 'interrupted'];

export function newConversation(now = Date.now()) {
  return { id: newId(), title: 'New chat', created: now, updated: now, messages: [] };
}

/** A title from the first user message: its first line, cut at a word near TITLE_LENGTH. */
export function titleFrom(text) {
  const line = text.trim().split('\n')[0].replace(/\s+/g, ' ').trim();
  if (line.length <= TITLE_LENGTH) return line || 'New chat';
  const cut = line.slice(0, TITLE_LENGTH);
  const space = cut.lastIndexOf(' ');
  return `${space > TITLE_LENGTH / 2 ? cut.slice(0, space) : cut}…`;
}

export function exportFile(conversations, { modelId, now = Date.now() } = {}) {
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exported: new Date(now).toISOString(),
    model: modelId ?? null,
    conversations,
  };
}

/**
 * The conversations of an export file (parsed JSON), checked field by field. Throws an Error
 * whose message names the first problem (e.g. "conversations[2].messages[0].role must be ...").
 */
export function readExportFile(data) {
  const fail = (where, what) => {
    throw new Error(`This is not a conversations file from this chat: ${where} ${what}.`);
  };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) fail('the file', 'is not a JSON object');
  if (data.format !== EXPORT_FORMAT) fail('"format"', `must be "${EXPORT_FORMAT}"`);
  if (data.version !== EXPORT_VERSION) fail('"version"', `must be ${EXPORT_VERSION} (this file says ${JSON.stringify(data.version)})`);
  if (!Array.isArray(data.conversations)) fail('"conversations"', 'must be a list');
  return data.conversations.map((conversation, i) => checkConversation(conversation, `conversations[${i}]`, fail));
}

function checkConversation(value, where, fail) {
  if (value === null || typeof value !== 'object') fail(where, 'must be an object');
  const { id, title, created, updated, messages } = value;
  if (typeof id !== 'string' || !id) fail(`${where}.id`, 'must be a non-empty string');
  if (typeof title !== 'string') fail(`${where}.title`, 'must be a string');
  for (const [key, time] of [['created', created], ['updated', updated]]) {
    if (!Number.isFinite(time)) fail(`${where}.${key}`, 'must be a time in milliseconds');
  }
  if (!Array.isArray(messages)) fail(`${where}.messages`, 'must be a list');
  return {
    id, title: title.slice(0, 200), created, updated,
    messages: messages.map((message, j) => checkMessage(message, `${where}.messages[${j}]`, fail)),
  };
}

function checkMessage(value, where, fail) {
  if (value === null || typeof value !== 'object') fail(where, 'must be an object');
  if (value.role !== 'user' && value.role !== 'assistant') fail(`${where}.role`, 'must be "user" or "assistant"');
  if (typeof value.content !== 'string') fail(`${where}.content`, 'must be a string');
  const message = { role: value.role, content: value.content };
  if (value.role === 'assistant' && typeof value.reasoning_content === 'string' && value.reasoning_content) {
    message.reasoning_content = value.reasoning_content;
  }
  // Stats are only ever shown as numbers and words of our own (runtime/ui/reply_stats.js): keep known keys.
  const stats = value.stats;
  if (stats && typeof stats === 'object') {
    message.stats = {};
    if (Number.isFinite(stats.decodeTokensPerSecond)) message.stats.decodeTokensPerSecond = stats.decodeTokensPerSecond;
    if (Number.isInteger(stats.completionTokens)) message.stats.completionTokens = stats.completionTokens;
    if (FINISH_REASONS.includes(stats.finishReason)) message.stats.finishReason = stats.finishReason;
  }
  // Exported while it was written: it ends there.
  if (value.role === 'assistant' && value.streaming === true) message.stats = { ...message.stats, finishReason: 'interrupted' };
  return message;
}

/**
 * Marks the replies that were being written when their page went away (a reload, a closed tab, a
 * crash): their periodic saves left them flagged `streaming`. Unless `writing(id)` says a page
 * (another tab) is writing that conversation's last reply now, such a reply ends as 'interrupted',
 * in place (saved with the conversation's next change, if any: on each load until then).
 * @param {object[]} conversations
 * @param {(id: string) => boolean} [writing]
 */
export function markInterrupted(conversations, writing = () => false) {
  for (const { id, messages } of conversations) {
    messages.forEach((message, index) => {
      if (!message.streaming || (index === messages.length - 1 && writing(id))) return;
      delete message.streaming;
      message.stats = { ...message.stats, finishReason: 'interrupted' };
    });
  }
}

/**
 * Which imported conversations to add to `existing` (Map id -> conversation): one already there
 * unchanged (same id and update time) is skipped; one whose id is taken by a different
 * conversation is added under a new id, so importing never overwrites anything.
 */
export function mergeImported(existing, imported) {
  const added = [];
  for (const conversation of imported) {
    const current = existing.get(conversation.id);
    if (current && current.updated === conversation.updated) continue;
    added.push(current ? { ...conversation, id: newId() } : conversation);
  }
  return added;
}

function newId() {
  return globalThis.crypto.randomUUID();
}
