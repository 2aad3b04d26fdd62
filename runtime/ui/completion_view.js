// The completion page's result (templates/completion.html's .completion section): the text the
// visitor wrote, then the model's continuation as it streams, then the line of numbers. Model
// output is untrusted and shown as plain text (textContent), never as HTML or markdown.

import { replyStats } from './reply_stats.js';

export class CompletionView {
  #section;
  #output;
  #prompt;
  #text;
  #status;
  #stats;

  /** section: the .completion element (hidden until the first completion starts). */
  constructor(section) {
    this.#section = section;
    this.#output = section.querySelector('.completion-output');
    this.#prompt = section.querySelector('.completion-prompt');
    this.#text = section.querySelector('.completion-text');
    this.#status = section.querySelector('.completion-status');
    this.#stats = section.querySelector('.message-stats');
  }

  /** The prompt and continuation shown, as one string (what "Continue from here" continues). */
  get fullText() {
    return this.#prompt.textContent + this.#text.textContent;
  }

  /** A completion of `prompt` begins: the prompt is shown, the continuation and numbers cleared. */
  start(prompt) {
    this.#section.hidden = false;
    this.#prompt.textContent = prompt;
    this.#text.textContent = '';
    this.#stats.textContent = '';
    this.#output.setAttribute('aria-busy', 'true');
  }

  /** The line shown until the first words (replyProgressText's), '' to clear it. */
  setStatus(text) {
    this.#status.textContent = text;
  }

  /** The continuation so far (a string). */
  update(text) {
    this.#status.textContent = '';
    this.#text.textContent = text;
  }

  /** The completion ended; `stats`: replyStats' fields ({} if it failed). */
  end(stats) {
    this.#status.textContent = '';
    this.#stats.textContent = replyStats(stats);
    this.#output.setAttribute('aria-busy', 'false');
  }
}
