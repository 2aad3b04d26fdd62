// The settings panel: a modal <dialog> opened from the header's Settings button. showModal()
// makes the rest of the page inert and gives Esc its meaning; this module keeps the button's
// aria-expanded true to the dialog and puts focus back where it belongs on closing.

export class SettingsDialog {
  #dialog;
  #opener;
  #returnFocusTo = null;

  /** dialog: the <dialog>, with a .close-settings button; opener: the button that opens it. */
  constructor(dialog, opener) {
    this.#dialog = dialog;
    this.#opener = opener;
    opener.hidden = false;
    opener.addEventListener('click', () => this.open());
    dialog.querySelector('.close-settings').addEventListener('click', () => dialog.close());
    // Esc here is the dialog's (it closes it), not the page's (which stops a reply).
    dialog.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') event.stopPropagation();
    });
    // 'close' comes a task after the dialog closed, and the browser may already have put focus
    // back on the element that had it before: focus moves only from there (or from nowhere), so
    // a visitor who went on to the composer meanwhile keeps it.
    dialog.addEventListener('close', () => {
      opener.setAttribute('aria-expanded', 'false');
      const active = document.activeElement;
      if (!active || active === document.body || active === opener || dialog.contains(active)) this.#returnFocusTo?.focus();
    });
  }

  /**
   * Open the dialog (its first control gets focus, unless the caller moves it). On closing, focus
   * goes to `returnFocusTo`: by default the header button, as a visitor who opened it expects.
   */
  open({ returnFocusTo = this.#opener } = {}) {
    this.#returnFocusTo = returnFocusTo;
    if (!this.#dialog.open) this.#dialog.showModal();
    this.#opener.setAttribute('aria-expanded', 'true');
  }
}
