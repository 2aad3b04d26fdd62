// The CPU backend's sampler: the GPU sampler's rules (kernels/sample_scores.wgsl, then
// kernels/sample.wgsl; runtime/backend.js lists the options) over the logits in plain JavaScript.
// A vocabulary is read a few times per token: a small share of a step next to the weights.
//
// In order: scores = logits with HF repetition penalty on every token seen (prompt or generated),
// OpenAI frequency and presence penalties on the generated counts, then the logit bias, then the
// token mask (a banned token scores -Infinity, whatever its bias). Temperature 0: the best score,
// the first of ties. Otherwise a draw from exp((score - best) / T) over the candidates within
// NEGLIGIBLE * T of the best, truncated by top-k (the k-th best score and everything tied with it
// kept) and then top-p (the fewest best scores carrying top_p of the weight, ties kept), as the
// GPU's searches keep them. The draw picks the candidate whose interval of the kept weight holds
// random * total, the candidates laid out by id: the same distribution as the GPU's, but not the
// same token for the same `random` (the GPU lays them out by (id % workgroup width, id), and its
// width depends on the device). Log-probabilities: log-softmax of the scores before temperature.

import { MAX_LOGIT_BIAS } from '../sampling_limits.js';
import { assertToken, assertTokenMask } from '../token_ids.js';

// Weights below e^-NEGLIGIBLE = 1e-12 of the best are left out of a draw (kernels/sample.wgsl's
// NEGLIGIBLE): all of them together weigh under V * 1e-12, less than float rounding.
const NEGLIGIBLE = -Math.log(1e-12);

export class Sampler {
  #history;  // per token: bit 0 in the prompt, bits 1.. times generated (sample_scores.wgsl's history)
  #scores;

  /** vocabSize: logits per position. */
  constructor(vocabSize) {
    this.vocabSize = vocabSize;
    this.#history = new Uint32Array(vocabSize);
    this.#scores = new Float32Array(vocabSize);
  }

  /** Start of a generation: nothing generated yet, promptIds (token ids) seen. */
  reset(promptIds = []) {
    this.#history.fill(0);
    for (const id of promptIds) this.#history[assertToken(id, this.vocabSize)] = 1;
  }

  /**
   * Draws a token from `logits` (Float32Array [vocabSize], left unchanged) under `options`
   * (runtime/backend.js) and counts it as generated. Returns { token, logprob: number | null
   * (given when logprobs or topLogprobs asks), topLogprobs: null | [{ token, logprob }] (best
   * first, ties by id; only allowed tokens) }. Throws a plain Error for a caller's bug: more than
   * MAX_LOGIT_BIAS bias entries, a bias token out of range, a token mask that is not a Uint32Array
   * of ceil(vocabSize / 32) words allowing at least one token.
   */
  sample(logits, options = {}) {
    const {
      temperature = 1, topP = 1, topK = 0, frequencyPenalty = 0, presencePenalty = 0, repetitionPenalty = 1,
      logitBias = null, random = Math.random(), logprobs = false, topLogprobs = 0, tokenMask = null,
    } = options;
    if (tokenMask) assertTokenMask(tokenMask, this.vocabSize);
    const scores = this.#score(logits, { frequencyPenalty, presencePenalty, repetitionPenalty, logitBias, tokenMask });
    const best = argmax(scores);
    const token = temperature > 0 ? draw(scores, best, { temperature, topK, topP, random }) : best;
    this.#history[token] += 2;
    if (!logprobs && !(topLogprobs > 0)) return { token, logprob: null, topLogprobs: null };
    const logTotal = logSumExp(scores, scores[best]);
    return {
      token,
      logprob: scores[token] - logTotal,
      topLogprobs: topLogprobs > 0
        ? bestTokens(scores, topLogprobs).map((id) => ({ token: id, logprob: scores[id] - logTotal }))
        : null,
    };
  }

  // The scores of every token, in this.#scores (sample_scores.wgsl's order of penalties, bias, mask).
  #score(logits, { frequencyPenalty, presencePenalty, repetitionPenalty, logitBias, tokenMask }) {
    const scores = this.#scores;
    const history = this.#history;
    for (let i = 0; i < this.vocabSize; i++) {
      const seen = history[i];
      let s = logits[i];
      if (seen !== 0) {
        const count = seen >>> 1;
        if (repetitionPenalty !== 1) s = s > 0 ? s / repetitionPenalty : s * repetitionPenalty;
        s -= count * frequencyPenalty + (count > 0 ? presencePenalty : 0);
      }
      scores[i] = s;
    }
    const entries = Object.entries(logitBias ?? {});
    if (entries.length > MAX_LOGIT_BIAS) throw new Error(`logitBias has ${entries.length} entries; the sampler holds ${MAX_LOGIT_BIAS}`);
    for (const [id, bias] of entries) scores[assertToken(Number(id), this.vocabSize)] += bias;
    if (tokenMask) {
      for (let i = 0; i < this.vocabSize; i++) if (!((tokenMask[i >>> 5] >>> (i & 31)) & 1)) scores[i] = -Infinity;
    }
    return scores;
  }
}

// The index of the largest score, the first of ties.
function argmax(scores) {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

// log Σ exp(scores), top the largest score (banned tokens' -Infinity add 0).
function logSumExp(scores, top) {
  let total = 0;
  for (let i = 0; i < scores.length; i++) total += Math.exp(scores[i] - top);
  return top + Math.log(total);
}

// A temperature draw (the module's rules): the drawn token id.
function draw(scores, best, { temperature, topK, topP, random }) {
  const top = scores[best];
  let cut = top - NEGLIGIBLE * temperature;
  let ids = candidates(scores, cut);
  if (topK > 0 && topK < ids.length) {
    const sorted = Float32Array.from(ids, (id) => scores[id]).sort();
    cut = sorted[sorted.length - topK];  // the k-th best score: it and all above (ties too) stay
    ids = ids.filter((id) => scores[id] >= cut);
  }
  let weights = Float64Array.from(ids, (id) => Math.exp((scores[id] - top) / temperature));
  if (topP < 1) {
    const topPScore = topPCut(scores, ids, weights, topP * sum(weights));
    if (topPScore !== null) {
      const kept = ids.map((id, i) => i).filter((i) => scores[ids[i]] >= topPScore);
      ids = kept.map((i) => ids[i]);
      weights = Float64Array.from(kept, (i) => weights[i]);
    }
  }
  const goal = random * sum(weights);
  let mass = 0;
  for (let i = 0; i < ids.length; i++) {
    mass += weights[i];
    if (mass > goal) return ids[i];
  }
  return best;  // rounding put the goal past the end (as sample.wgsl falls back)
}

// Σ values, in order (the order every draw of this module sums its weights in).
function sum(values) {
  let total = 0;
  for (const value of values) total += value;
  return total;
}

// Where top-p cuts the candidates `ids` (id order; `weights` theirs): walking them best first (ties
// by id), the score of the one at which their weight reaches `goal`; null when rounding leaves it
// short of the goal even with all of them (all stay). Only the candidates above a floor of weight
// are sorted, the floor lowered 16-fold until they carry the goal: the walk over them is the start
// of the walk over all, without sorting a flat distribution's whole vocabulary every token.
function topPCut(scores, ids, weights, goal) {
  for (let floor = 1 / 16; ; floor /= 16) {
    const above = [];
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      if (weights[i] >= floor) {
        above.push(i);
        total += weights[i];
      }
    }
    const all = above.length === ids.length;
    if (total >= goal || all) {
      above.sort((a, b) => scores[ids[b]] - scores[ids[a]]);  // stable: ties stay in id order
      let mass = 0;
      for (const i of above) {
        mass += weights[i];
        if (mass >= goal) return scores[ids[i]];
      }
      if (all) return null;
    }
  }
}

// The ids with score >= cut, in id order.
function candidates(scores, cut) {
  const ids = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] >= cut) ids.push(i);
  return ids;
}

// The `count` best-scoring allowed ids (finite scores), best first, ties by id: an insertion into
// a short sorted list per token (count <= MAX_TOP_LOGPROBS).
function bestTokens(scores, count) {
  const ids = [];
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (s === -Infinity || (ids.length === count && s <= scores[ids[count - 1]])) continue;
    let at = ids.length;
    while (at > 0 && scores[ids[at - 1]] < s) at--;
    ids.splice(at, 0, i);
    if (ids.length > count) ids.pop();
  }
  return ids;
}
