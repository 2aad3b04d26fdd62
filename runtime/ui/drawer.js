// The conversations sidebar as a drawer on narrow screens (the width comes from the page's CSS
// breakpoint): closed, it is inert, so neither Tab nor a screen reader reaches it behind the chat;
// open, it is the only live part of the page besides its toggle (the rest is inert, a backdrop
// covers the chat), focus moves into it, and Esc, the backdrop or the toggle close it. A choice in
// it whose result shows in the chat (a control inside [data-closes-drawer] changing: the model
// picker, whose switch the loading progress then shows) closes it too. On wide screens it is an
// ordinary sidebar and never inert.

const FOCUSABLE = 'button:not([disabled]), input:not([disabled]), [href], textarea:not([disabled])';

export class Drawer {
  #panel;
  #toggle;
  #backdrop;
  #outside;
  #narrow;

  /**
   * panel: the sidebar; toggle: the header button that opens and closes it (aria-expanded);
   * backdrop: shown over the chat while it is open; outside: the elements made inert meanwhile;
   * query: the media query under which the sidebar is a drawer.
   */
  constructor({ panel, toggle, backdrop, outside, query }) {
    this.#panel = panel;
    this.#toggle = toggle;
    this.#backdrop = backdrop;
    this.#outside = outside;
    this.#narrow = matchMedia(query);
    toggle.hidden = false;
    toggle.addEventListener('click', () => {
      if (this.isOpen) this.close({ returnFocus: true });
      else this.open();
    });
    backdrop.addEventListener('click', () => this.close({ returnFocus: true }));
    panel.addEventListener('change', (event) => {
      if (event.target.closest('[data-closes-drawer]')) this.close();
    });
    // Crossing the breakpoint (a rotated phone, a resized window) starts the new mode closed, at
    // once: the drawer does not slide away in view.
    this.#narrow.addEventListener('change', () => {
      panel.style.transition = 'none';
      this.close();
      requestAnimationFrame(() => requestAnimationFrame(() => { panel.style.transition = ''; }));
    });
    this.close();
  }

  get isOpen() {
    return this.#panel.classList.contains('open');
  }

  /** Open the drawer (narrow screens only) and move focus to its first control. */
  open() {
    if (!this.#narrow.matches) return;
    this.#show(true);
    this.#panel.querySelector(FOCUSABLE)?.focus();
  }

  /**
   * Close the drawer; `returnFocus`: put focus back on the toggle (after Esc, say). Focus left in
   * the drawer as it goes inert goes to the toggle too, unless the caller moves it elsewhere next.
   */
  close({ returnFocus = false } = {}) {
    const wasOpen = this.isOpen;
    const focusInside = this.#panel.contains(document.activeElement);
    this.#show(false);
    if ((wasOpen && returnFocus) || (focusInside && this.#panel.inert)) this.#toggle.focus();
  }

  #show(open) {
    const drawer = this.#narrow.matches;
    this.#panel.classList.toggle('open', open);
    this.#toggle.setAttribute('aria-expanded', String(open));
    this.#panel.inert = drawer && !open;
    this.#backdrop.hidden = !open;
    for (const element of this.#outside) element.inert = open;
  }
}
