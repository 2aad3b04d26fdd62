// Conversations kept in the browser's IndexedDB, one database per site: several sitegen sites can
// share an origin (GitHub Pages project sites), and each keeps its own chats.
//
// Every tab of the site writes the same records, each from its own copy in memory. So that no tab
// overwrites another's newer text with a stale copy: a whole conversation is stored by the rule of
// conversations.js `toStore` (read and written in one transaction), small edits (a rename) change
// their field of the stored record in one transaction (`update`), and each write is announced on a
// BroadcastChannel named like the database, so the site's other tabs read the record again
// (`onChange`).

import { nextUpdate, toStore } from './conversations.js';

const STORE = 'conversations';

export class ConversationStore {
  #db;
  #channel;

  /**
   * @param {string} name the database's name (and the channel's), per site
   * @param {{ onChange?: (id: string, conversation: object|null) => void }} [options] `onChange`:
   *   another tab stored conversation `id` (the record as stored now) or deleted it (null)
   * @returns {Promise<ConversationStore>} rejects where IndexedDB is off (some private windows)
   */
  static async open(name, { onChange } = {}) {
    const db = await request(indexedDB.open(name, 1), (open) => {
      open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: 'id' });
    });
    return new ConversationStore(db, name, onChange);
  }

  constructor(db, name, onChange) {
    this.#db = db;
    // A channel never hears its own messages: only other tabs' writes come back.
    this.#channel = globalThis.BroadcastChannel ? new BroadcastChannel(name) : null;
    if (onChange && this.#channel) {
      // The record is read again rather than sent: the database, not a message, says what is stored.
      this.#channel.onmessage = async ({ data }) => onChange(data.id, data.deleted ? null : await this.get(data.id));
    }
  }

  /** Every conversation, most recently updated first. */
  async list() {
    const all = await request(this.#store('readonly').getAll());
    return all.sort((a, b) => b.updated - a.updated);
  }

  async get(id) {
    return (await request(this.#store('readonly').get(id))) ?? null;
  }

  /**
   * Store `conversation` as conversations.js `toStore` says, against the stored copy.
   * @param {object} conversation the page's copy; its `updated` the version it was read or stored as
   * @param {{ create?: boolean }} [options] `create`: its first save (a new chat)
   * @returns {Promise<object|null>} the record stored (messages the same objects as the copy's where
   *   its own were kept), or null: deleted by another tab, not stored. Rejects where the write failed.
   */
  async put(conversation, { create = false } = {}) {
    let stored = null;
    await this.#write((store) => {
      store.get(conversation.id).onsuccess = (event) => {
        stored = toStore(conversation, event.target.result ?? null, { create });
        if (stored) store.put(stored);
      };
    });
    if (stored) this.#announce({ id: stored.id, updated: stored.updated });
    return stored;
  }

  /**
   * Change fields of the stored conversation `id` (a rename): `change(record)` edits the record read
   * in the same transaction, so what other tabs stored meanwhile (a reply) stays.
   * @param {string} id
   * @param {(conversation: object) => void} change
   * @returns {Promise<object|null>} the record stored, or null: no such conversation (deleted)
   */
  async update(id, change) {
    let stored = null;
    await this.#write((store) => {
      store.get(id).onsuccess = (event) => {
        stored = event.target.result ?? null;
        if (!stored) return;
        change(stored);
        stored.updated = nextUpdate(stored);
        store.put(stored);
      };
    });
    if (stored) this.#announce({ id, updated: stored.updated });
    return stored;
  }

  /** Add `conversations` as they are (an import, under ids not in use). */
  async putAll(conversations) {
    await this.#write((store) => conversations.forEach((conversation) => store.put(conversation)));
    conversations.forEach(({ id, updated }) => this.#announce({ id, updated }));
  }

  async delete(id) {
    await this.#write((store) => store.delete(id));
    this.#announce({ id, deleted: true });
  }

  #announce(change) {
    this.#channel?.postMessage(change);
  }

  #store(mode) {
    return this.#db.transaction(STORE, mode).objectStore(STORE);
  }

  // Resolves when the transaction has committed, so a caller never reports a save that failed.
  #write(fill) {
    const transaction = this.#db.transaction(STORE, 'readwrite');
    fill(transaction.objectStore(STORE));
    return new Promise((resolve, reject) => {
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error ?? new Error('The save was aborted.'));
    });
  }
}

function request(idbRequest, setup) {
  setup?.(idbRequest);
  return new Promise((resolve, reject) => {
    idbRequest.onsuccess = () => resolve(idbRequest.result);
    idbRequest.onerror = () => reject(idbRequest.error);
  });
}
