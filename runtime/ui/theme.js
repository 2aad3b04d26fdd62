// Light/dark choice of the visitor, for themes that have both schemes.
//
// A classic script loaded in <head>, so a saved choice applies before the first paint (a module
// would run after it and the page would flash in the other scheme). Without a saved choice the
// page follows the system (prefers-color-scheme); the header's toggle saves one. Themes with
// one scheme (their `color-scheme` is just "dark", say) get no toggle.
(() => {
  const root = document.documentElement;
  // Several sitegen sites can share an origin (GitHub Pages project sites): key by folder.
  const key = `sitegen-theme:${new URL('./', location.href).pathname}`;
  const schemes = getComputedStyle(root).colorScheme.split(/\s+/);
  if (!(schemes.includes('light') && schemes.includes('dark'))) return;

  const saved = readSaved();
  if (saved) root.dataset.theme = saved;
  const systemDark = matchMedia('(prefers-color-scheme: dark)');
  const isDark = () => (root.dataset.theme ?? (systemDark.matches ? 'dark' : 'light')) === 'dark';

  document.addEventListener('DOMContentLoaded', () => {
    const toggle = document.querySelector('.theme-toggle');
    if (!toggle) return;
    const show = () => toggle.setAttribute('aria-pressed', String(isDark()));
    toggle.hidden = false;
    show();
    systemDark.addEventListener('change', show);
    toggle.addEventListener('click', () => {
      root.dataset.theme = isDark() ? 'light' : 'dark';
      save(root.dataset.theme);
      show();
    });
  });

  // Storage can be off (privacy settings); the toggle then lasts for this page only.
  function readSaved() {
    try {
      const value = localStorage.getItem(key);
      return value === 'light' || value === 'dark' ? value : null;
    } catch {
      return null;
    }
  }

  function save(value) {
    try {
      localStorage.setItem(key, value);
    } catch {
      // see readSaved
    }
  }
})();
