// The Stop button of both pages (the .stop button of templates/index.html and completion.html).
// A stop is not instant: the engine stops a request between two chunks of its prompt
// (runtime/backend.js prefillChunk: 128 tokens on CPU adapters, 512 on GPUs), which takes seconds on
// a slow device. Until the request really ends the button says so and cannot be pressed again.

/** The button's label once pressed, until the request ends; the pages' status lines show it too. */
export const STOPPING = 'Stopping…';

export class StopButton {
  #button;
  #label;
  #input;
  #stopping = false;

  /** button: the .stop button (its markup's text is its label); input: where focus goes when it is pressed. */
  constructor(button, input) {
    this.#button = button;
    this.#label = button.textContent;
    this.#input = input;
  }

  /** Whether Stop was pressed and the request has not ended yet. */
  get stopping() {
    return this.#stopping;
  }

  /**
   * Stop was pressed (the button, Esc, ...): true the first time for a request, false while it is
   * already stopping. Focus on the button moves to the input, as the button is disabled now.
   */
  press() {
    if (this.#stopping) return false;
    this.#stopping = true;
    if (globalThis.document?.activeElement === this.#button) this.#input.focus();
    this.show(true);
    return true;
  }

  /**
   * Show the button for the request state: hidden unless `busy` (a request runs); once pressed,
   * labelled STOPPING and disabled until a show(false) says the request ended.
   */
  show(busy) {
    this.#stopping &&= busy;
    this.#button.hidden = !busy;
    this.#button.disabled = this.#stopping;
    this.#button.textContent = this.#stopping ? STOPPING : this.#label;
  }
}
