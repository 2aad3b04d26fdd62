// The completion page's result (templates/completion.html's .completion section): the text the
// visitor wrote, then the model's continuation as it streams, then the line of numbers. Model
// output is untrusted and shown as plain text (textContent), never as HTML or markdown.
//
// What screen readers hear: the status line (role=status) while the prompt is read, and the
// continuation alone (the live <mark>, busy while it streams) once it is complete; the visitor's
// own text is never read back to them. A request the engine refused shows nothing here: the
// problem box says why, and the text stays in the box where it was typed.

import { replyStats } from './reply_stats.js';

// Why the section shows no text after a stop: the request ended before its first token.
const STOPPED_EARLY = 'Stopped before the model wrote anything.';

export class CompletionView {
  #section;
  #output;
  #prompt;
  #text;
  #status;
  #stats;
  #footer;

  /** section: the .completion element (hidden until the first completion starts). */
  constructor(section) {
    this.#section = section;
    this.#output = section.querySelector('.completion-output');
    this.#prompt = section.querySelector('.completion-prompt');
    this.#text = section.querySelector('.completion-text');
    this.#status = section.querySelector('.completion-status');
    this.#stats = section.querySelector('.message-stats');
    this.#footer = section.querySelector('.completion-footer');
  }

  /** The prompt of the completion shown ('' while none is). */
  get prompt() {
    return this.#output.hidden ? '' : this.#prompt.textContent;
  }

  /** The prompt and continuation shown, as one string (what "Continue from here" continues). */
  get fullText() {
    return this.prompt + this.#text.textContent;
  }

  /** A completion begins: the section shows (for its status line), the last result is cleared. */
  start() {
    this.#section.hidden = false;
    this.#output.hidden = true;
    this.#footer.hidden = true;
    this.#prompt.textContent = '';
    this.#text.textContent = '';
    this.#stats.textContent = '';
    this.#status.textContent = '';
    this.#text.setAttribute('aria-busy', 'true');
  }

  /** The line shown until the first words (replyProgressText's, or the Stop button's), '' to clear it. */
  setStatus(text) {
    this.#status.textContent = text;
  }

  /** The engine took `prompt` and has written `text` of its continuation so far (strings). */
  update(prompt, text) {
    this.#output.hidden = false;
    this.#status.textContent = '';
    if (this.#prompt.textContent !== prompt) this.#prompt.textContent = prompt;
    this.#text.textContent = text;
  }

  /**
   * The completion ended; `stats`: replyStats' fields ({} if it failed). Without an update
   * before, nothing was written: a stop says so on the status line, a failure hides the section.
   */
  end(stats) {
    this.#text.setAttribute('aria-busy', 'false');
    if (this.#output.hidden) {
      this.#status.textContent = stats.finishReason === 'abort' ? STOPPED_EARLY : '';
      this.#section.hidden = stats.finishReason !== 'abort';
      return;
    }
    this.#status.textContent = '';
    this.#stats.textContent = replyStats(stats);
    this.#footer.hidden = false;
  }
}
