// Small values the chat page keeps in localStorage (sessionStorage: this tab's own), per site:
// several sitegen sites can share an origin (GitHub Pages project sites), so keys carry the site's
// folder. (runtime/ui/theme.js, a classic script that cannot import this, keys its one value the
// same way.)

/** The site's folder path, e.g. "/project/": names this site's storage. (A function: the pure
 *  modules that import this file also run in Node, which has no location.) */
export function siteFolder() {
  return new URL('./', location.href).pathname;
}

const key = (name) => `sitegen-${name}:${siteFolder()}`;

// The storage may be off (privacy settings; even naming it can throw): values then last for this
// page only. `storage`: () => localStorage (the site's) or sessionStorage (this tab's).
function attempt(storage, use, fallback = null) {
  try {
    return use(storage());
  } catch {
    return fallback;
  }
}
const local = () => localStorage;
const tab = () => sessionStorage;

/** The site's value `name`; null: none. */
export const readLocal = (name) => attempt(local, (storage) => storage.getItem(key(name)));
export const writeLocal = (name, value) => attempt(local, (storage) => storage.setItem(key(name), value));
/** Forgets the value `name`: no key is left behind (an empty value would still be one). */
export const removeLocal = (name) => attempt(local, (storage) => storage.removeItem(key(name)));
/** This tab's value `name` (kept across its reloads, not shared with other tabs); null: none. */
export const readTab = (name) => attempt(tab, (storage) => storage.getItem(key(name)));
export const writeTab = (name, value) => attempt(tab, (storage) => storage.setItem(key(name), value));
export const removeTab = (name) => attempt(tab, (storage) => storage.removeItem(key(name)));

/**
 * A text kept under `name` that changes at every keystroke (a message being written). localStorage
 * writes are synchronous, on the page's thread: `set` writes at most once every `delayMs`, the
 * latest text, and at once when the page is hidden or left (a reload, a closed tab), so nothing
 * typed is lost. An empty text removes the key. With `tab`, the text is this tab's own instead
 * (sessionStorage), and an empty one is kept as '' (the key says whose the text is).
 * @param {string} name
 * @param {{ delayMs?: number, tab?: boolean }} [options]
 * @returns {{ set(text: string, options?: { now?: boolean }): void,
 *             keepAs(name: string, options?: { discard?: boolean, tab?: boolean }): void }} `set`'s
 *   `now`: write at once (a text the page set itself, not a keystroke). `keepAs`: later texts go under
 *   `name` (another conversation's draft; `tab`: this tab's own); the text not written yet is written
 *   under the old name first, or dropped with `discard` (its key was removed on purpose: a deleted
 *   conversation's)
 */
export function keptText(name, { delayMs = 300, tab: own = false } = {}) {
  let timer = 0;
  let pending = null; // the text not written yet; null: none
  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    if (pending === null) return;
    if (own) writeTab(name, pending);
    else if (pending) writeLocal(name, pending);
    else removeLocal(name);
    pending = null;
  };
  addEventListener('pagehide', flush);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush();
  });
  return {
    keepAs(next, { discard = false, tab: nextOwn = false } = {}) {
      if (discard) pending = null;
      flush();
      name = next;
      own = nextOwn;
    },
    set(text, { now = false } = {}) {
      pending = text;
      if (now) flush();
      // A trailing write, not a debounce restarted by each key: a steady typist's text is kept too,
      // were the tab to crash.
      else timer ||= setTimeout(flush, delayMs);
    },
  };
}
