// Small values the chat page keeps in localStorage, per site: several sitegen sites can share an
// origin (GitHub Pages project sites), so keys carry the site's folder. (runtime/ui/theme.js, a
// classic script that cannot import this, keys its one value the same way.)

/** The site's folder path, e.g. "/project/": names this site's storage. (A function: the pure
 *  modules that import this file also run in Node, which has no location.) */
export function siteFolder() {
  return new URL('./', location.href).pathname;
}

const key = (name) => `sitegen-${name}:${siteFolder()}`;

// localStorage may be off (privacy settings): values then last for this page only.
export function readLocal(name) {
  try {
    return localStorage.getItem(key(name));
  } catch {
    return null;
  }
}

export function writeLocal(name, value) {
  try {
    localStorage.setItem(key(name), value);
  } catch {
    // see above
  }
}

/** Forgets the value `name`: no key is left behind (an empty value would still be one). */
export function removeLocal(name) {
  try {
    localStorage.removeItem(key(name));
  } catch {
    // see above
  }
}

/**
 * A text kept under `name` that changes at every keystroke (a message being written). localStorage
 * writes are synchronous, on the page's thread: `set` writes at most once every `delayMs`, the
 * latest text, and at once when the page is hidden or left (a reload, a closed tab), so nothing
 * typed is lost. An empty text removes the key.
 * @param {string} name
 * @param {{ delayMs?: number }} [options]
 * @returns {{ set(text: string, options?: { now?: boolean }): void }} `now`: write at once (a text
 *   the page set itself, not a keystroke)
 */
export function keptText(name, { delayMs = 300 } = {}) {
  let timer = 0;
  let pending = null; // the text not written yet; null: none
  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    if (pending === null) return;
    if (pending) writeLocal(name, pending);
    else removeLocal(name);
    pending = null;
  };
  addEventListener('pagehide', flush);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush();
  });
  return {
    set(text, { now = false } = {}) {
      pending = text;
      if (now) flush();
      // A trailing write, not a debounce restarted by each key: a steady typist's text is kept too,
      // were the tab to crash.
      else timer ||= setTimeout(flush, delayMs);
    },
  };
}
