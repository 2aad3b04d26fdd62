// What the backend tests of both backends (model.test.js, wasm_model.test.js) run and compare a
// Model (runtime/backend.js) with: greedy decoding, token masks, differences of logits.

/** The first `count` greedy tokens after `promptIds`, the cache and penalties started afresh. */
export async function greedy(model, promptIds, count) {
  model.truncate(0);
  await model.prefill(promptIds);
  model.resetPenalties(promptIds);
  const ids = [(await model.sample({ temperature: 0 })).token];
  while (ids.length < count) ids.push((await model.step(ids.at(-1), { temperature: 0 })).token);
  return ids;
}

/** A token mask (runtime/backend.js) allowing `tokens` of a vocabulary of `vocabSize`. */
export function maskOf(vocabSize, tokens) {
  const mask = new Uint32Array(Math.ceil(vocabSize / 32));
  for (const token of tokens) mask[token >> 5] |= 1 << (token & 31);
  return mask;
}

/** max |a[i] - b[i]| over b's length. */
export function maxDifference(a, b) {
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** The root mean square of `values`. */
export const rms = (values) => Math.sqrt(values.reduce((sum, v) => sum + v * v, 0) / values.length);
