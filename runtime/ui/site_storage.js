// Small values the chat page keeps in localStorage, per site: several sitegen sites can share an
// origin (GitHub Pages project sites), so keys carry the site's folder. (runtime/ui/theme.js, a
// classic script that cannot import this, keys its one value the same way.)

/** The site's folder path, e.g. "/project/": names this site's storage. (A function: the pure
 *  modules that import this file also run in Node, which has no location.) */
export function siteFolder() {
  return new URL('./', location.href).pathname;
}

// localStorage may be off (privacy settings): values then last for this page only.
export function readLocal(name) {
  try {
    return localStorage.getItem(`sitegen-${name}:${siteFolder()}`);
  } catch {
    return null;
  }
}

export function writeLocal(name, value) {
  try {
    localStorage.setItem(`sitegen-${name}:${siteFolder()}`, value);
  } catch {
    // see above
  }
}
