// The message pane's scrolling, as chat apps do it: the latest message shows when a conversation
// opens or a message is sent; a streaming reply is followed while the reader is at the bottom and
// left alone once they scroll up to read, with a "Jump to latest" button to come back.

// "At the bottom" allows about a line of slack: a reader a few pixels short still follows.
const NEAR_BOTTOM_PX = 32;

export class PaneScroll {
  #pane;
  #jump;
  #following = true;
  #layout = ''; // the pane's and its content's heights when last seen: a scroll they explain is layout's

  /**
   * pane: the scroll container; jump: the "Jump to latest" button, shown while the reader is
   * scrolled up; afterJump(): called once it has been used (it hides, so focus needs a new home).
   */
  constructor(pane, jump, { afterJump } = {}) {
    this.#pane = pane;
    this.#jump = jump;
    // Only the reader moves the pane away from the bottom: each scroll of theirs says whether to
    // follow. A scroll that comes with a new layout (a resized window reflows the text, and the
    // browser's scroll anchoring or clamping moves the pane) is not theirs: the pane then keeps
    // following if it did.
    pane.addEventListener('scroll', () => {
      if (this.#layoutChanged()) this.keep();
      else this.#following = this.#atBottom();
      this.#showJump();
    }, { passive: true });
    jump.addEventListener('click', () => {
      this.toBottom();
      afterJump?.();
    });
    // A pane that gets shorter (a problem box above the composer, a taller composer, a rotated
    // phone) or content that reflows taller keeps the latest words in view.
    const resized = new ResizeObserver(() => this.keep());
    for (const element of [pane, ...pane.children]) resized.observe(element);
  }

  /** Show the end of the pane and follow what is added from now on. */
  toBottom() {
    this.#following = true;
    this.keep();
  }

  /** After the content changed: stay at the bottom if the reader was there, else stay put. */
  keep() {
    if (this.#following) this.#pane.scrollTop = this.#pane.scrollHeight;
    this.#layoutChanged();
    this.#showJump();
  }

  // Whether the pane's or its content's height changed since the last call (which notes them).
  #layoutChanged() {
    const layout = `${this.#pane.clientHeight} ${this.#pane.scrollHeight}`;
    const changed = layout !== this.#layout;
    this.#layout = layout;
    return changed;
  }

  #atBottom() {
    const pane = this.#pane;
    return pane.scrollHeight - pane.scrollTop - pane.clientHeight <= NEAR_BOTTOM_PX;
  }

  #showJump() {
    this.#jump.hidden = this.#atBottom();
  }
}
