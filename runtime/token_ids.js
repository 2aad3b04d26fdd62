// The checks every backend makes on the token ids and token masks it is handed (runtime/backend.js
// says what they are). Both are a caller's bugs, not a user's (runtime/request.js validates what
// users send), so they throw plain Errors.

/** `id` if it is a token id in 0..vocabSize-1; else throws a plain Error (a caller's bug). */
export function assertToken(id, vocabSize) {
  if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new Error(`token id ${id} is not in 0..${vocabSize - 1}`);
  return id;
}

/** Words of a token mask over `vocabSize` tokens: one bit per token (backend.js tokenMask). */
export function maskWords(vocabSize) {
  return Math.ceil(vocabSize / 32);
}

/**
 * `mask` if it is a token mask (backend.js tokenMask) over `vocabSize` tokens that allows at least
 * one (a mask that allowed none would leave no token to draw); else throws a plain Error naming
 * what is wrong: not a Uint32Array of maskWords(vocabSize) words, or no token allowed (bits past
 * the vocabulary's end in the last word do not count).
 */
export function assertTokenMask(mask, vocabSize) {
  const words = maskWords(vocabSize);
  if (!(mask instanceof Uint32Array) || mask.length !== words) {
    throw new Error(`tokenMask must be a Uint32Array of ${words} words (one bit per token of ${vocabSize})`);
  }
  const lastBits = vocabSize % 32 ? (2 ** (vocabSize % 32) - 1) >>> 0 : 0xffffffff;
  const any = mask.some((word, i) => (i === words - 1 ? word & lastBits : word) !== 0);
  if (!any) throw new Error(`tokenMask allows none of the ${vocabSize} tokens`);
  return mask;
}
