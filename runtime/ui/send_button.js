// The Send button of a page's text box: the chat composer's Send (templates/index.html) and the
// completion page's "Continue the text" (templates/completion.html). It is offered only when
// pressing it would send something: a box holding nothing but white space sends nothing
// (runtime/app.js send, runtime/completion_app.js refuseEmptyPrompt), so the button says so by being
// disabled, as screen readers announce it ("dimmed", "unavailable"), rather than doing nothing when
// pressed. While a reply runs it is hidden: Stop takes its place (./stop_button.js).

/** Whether `text` is a message to send: anything but white space. */
export function isMessage(text) {
  return text.trim() !== '';
}

export class SendButton {
  #button;
  #input;
  #ready = false;
  #busy = false;

  /** button: the .send button; input: the message box whose text it sends. */
  constructor(button, input) {
    this.#button = button;
    this.#input = input;
  }

  /** Whether a message would be sent now: the model ready, no reply running, a message in the box. */
  get enabled() {
    return this.#ready && !this.#busy && isMessage(this.#input.value);
  }

  /** Show the button for the page's state: `ready` (the model runs), `busy` (a reply runs: hidden). */
  show({ ready, busy }) {
    this.#ready = ready;
    this.#busy = busy;
    this.#button.hidden = busy;
    this.update();
  }

  /** The message box's text changed (typed, or set by the page: a draft restored, a message given back). */
  update() {
    this.#button.disabled = !this.enabled;
  }
}
