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

/**
 * An empty conversation, not saved yet.
 * @param {number} [now]
 * @param {string} [id] the id the page gave the new chat before its first message (its draft's key)
 */
export function newConversation(now = Date.now(), id = newId()) {
  return { id, title: 'New chat', created: now, updated: now, messages: [] };
}

/** An id for a conversation (a new chat's, before it is saved). */
export function newId() {
  return globalThis.crypto.randomUUID();
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
 * What to store when a page saves its `copy` of a conversation over `stored`, IndexedDB's copy read
 * in the same transaction (null: none). Several tabs save the same conversations, each from its own
 * copy, so a copy may be stale. `copy.updated` is the version the page read or last stored, never
 * stamped before the save; the record stored gets a later one (`now`, or just after `stored`'s).
 *
 * The rule:
 * - No stored copy: the copy is stored where it is `create`d (a new chat's first save); otherwise
 *   another tab deleted the conversation, and a save never brings it back (null: nothing stored).
 * - The stored copy is the one `copy` was made from, or older: `copy` is stored as it is.
 * - The stored copy is newer (another tab saved since this page read it): no text of either is lost.
 *   The stored title stays (renames are made in the store: ConversationStore.update). Messages are
 *   matched by place: where both copies have the same role and one text begins the other (a reply
 *   one tab saw half-written), the longer one is kept, at equal length the finished one (not
 *   `streaming`), else this page's; from the first place where they differ, the stored messages
 *   are kept and this page's follow them.
 * Messages are kept as the same objects (a reply being written keeps growing in place).
 * @param {object} copy the page's conversation
 * @param {object|null} stored
 * @param {{ create?: boolean, now?: number }} [options]
 * @returns {object|null} the conversation to store, or null
 */
export function toStore(copy, stored, { create = false, now = Date.now() } = {}) {
  if (!stored) return create ? { ...copy, updated: now } : null;
  const updated = nextUpdate(stored, now);
  if (stored.updated <= copy.updated) return { ...copy, updated };
  return { ...stored, messages: mergeMessages(copy.messages, stored.messages), updated };
}

/** The `updated` of a change to `stored`: `now`, or later than `stored`'s where its clock ran ahead. */
export function nextUpdate(stored, now = Date.now()) {
  return Math.max(now, stored.updated + 1);
}

function mergeMessages(mine, theirs) {
  const merged = [];
  let place = 0;
  for (; place < Math.min(mine.length, theirs.length); place += 1) {
    const kept = laterState(mine[place], theirs[place]);
    if (!kept) break;
    merged.push(kept);
  }
  return [...merged, ...theirs.slice(place), ...mine.slice(place)];
}

// Of two copies of one message, the later state (see toStore); null where they are different messages.
function laterState(mine, theirs) {
  const size = (message) => message.content.length + (message.reasoning_content?.length ?? 0);
  const begins = (a, b) => b.content.startsWith(a.content) && (b.reasoning_content ?? '').startsWith(a.reasoning_content ?? '');
  if (mine.role !== theirs.role || !(begins(mine, theirs) || begins(theirs, mine))) return null;
  if (size(mine) !== size(theirs)) return size(mine) > size(theirs) ? mine : theirs;
  return mine.streaming && !theirs.streaming ? theirs : mine;
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
