// CPU references (float64) for RoPE and attention, shared by the kernel tests of every backend.

import { logSoftmax } from './reference.js';

/**
 * One head vector x (numbers [dim]) turned by RoPE, rotate_half: pair i < R/2 is (i, i + R/2),
 * with (cos, sin) = table[2 (pos R/2 + i)], table[2 (pos R/2 + i) + 1] (runtime/rope.js
 * ropeTable's layout); dimensions from R on are passed through. Returns a Float64Array [dim].
 */
export function ropeReference(x, table, pos, rotary) {
  const half = rotary / 2;
  const out = Float64Array.from(x);
  for (let i = 0; i < half; i++) {
    const [c, s] = [table[2 * (pos * half + i)], table[2 * (pos * half + i) + 1]];
    out[i] = x[i] * c - x[i + half] * s;
    out[i + half] = x[i + half] * c + x[i] * s;
  }
  return out;
}

/**
 * Attention of one query head: q (numbers [dim]) over positions first..length-1 of a KV head's
 * keys and values (numbers, [positions, dim] from position 0), scores q.k scale, soft-capped as
 * softcap tanh(s / softcap) where softcap > 0. Returns numbers [dim].
 */
export function attentionReference(q, keys, values, { dim, first, length, scale, softcap = 0 }) {
  const scores = [];
  for (let s = first; s < length; s++) {
    let dot = 0;
    for (let i = 0; i < dim; i++) dot += q[i] * keys[s * dim + i];
    scores.push(softcap ? softcap * Math.tanh((dot * scale) / softcap) : dot * scale);
  }
  const weights = logSoftmax(scores).map(Math.exp);
  return Array.from({ length: dim }, (_, i) => weights.reduce((sum, p, j) => sum + p * values[(first + j) * dim + i], 0));
}
