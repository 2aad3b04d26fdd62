// The WASM CPU kernels (runtime/wasm/) against the CPU references the WGSL kernels are tested with
// (tests/js/helpers/), on random inputs of odd sizes. No GPU: plain Node WebAssembly.
//
// Tolerances: the kernels sum in f32 in their own order, the references in float64: 1e-5 relative
// to the outputs' scale (f32's 2^-24 grown over a few hundred terms); exp is Cephes' polynomial
// (a few f32 ulps), so SiLU and softmax stay within the same bound.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WasmKernels } from '../../runtime/wasm/kernels.js';
import { Threads } from '../../runtime/wasm/threads.js';
import { ropeInverseFrequencies, ropeTable, rotaryDim } from '../../runtime/rope.js';
import { matmul, maxError, normals, random, randomWeight, rmsScale, silu } from './helpers/reference.js';
import { attentionReference, ropeReference } from './helpers/attention_reference.js';
import { recordWorkers } from './helpers/workers.js';
import { DeviceLostError, UnsupportedModelError } from '../../runtime/errors.js';

const TOLERANCE = 1e-5;
const rms = (values) => Math.sqrt(values.reduce((sum, v) => sum + v * v, 0) / values.length);

let wasm;
before(async () => {
  wasm = await WasmKernels.create();
});

// Copies of typed arrays into WASM memory, then a Float32Array view of `ptr` read after the call.
const f32In = (values) => wasm.put(Float32Array.from(values));
const read = (ptr, length) => Array.from(wasm.f32(ptr, length));

// x' : each token's x [tokens, K] quantised to int16 per group of 32 and back, as matmul.c does in
// f32 (scale max |x| / 32767, codes rounded half to even), and each element's bound on |x' - x|
// (half a scale step).
function quantizeActivations(x) {
  const [quantized, bound] = [new Float64Array(x.length), new Float64Array(x.length)];
  for (let g = 0; g < x.length; g += 32) {
    const d = Math.fround(Math.max(...x.subarray(g, g + 32).map(Math.abs)) / 32767);
    const inverse = d > 0 ? Math.fround(1 / d) : 0;
    for (let i = g; i < g + 32; i++) {
      const v = Math.fround(x[i] * inverse);
      const q = Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v);
      [quantized[i], bound[i]] = [q * d, d / 2];
    }
  }
  return { quantized, bound };
}

describe('q4g32 / q4g32m / q8g32 matrix products (int16 activations)', () => {
  for (const scheme of ['q4g32', 'q4g32m', 'q8g32']) {
    for (const [rows, K, tokens] of [[37, 288, 1], [1, 32, 1], [130, 96, 1], [37, 288, 3], [21, 64, 9]]) {
      test(`${scheme}: ${tokens} token(s) x W [${rows}, ${K}]ᵀ, rows split into two ranges`, () => {
        const mark = wasm.mark();
        const rand = random(rows * 7 + K + tokens);
        const weight = randomWeight(scheme, rows, K, rand);
        const x = Float32Array.from(normals(tokens * K, rand));
        const { quantized, bound } = quantizeActivations(x);
        const want = matmul(quantized, weight.values, tokens, rows, K);
        const exact = matmul(Float64Array.from(x), weight.values, tokens, rows, K);
        const worst = matmul(bound, weight.values.map(Math.abs), tokens, rows, K);  // Σ |W| |x' - x| at most
        const ptrs = { codes: wasm.put(weight.parts.codes), scales: wasm.put(weight.parts.scales) };
        const [xPtr, y] = [wasm.put(x), wasm.alloc(4 * (tokens * rows + 1))];  // one float past the end: must stay 0
        const scratch = wasm.alloc(WasmKernels.matmulScratchBytes(K, tokens));
        const split = Math.floor(rows / 2);
        wasm.matmul(scheme, ptrs, xPtr, y, { K, rows, tokens, row0: split, scratch });
        const upper = read(y, tokens * rows + 1);
        assert.ok(upper.every((v, i) => i % rows >= split || v === 0), 'columns below row0 untouched');
        assert.equal(upper[tokens * rows], 0, 'nothing written past the last row');
        wasm.matmul(scheme, ptrs, xPtr, y, { K, rows, tokens, row0: 0, row1: split, scratch });
        const got = read(y, tokens * rows);
        // W x' (the quantised activations) up to f32 sums; W x within the rounding's bound
        assert.ok(maxError(got, want, rms(want)) < TOLERANCE, `error ${maxError(got, want, rms(want))}`);
        got.forEach((v, i) => assert.ok(Math.abs(v - exact[i]) <= worst[i] + TOLERANCE * rms(want),
          `|Δy| ${Math.abs(v - exact[i])} past the bound ${worst[i]} at ${i}`));
        wasm.release(mark);
      });
    }
  }

  test('an unknown scheme or a K that is not a multiple of 32 is refused, naming it', () => {
    assert.throws(() => wasm.matmul('q4_0', { codes: 0, scales: 0 }, 0, 0, { K: 32, rows: 1, scratch: 0 }),
      /No CPU matmul for weight scheme q4_0: one of q4g32,q4g32m,q8g32/);
    assert.throws(() => wasm.matmul('q4g32', { codes: 0, scales: 0 }, 0, 0, { K: 48, rows: 1, scratch: 0 }),
      /K = 48: rows must hold a positive multiple of 32/);
  });
});

test('RMSNorm: into another buffer and in place, odd widths', () => {
  for (const n of [161, 3, 576]) {
    const mark = wasm.mark();
    const rand = random(n);
    const x = Float32Array.from(normals(n, rand, 3));
    const gain = Float32Array.from(normals(n, rand, 0.1), (v) => 1 + v);
    const want = Array.from(x, (v, i) => v * rmsScale(x, 0, n, 1e-6) * gain[i]);
    const [xPtr, gainPtr, out] = [wasm.put(x), wasm.put(gain), wasm.alloc(4 * n)];
    wasm.rmsNorm(xPtr, gainPtr, out, n, 1e-6);
    assert.ok(maxError(read(out, n), want) < TOLERANCE);
    wasm.rmsNorm(xPtr, gainPtr, xPtr, n, 1e-6);
    assert.deepEqual(read(xPtr, n), read(out, n));
    wasm.release(mark);
  }
});

// Tables from runtime/rope.js (the GPU backend's too), llama3 rope_scaling and partial rotary
// included; head sizes whose half is not a multiple of 4 (the scalar tail) among them.
for (const { dim, factor = 1, scaling = null } of [{ dim: 64 }, { dim: 24 }, { dim: 96, factor: 0.75 },
  { dim: 32, scaling: { type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4,
    original_max_position_embeddings: 16 } }]) {
  const architecture = { head_dim: dim, partial_rotary_factor: factor, rope_theta: 10000, rope_scaling: scaling };
  test(`RoPE: head_dim ${dim}, ${rotaryDim(architecture)} dimensions turned${scaling ? `, ${scaling.type} scaling` : ''}`, () => {
    const mark = wasm.mark();
    const [heads, positions, pos] = [5, 40, 33];
    const rotary = rotaryDim(architecture);
    const table = ropeTable(ropeInverseFrequencies(architecture, positions), positions, architecture);
    const x = Float32Array.from(normals(heads * dim, random(dim), 3));
    const want = Array.from({ length: heads }, (_, h) => Array.from(ropeReference(x.subarray(h * dim, (h + 1) * dim),
      table, pos, rotary))).flat();
    const turn = wasm.put(table.subarray(pos * rotary, (pos + 1) * rotary));
    const xPtr = wasm.put(x);
    wasm.rope(xPtr, turn, { heads, headDim: dim, rotaryDim: rotary });
    assert.ok(maxError(read(xPtr, heads * dim), want) < TOLERANCE);
    wasm.release(mark);
  });
}

// One query over the cache: GQA, a sliding window, soft-capped scores, head sizes 16, 24 and 96,
// position counts that are not multiples of 4; heads split into two ranges as threads will.
for (const { dim = 16, heads = 4, kvHeads = 2, first = 0, length = 101, softcap = 0, name } of [
  { name: 'grouped-query, 101 positions' },
  { first: 31, length: 100, softcap: 2, name: 'a sliding window (positions 31..99), scores soft-capped at 2' },
  { dim: 24, heads: 6, kvHeads: 2, length: 7, name: 'head_dim 24, three query heads per KV head, 7 positions' },
  { dim: 96, heads: 2, kvHeads: 2, length: 1, name: 'head_dim 96, one position' },
]) {
  test(`attention: ${name}`, () => {
    const mark = wasm.mark();
    const rand = random(dim + length);
    const [context, scale] = [128, dim ** -0.5];
    const q = Float32Array.from(normals(heads * dim, rand));
    const keys = Float32Array.from(normals(kvHeads * context * dim, rand, 2));
    const values = Float32Array.from(normals(kvHeads * context * dim, rand));
    const want = Array.from({ length: heads }, (_, h) => {
      const kv = Math.floor(h / (heads / kvHeads));
      const cache = (all) => all.subarray(kv * context * dim, (kv + 1) * context * dim);
      return attentionReference(q.subarray(h * dim, (h + 1) * dim), cache(keys), cache(values),
        { dim, first, length, scale, softcap });
    }).flat();
    const ptrs = { q: wasm.put(q), kCache: wasm.put(keys), vCache: wasm.put(values), out: wasm.alloc(4 * heads * dim),
      scores: wasm.alloc(4 * (length - first)) };
    const shape = { heads, kvHeads, headDim: dim, context, first, length, scale, softcap };
    wasm.attention(ptrs, { ...shape, head0: 1 });
    assert.ok(read(ptrs.out, dim).every((v) => v === 0), 'heads below head0 untouched');
    wasm.attention(ptrs, { ...shape, head1: 1 });
    const got = read(ptrs.out, heads * dim);
    assert.ok(maxError(got, want, rms(want)) < TOLERANCE, `error ${maxError(got, want, rms(want))}`);
    wasm.release(mark);
  });
}

// transformers' activations in float64: silu (helpers) and PyTorch's tanh GELU
const ACTIVATIONS = {
  silu,
  gelu_pytorch_tanh: (g) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3))),
};
for (const [activation, act] of Object.entries(ACTIVATIONS)) {
  test(`gated ${activation}: act(gate) ⊙ up, including gates far out in both tails`, () => {
    const mark = wasm.mark();
    const n = 37;
    const rand = random(n);
    const gate = Float32Array.from(normals(n, rand, 4));
    gate.set([-100, 100, -30, 30, 0]);
    const up = Float32Array.from(normals(n, rand));
    const want = Array.from(gate, (g, i) => act(g) * up[i]);
    const [gatePtr, upPtr, out] = [wasm.put(gate), wasm.put(up), wasm.alloc(4 * n)];
    wasm.gated(activation, gatePtr, upPtr, out, n);
    assert.ok(maxError(read(out, n), want, 1e-3) < TOLERANCE, `error ${maxError(read(out, n), want, 1e-3)}`);
    wasm.release(mark);
  });
}

test('gated: an activation without a kernel is refused, naming it', () => {
  assert.throws(() => wasm.gated('relu', 0, 0, 0, 1), /No CPU kernel for hidden_activation relu: one of silu,gelu_pytorch_tanh/);
});

test('add and soft-cap, odd lengths, values far past the cap', () => {
  const mark = wasm.mark();
  const n = 23;
  const rand = random(n);
  const [x, y] = [Float32Array.from(normals(n, rand, 20)), Float32Array.from(normals(n, rand))];
  x.set([1e4, -1e4]);
  const [xPtr, yPtr] = [wasm.put(x), wasm.put(y)];
  wasm.add(xPtr, yPtr, n);
  assert.deepEqual(read(xPtr, n), Array.from(x, (v, i) => Math.fround(v + y[i])));
  wasm.softCap(xPtr, n, 30);
  const want = Array.from(x, (v, i) => 30 * Math.tanh(Math.fround(v + y[i]) / 30));
  assert.ok(maxError(read(xPtr, n), want, 30) < TOLERANCE, `error ${maxError(read(xPtr, n), want, 30)}`);
  wasm.release(mark);
});

for (const scheme of ['q4g32', 'q4g32m', 'q8g32']) {
  test(`${scheme}: one row dequantised and scaled (the embedding lookup)`, () => {
    const mark = wasm.mark();
    const [rows, K, row, scale] = [5, 96, 3, 1.5];
    const weight = randomWeight(scheme, rows, K, random(K));
    const ptrs = { codes: wasm.put(weight.parts.codes), scales: wasm.put(weight.parts.scales) };
    const out = wasm.alloc(4 * K);
    wasm.dequantizeRow(scheme, ptrs, row, out, { K, scale });
    const want = Array.from(weight.values.subarray(row * K, (row + 1) * K), (v) => v * scale);
    assert.ok(maxError(read(out, K), want) < 1e-6, `error ${maxError(read(out, K), want)}`);
    wasm.release(mark);
  });
}

test('argmax: the first of tied maxima, at either end or the middle of an odd-sized vector', () => {
  const mark = wasm.mark();
  const n = 1001;
  const logits = Float32Array.from(normals(n, random(3), 3));
  const x = wasm.put(logits);
  for (const [tops, want] of [[[500, 700], 500], [[0, n - 1], 0], [[n - 1], n - 1]]) {
    const view = wasm.f32(x, n);
    view.set(logits);
    for (const i of tops) view[i] = 50;
    assert.equal(wasm.argmax(x, n), want);
  }
  wasm.release(mark);
});

describe('memory', () => {
  test('alloc hands out 16-byte aligned, zeroed, non-overlapping blocks and grows the memory', () => {
    const mark = wasm.mark();
    const a = wasm.alloc(3);
    wasm.u8(a, 3).fill(7);
    const before = wasm.memory.buffer.byteLength;
    const b = wasm.alloc(2 * before);
    assert.equal(a % 16, 0);
    assert.equal(b % 16, 0);
    assert.ok(b >= a + 3);
    assert.ok(wasm.memory.buffer.byteLength >= b + 2 * before);
    assert.deepEqual(Array.from(wasm.u8(a, 3)), [7, 7, 7]);
    wasm.release(mark);
    assert.ok(wasm.alloc(3) === a && wasm.u8(a, 3).every((v) => v === 0), 'released memory comes back zeroed');
    wasm.release(mark);
  });

  test('more than the memory\'s maximum (wasm32\'s 4 GiB; the threads build\'s, a page less) is refused with the sizes', async () => {
    const refused = (needed, limit) => (error) => error instanceof UnsupportedModelError
      && error.available === limit && error.needed > limit
      && new RegExp(`needs more than ${needed} GiB .*holds at most ${(limit / 2 ** 30).toFixed(2)} GiB: choose a smaller model`)
        .test(error.message);
    assert.equal(wasm.maxBytes, 2 ** 32);
    assert.throws(() => wasm.alloc(2 ** 32), refused('4\\.00', 2 ** 32));
    const threadsBuild = await WasmKernels.create(undefined, { shared: true });
    assert.equal(threadsBuild.maxBytes, 2 ** 32 - 65536);  // sitegen/wasm_kernels.py SHARED_MAX_MEMORY
    // the last page: within wasm32's 4 GiB, past this memory's maximum
    assert.throws(() => threadsBuild.alloc(2 ** 32 - 65536 - threadsBuild.mark() + 16), refused('4\\.00', 2 ** 32 - 65536));
  });
});

test('a module that does not compile is refused, naming what the kernels need', async () => {
  const truncated = readFileSync(new URL('../../runtime/wasm/kernels.wasm', import.meta.url)).subarray(0, 100);
  await assert.rejects(WasmKernels.create(truncated), { name: 'CompileError', message: /need WebAssembly SIMD.*: .+/ });
});

// runtime/wasm/threads.js: workers (worker_threads) instantiating kernels-threads.wasm on one shared memory.
describe('Threads', () => {
  let shared;
  let threads;
  before(async () => {
    shared = await WasmKernels.create(undefined, { shared: true });
    threads = await Threads.create(shared, 3);
  });
  after(() => threads?.destroy());

  test('a matrix product split over 3 threads equals one thread\'s, bit for bit', async () => {
    const [rows, K, tokens] = [103, 160, 5];
    const rand = random(11);
    const weight = randomWeight('q4g32m', rows, K, rand);
    const ptrs = { codes: shared.put(weight.parts.codes), scales: shared.put(weight.parts.scales) };
    const x = shared.put(Float32Array.from(normals(tokens * K, rand)));
    const [y, yOne] = [shared.alloc(4 * tokens * rows), shared.alloc(4 * tokens * rows)];
    const scratchStride = WasmKernels.matmulScratchBytes(K, tokens);
    const scratch = shared.alloc(3 * scratchStride);
    await threads.matmul('q4g32m', ptrs, x, y, { K, rows, tokens, scratch, scratchStride });
    shared.matmul('q4g32m', ptrs, x, yOne, { K, rows, tokens, scratch });
    assert.equal(threads.count, 3);
    assert.deepEqual(Array.from(shared.f32(y, tokens * rows)), Array.from(shared.f32(yOne, tokens * rows)));
  });

  test('a worker\'s failed share is reported, not waited on forever, and the pool keeps working', async () => {
    // one row: the calling thread's share is empty, a worker's reads weights past the memory's end
    const past = shared.memory.buffer.byteLength;
    await assert.rejects(threads.matmul('q4g32', { codes: past, scales: past }, 0, 0,
      { K: 32, rows: 1, tokens: 1, scratch: shared.alloc(3 * 128), scratchStride: 128 }),
    /1 CPU backend thread\(s\) failed a step/);
    const [codes, scales, x, y] = [shared.alloc(16), shared.alloc(2), shared.put(new Float32Array(32).fill(1)), shared.alloc(4)];
    shared.u8(codes, 16).fill(0x99);  // every code 9: value (9 - 8) d
    new Uint16Array(shared.memory.buffer, scales, 1)[0] = 0x3c00;  // d = 1
    await threads.matmul('q4g32', { codes, scales }, x, y, { K: 32, rows: 1, tokens: 1, scratch: shared.alloc(3 * 128),
      scratchStride: 128 });
    assert.deepEqual(Array.from(shared.f32(y, 1)), [32]);
    await assert.rejects(threads.matmul('q4_0', { codes: 0, scales: 0 }, 0, 0, { K: 32, rows: 1, tokens: 1 }),
      /No CPU matmul for weight scheme q4_0/);
  });

  test('a worker that dies mid-job rejects the job, and every later one, with DeviceLostError; lost settles', async () => {
    const recorder = recordWorkers();
    let pool;
    try {
      pool = await Threads.create(shared, 2);
    } finally {
      recorder.restore();
    }
    const [codes, scales, x, y] = [shared.alloc(16 * 64), shared.alloc(2 * 64), shared.put(new Float32Array(32).fill(1)),
      shared.alloc(4 * 64)];
    const job = { K: 32, rows: 64, tokens: 1, scratch: shared.alloc(2 * 128), scratchStride: 128 };
    try {
      await pool.matmul('q4g32', { codes, scales }, x, y, job);  // the pool works
      recorder.workers[0].terminate();  // ends the worker as a crash would, before it takes its share
      const dead = (error) => error instanceof DeviceLostError && /CPU backend thread 1 stopped \(exit code 1\)/.test(error.message);
      await assert.rejects(pool.matmul('q4g32', { codes, scales }, x, y, job), dead);
      assert.ok(dead(await pool.lost));
      await assert.rejects(pool.matmul('q4g32', { codes, scales }, x, y, job), dead);
      assert.throws(() => pool.assertAlive(), dead);
    } finally {
      pool.destroy();
    }
  });

  test('more than one thread on an unshared memory is refused, with the fix', async () => {
    await assert.rejects(Threads.create(wasm, 2), /2 threads need SharedArrayBuffer and the threads build/);
    await assert.rejects(Threads.create(wasm, 0), /threads = 0: a whole number >= 1/);
  });
});
