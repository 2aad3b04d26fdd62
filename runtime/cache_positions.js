// The positions a model's KV cache holds, as every backend keeps them (runtime/backend.js: length,
// truncate, and what prefill and step refuse): how many are cached, the cap, and the checks on
// tokens about to be appended. Each backend's Model keeps one and answers length and truncate()
// from it; it knows nothing of what the cache holds.

import { ContextWindowExceededError } from './errors.js';
import { assertToken } from './token_ids.js';

export class CachePositions {
  #length = 0;
  #model;

  /**
   * model: the Model whose cache this is; its contextLength (positions the cache holds) and
   * vocabSize (token ids 0..vocabSize-1) are read at each check, so they stay the model's own.
   */
  constructor(model) {
    this.#model = model;
  }

  /** Positions cached now: the next token runs at this position. */
  get length() {
    return this.#length;
  }

  /** Forgets every cached position from n on; RangeError unless n is a whole number in 0..length. */
  truncate(n) {
    if (!Number.isInteger(n) || n < 0 || n > this.#length) throw new RangeError(`truncate(${n}): 0..${this.#length} cached`);
    this.#length = n;
  }

  /** Throws ContextWindowExceededError (with length, requested and contextLength) unless `count` more positions fit. */
  assertRoom(count) {
    const { contextLength } = this.#model;
    if (this.#length + count > contextLength) {
      throw new ContextWindowExceededError(`${this.#length} cached + ${count} new tokens exceed the context window `
        + `of ${contextLength} tokens.`, { length: this.#length, requested: count, contextLength });
    }
  }

  /**
   * The checks before `ids` (token ids) run at positions length..: assertRoom(ids.length), then a
   * plain Error (a caller's bug) for an id not in 0..vocabSize-1 (token_ids.js assertToken).
   */
  assertAppendable(ids) {
    this.assertRoom(ids.length);
    for (const id of ids) assertToken(id, this.#model.vocabSize);
  }

  /** Takes the next `count` positions (the tokens there have run, or are queued to). */
  advance(count) {
    this.#length += count;
  }
}
