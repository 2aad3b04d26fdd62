// Small CPU references for the kernel tests (float64 arithmetic; the kernels are compared to them
// within tolerances), and random test data in the runtime's formats.

import { fromHalf, toHalf } from './gpu.js';

// Deterministic pseudo-random numbers (mulberry32), so failures reproduce.
export function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function normals(count, rand, scale = 1) {
  return Float64Array.from({ length: count }, () => {
    const u = Math.max(rand(), 1e-12);
    return scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  });
}

// A random q4g32 weight [rows, cols]: codes, f16 scale bits and the values they stand for.
// Random weights of each scheme (layouts: sitegen/quantize.py): { parts: { part: typed array as
// the GPU buffer holds it }, values: Float64Array [rows * cols] they decode to, rowBytes: { part:
// bytes per row } }.
function q4g32Weight(rows, cols, rand) {
  const codes = new Uint32Array((rows * cols) / 8);
  const scales = new Uint16Array((rows * cols) / 32);
  const values = new Float64Array(rows * cols);
  for (let g = 0; g < scales.length; g++) scales[g] = toHalf((rand() - 0.5) * 0.2);
  for (let i = 0; i < rows * cols; i++) {
    const q = Math.floor(rand() * 16);
    codes[i >> 3] |= q << (4 * (i % 8));
    values[i] = (q - 8) * fromHalf(scales[i >> 5]);
  }
  return { parts: { codes, scales }, values, rowBytes: { codes: cols / 2, scales: cols / 16 } };
}

// q8g32: int8 codes (element k the byte k % 4 of word k / 4), value q * d.
function q8g32Weight(rows, cols, rand) {
  const codes = new Int8Array(rows * cols);
  const scales = new Uint16Array((rows * cols) / 32);
  const values = new Float64Array(rows * cols);
  for (let g = 0; g < scales.length; g++) scales[g] = toHalf((rand() - 0.5) * 0.02);
  for (let i = 0; i < rows * cols; i++) {
    codes[i] = Math.floor(rand() * 256) - 128;
    values[i] = codes[i] * fromHalf(scales[i >> 5]);
  }
  return { parts: { codes: new Uint32Array(codes.buffer), scales }, values, rowBytes: { codes: cols, scales: cols / 16 } };
}

// q4g32m: q4g32's codes without an offset, (d, m) per group, value q * d + m.
function q4g32mWeight(rows, cols, rand) {
  const codes = new Uint32Array((rows * cols) / 8);
  const scales = new Uint16Array((rows * cols) / 16);
  const values = new Float64Array(rows * cols);
  for (let g = 0; g < scales.length / 2; g++) {
    scales[2 * g] = toHalf(rand() * 0.05);
    scales[2 * g + 1] = toHalf((rand() - 0.5) * 0.4 - 0.2);
  }
  for (let i = 0; i < rows * cols; i++) {
    const q = Math.floor(rand() * 16);
    codes[i >> 3] |= q << (4 * (i % 8));
    values[i] = q * fromHalf(scales[2 * (i >> 5)]) + fromHalf(scales[2 * (i >> 5) + 1]);
  }
  return { parts: { codes, scales }, values, rowBytes: { codes: cols / 2, scales: cols / 8 } };
}

// f16: the halves as u32 pairs.
function f16Weight(rows, cols, rand) {
  const halves = Uint16Array.from({ length: rows * cols }, () => toHalf((rand() - 0.5) * 0.5));
  return { parts: { data: new Uint32Array(halves.buffer) }, values: Float64Array.from(halves, fromHalf),
    rowBytes: { data: 2 * cols } };
}

// randomWeight(scheme, rows, cols, rand): a random weight of `scheme`, as above.
export const randomWeight = (scheme, rows, cols, rand) => ({ q4g32: q4g32Weight, q8g32: q8g32Weight,
  q4g32m: q4g32mWeight, f16: f16Weight })[scheme](rows, cols, rand);

// y[m, n] = Σ_k w[n, k] a[m, k]
export function matmul(a, w, rows, n, k) {
  const y = new Float64Array(rows * n);
  for (let m = 0; m < rows; m++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let i = 0; i < k; i++) sum += w[j * k + i] * a[m * k + i];
      y[m * n + j] = sum;
    }
  }
  return y;
}

export function rmsScale(x, m, k, eps) {
  let squares = 0;
  for (let i = 0; i < k; i++) squares += x[m * k + i] ** 2;
  return 1 / Math.sqrt(squares / k + eps);
}

export const silu = (v) => v / (1 + Math.exp(-v));

export function logSoftmax(scores) {
  const top = Math.max(...scores);
  const total = scores.reduce((sum, s) => sum + Math.exp(s - top), 0);
  return Array.from(scores, (s) => s - top - Math.log(total));
}

// Largest |a - b| over max(|b|, floor): a relative error that tolerates values near zero.
export function maxError(actual, expected, floor = 1) {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor));
  }
  return worst;
}
