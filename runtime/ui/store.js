// Conversations kept in the browser's IndexedDB, one database per site: several sitegen sites
// can share an origin (GitHub Pages project sites), and each keeps its own chats.

const STORE = 'conversations';

export class ConversationStore {
  #db;

  static async open(name) {
    const db = await request(indexedDB.open(name, 1), (open) => {
      open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: 'id' });
    });
    return new ConversationStore(db);
  }

  constructor(db) {
    this.#db = db;
  }

  /** Every conversation, most recently updated first. */
  async list() {
    const all = await request(this.#store('readonly').getAll());
    return all.sort((a, b) => b.updated - a.updated);
  }

  async get(id) {
    return (await request(this.#store('readonly').get(id))) ?? null;
  }

  async put(conversation) {
    await this.#write((store) => store.put(conversation));
  }

  async putAll(conversations) {
    await this.#write((store) => conversations.forEach((conversation) => store.put(conversation)));
  }

  async delete(id) {
    await this.#write((store) => store.delete(id));
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
