// Reply text from generated tokens, as the engine hands it out: decodes the tokens as a stream
// (never splitting a UTF-8 character), splits off a leading thinking block where the model's chat
// template thinks, ends the answer before the first stop string, and holds back text that may be
// the start of a tag or of a stop string until the next tokens show it is not. Tags and stop
// strings can span tokens. Each token's logprobs entry is released with the first text it
// contributes, into that text's part, and dropped if all its text falls inside a tag, the
// whitespace around a tag, or a stop string.
//
//   const reply = new ReplyText(tokenizer.createStreamDecoder({ skipSpecialTokens: true }), ['\n\nUser:'],
//                               { thinking: { open: '<think>', close: '</think>', opened: false } });
//   for each generated token: const piece = reply.push(token, entry); if (reply.stopped) break;
//   at the end:               const piece = reply.finish();
//
// The reply has two parts, in this order: the reasoning (the thinking block's text, without its
// tags and the whitespace at its edges) and the content (the rest, without the whitespace after
// `</think>`). A reply is thinking if the prompt left the block open (`opened`: the template's
// generation prompt ends with `<think>`, e.g. DeepSeek-R1's) or it starts, after whitespace, with
// `<think>` (Qwen3's, which the model writes itself); then everything up to `</think>` is
// reasoning, and a block never closed (max_tokens reached while thinking) is all reasoning, the
// content empty. Otherwise all is content, as without `thinking`: a `<think>` later on is text.
// Stop strings end the content only: the thinking is the model's scratch work, where the text a
// stop string guards against (e.g. a next "User:" turn) is no end of the reply.
//
// The pieces, concatenated part by part, are the whole reply.

/**
 * @typedef {object} Piece  reply text that is now final
 * @property {string} reasoning  text to append to the reasoning ('' when none is final yet)
 * @property {string} content  text to append to the content (answer) ('' when none is final yet)
 * @property {object[]} reasoningLogprobs  the logprobs entries (as given to push) released with the reasoning text
 * @property {object[]} logprobs  those released with the content text, in token order
 *
 * @typedef {object} ThinkingTags  a template's thinking block
 * @property {string} open  '<think>'
 * @property {string} close  '</think>'
 * @property {boolean} opened  the prompt ends inside an open block: the reply starts as reasoning
 */

/** Whether a piece carries nothing: no text and no logprobs entries in either part. */
export function isEmptyPiece({ reasoning, content, reasoningLogprobs, logprobs, toolCalls = [] }) {
  return !reasoning && !content && !reasoningLogprobs.length && !logprobs.length && !toolCalls.length;
}

export class ReplyText {
  #decoder;
  #stops;
  #tags;
  #phase; // 'start': may still open a thinking block; 'reasoning'; 'content'
  #trimStart; // the current part's leading whitespace is still to drop
  #text = '';
  #released = 0; // length of the text handed out or dropped so far
  #pending = []; // { start: offset of the token's text, entry: its logprobs entry }
  #tokens = 0;

  /** Whether a stop string has appeared: the reply has ended and later tokens add nothing. */
  stopped = false;

  /**
   * How many of the pushed tokens were thinking: those up to and including the one that closed
   * the block (its tags included). Set when the close tag appears, or at finish() while the block
   * is still open (then all of them); 0 until then and for a reply without one.
   */
  reasoningTokens = 0;

  /**
   * @param {{ push(token: number): string, flush(): string }} decoder  a tokenizer stream decoder
   *   (tokenizer.js createStreamDecoder): push returns the text that became decodable, flush the rest
   * @param {string[]} stops  non-empty stop strings; the content ends before the first one to appear
   * @param {{ thinking?: ThinkingTags | null }} options  thinking: the template's tags, null
   *   (default) where it does not think: all the reply is content
   */
  constructor(decoder, stops, { thinking = null } = {}) {
    this.#decoder = decoder;
    this.#stops = stops;
    this.#tags = thinking;
    this.#phase = !thinking ? 'content' : thinking.opened ? 'reasoning' : 'start';
    this.#trimStart = this.#phase === 'reasoning';
  }

  /**
   * Add a generated token (and its logprobs entry, or null when none are wanted).
   * @returns {Piece} what is now final
   */
  push(token, logprobsEntry) {
    this.#tokens += 1;
    if (logprobsEntry) this.#pending.push({ start: this.#text.length, entry: logprobsEntry });
    this.#text += this.#decoder.push(token);
    return this.#advance(false);
  }

  /**
   * The generation ended: the rest of the reply (held-back text that no tag or stop string completed).
   * @returns {Piece}
   */
  finish() {
    if (this.stopped) return emptyPiece();
    this.#text += this.#decoder.flush();
    const piece = this.#advance(true);
    if (this.#phase === 'reasoning') this.reasoningTokens = this.#tokens;
    // Tokens that decoded to no text at all (at the very end) still were part of the reply.
    if (!this.stopped) {
      const entries = this.#pending.splice(0).map(({ entry }) => entry);
      (this.#phase === 'reasoning' ? piece.reasoningLogprobs : piece.logprobs).push(...entries);
    }
    return piece;
  }

  // Moves the released mark as far as the text allows, phase by phase; `final`: no more text comes.
  #advance(final) {
    const piece = emptyPiece();
    for (;;) {
      if (this.#trimStart) {
        const at = this.#nonSpaceFrom(this.#released);
        this.#drop(at);
        if (at === this.#text.length) return piece; // only whitespace so far: still to drop
        this.#trimStart = false;
      }
      if (this.#phase === 'start') {
        const tagAt = this.#nonSpaceFrom(this.#released);
        const rest = this.#text.slice(tagAt);
        if (rest.startsWith(this.#tags.open)) {
          this.#drop(tagAt + this.#tags.open.length);
          [this.#phase, this.#trimStart] = ['reasoning', true];
        } else if (!final && this.#tags.open.startsWith(rest)) {
          return piece; // whitespace, or the tag's beginning: wait for more
        } else {
          this.#phase = 'content'; // not thinking; leading whitespace kept, as without tags
        }
        continue;
      }
      if (this.#phase === 'reasoning') {
        const closeAt = this.#text.indexOf(this.#tags.close, this.#released);
        const end = closeAt >= 0 ? closeAt : final ? this.#text.length : this.#text.length - this.#heldBack([this.#tags.close]);
        // Whitespace before the tag is the block's edge: held back until text follows it.
        this.#release(piece, 'reasoning', this.#spaceStartBefore(end));
        if (closeAt < 0) return piece;
        this.#drop(closeAt + this.#tags.close.length);
        [this.#phase, this.#trimStart] = ['content', true];
        this.reasoningTokens = this.#tokens;
        continue;
      }
      const stopAt = this.#stopAt();
      this.#release(piece, 'content', stopAt ?? (final ? this.#text.length : this.#text.length - this.#heldBack(this.#stops)));
      return piece;
    }
  }

  // Where the first stop string starts, if one has appeared. Text already released cannot hold
  // one: its possible beginnings were held back.
  #stopAt() {
    const starts = this.#stops.map((stop) => this.#text.indexOf(stop, this.#released)).filter((at) => at >= 0);
    if (!starts.length) return null;
    this.stopped = true;
    return Math.min(...starts);
  }

  // The length of the longest unreleased tail of the text that could begin one of `strings`.
  #heldBack(strings) {
    const unreleased = this.#text.length - this.#released;
    let longest = 0;
    for (const string of strings) {
      for (let n = Math.min(string.length - 1, unreleased); n > longest; n -= 1) {
        if (this.#text.endsWith(string.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }

  // The first offset from `from` on that is not whitespace (the text's length if none is).
  #nonSpaceFrom(from) {
    let at = from;
    while (at < this.#text.length && /\s/u.test(this.#text[at])) at += 1;
    return at;
  }

  // Where the whitespace that ends the unreleased text before `end` begins (`end` if none does).
  #spaceStartBefore(end) {
    let at = end;
    while (at > this.#released && /\s/u.test(this.#text[at - 1])) at -= 1;
    return at;
  }

  // Hands out the text up to `end` as `part` of `piece`, with the entries of the tokens that
  // contributed to it (those that began before `end`).
  #release(piece, part, end) {
    piece[part] += this.#text.slice(this.#released, end);
    this.#released = Math.max(this.#released, end);
    const ready = this.#pending.findIndex(({ start }) => start >= end);
    const entries = this.#pending.splice(0, ready < 0 ? this.#pending.length : ready).map(({ entry }) => entry);
    (part === 'reasoning' ? piece.reasoningLogprobs : piece.logprobs).push(...entries);
    if (this.stopped) this.#pending = [];
  }

  // Drops the text up to `end` (a tag, whitespace at a part's edge), and the entries of the tokens
  // whose text lies wholly in it; a token whose text goes on past `end` comes with that text.
  #drop(end) {
    let n = 0;
    while (n < this.#pending.length && this.#pending[n].start < end
           && (this.#pending[n + 1]?.start ?? this.#text.length) <= end) n += 1;
    this.#pending.splice(0, n);
    this.#released = Math.max(this.#released, end);
  }
}

function emptyPiece() {
  return { reasoning: '', content: '', reasoningLogprobs: [], logprobs: [] };
}
