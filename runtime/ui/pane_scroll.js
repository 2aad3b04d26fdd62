// The message pane's scrolling, as chat apps do it: the latest message shows when a conversation
// opens or a message is sent; a streaming reply is followed while the reader is at the bottom and
// left alone once they scroll up to read, with a "Jump to latest" button to come back.

// "At the bottom" allows about a line of slack: a reader a few pixels short still follows.
const NEAR_BOTTOM_PX = 32;

export class PaneScroll {
  #pane;
  #jump;
  #following = true;

  /**
   * pane: the scroll container; jump: the "Jump to latest" button, shown while the reader is
   * scrolled up; afterJump(): called once it has been used (it hides, so focus needs a new home).
   */
  constructor(pane, jump, { afterJump } = {}) {
    this.#pane = pane;
    this.#jump = jump;
    // Only the reader moves the pane away from the bottom: each scroll says whether to follow.
    pane.addEventListener('scroll', () => {
      this.#following = this.#atBottom();
      this.#showJump();
    }, { passive: true });
    jump.addEventListener('click', () => {
      this.toBottom();
      afterJump?.();
    });
    // A pane that gets shorter (a problem box above the composer, a taller composer, a rotated
    // phone) keeps the latest words in view.
    new ResizeObserver(() => this.keep()).observe(pane);
  }

  /** Show the end of the pane and follow what is added from now on. */
  toBottom() {
    this.#following = true;
    this.#pane.scrollTop = this.#pane.scrollHeight;
    this.#showJump();
  }

  /** After the content changed: stay at the bottom if the reader was there, else stay put. */
  keep() {
    if (this.#following) this.#pane.scrollTop = this.#pane.scrollHeight;
    this.#showJump();
  }

  #atBottom() {
    const pane = this.#pane;
    return pane.scrollHeight - pane.scrollTop - pane.clientHeight <= NEAR_BOTTOM_PX;
  }

  #showJump() {
    this.#jump.hidden = this.#atBottom();
  }
}
