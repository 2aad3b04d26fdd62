// Reply text from generated tokens, as the engine hands it out: decodes the tokens as a stream
// (never splitting a UTF-8 character), ends the reply before the first stop string, and holds
// back text that may be the start of one until the next tokens show it is not. A stop string can
// span tokens. Each token's logprobs entry is released with the first text it contributes, and
// dropped if all its text falls inside a stop string.
//
//   const reply = new ReplyText(tokenizer.createStreamDecoder({ skipSpecialTokens: true }), ['\n\nUser:']);
//   for each generated token: const { content, logprobs } = reply.push(token, entry); if (reply.stopped) break;
//   at the end:               const { content, logprobs } = reply.finish();
//
// The pieces, concatenated, are the whole reply: the text up to the first stop string (or all of
// it), and the logprobs entries of the tokens that contributed to that text, in order.

/**
 * @typedef {object} Piece  reply text that is now final
 * @property {string} content   text to append to the reply ('' when nothing is final yet)
 * @property {object[]} logprobs  the logprobs entries (as given to push) released with it, in token order
 */

export class ReplyText {
  #decoder;
  #stops;
  #text = '';
  #released = 0; // length of the text handed out so far
  #pending = []; // { start: offset of the token's text, entry: its logprobs entry }

  /** Whether a stop string has appeared: the reply has ended and later tokens add nothing. */
  stopped = false;

  /**
   * @param {{ push(token: number): string, flush(): string }} decoder  a tokenizer stream decoder
   *   (tokenizer.js createStreamDecoder): push returns the text that became decodable, flush the rest
   * @param {string[]} stops  non-empty stop strings; the reply ends before the first one to appear
   */
  constructor(decoder, stops) {
    this.#decoder = decoder;
    this.#stops = stops;
  }

  /**
   * Add a generated token (and its logprobs entry, or null when none are wanted).
   * @returns {Piece} what is now final
   */
  push(token, logprobsEntry) {
    if (logprobsEntry) this.#pending.push({ start: this.#text.length, entry: logprobsEntry });
    this.#text += this.#decoder.push(token);
    return this.#releaseUpTo(this.#stopAt() ?? this.#text.length - this.#heldBack());
  }

  /**
   * The generation ended: the rest of the reply (held-back text that no stop string completed).
   * @returns {Piece}
   */
  finish() {
    if (this.stopped) return { content: '', logprobs: [] };
    this.#text += this.#decoder.flush();
    const stopAt = this.#stopAt();
    const { content, logprobs } = this.#releaseUpTo(stopAt ?? this.#text.length);
    // Tokens that decoded to no text at all (at the very end) still were part of the reply.
    if (stopAt === null) logprobs.push(...this.#pending.splice(0).map(({ entry }) => entry));
    return { content, logprobs };
  }

  // Where the first stop string starts, if one has appeared. Text already released cannot hold
  // one: its possible beginnings were held back.
  #stopAt() {
    const starts = this.#stops.map((stop) => this.#text.indexOf(stop, this.#released)).filter((at) => at >= 0);
    if (!starts.length) return null;
    this.stopped = true;
    return Math.min(...starts);
  }

  // The length of the longest unreleased tail of the text that could begin a stop string.
  #heldBack() {
    const unreleased = this.#text.length - this.#released;
    let longest = 0;
    for (const stop of this.#stops) {
      for (let n = Math.min(stop.length - 1, unreleased); n > longest; n -= 1) {
        if (this.#text.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }

  #releaseUpTo(end) {
    const content = this.#text.slice(this.#released, end);
    this.#released = Math.max(this.#released, end);
    const ready = this.#pending.findIndex(({ start }) => start >= end);
    const entries = this.#pending.splice(0, ready < 0 ? this.#pending.length : ready).map(({ entry }) => entry);
    if (this.stopped) this.#pending = [];
    return { content, logprobs: entries };
  }
}
