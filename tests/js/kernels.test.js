// Each WGSL kernel against a CPU reference, on every numeric path the adapter has: f32 always, f16
// where it has shader-f16 (lavapipe). Run once per adapter:
//   VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json node --test tests/js/
//   VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.json node --test tests/js/
//
// Tolerances: on the f32 path the kernels sum in a different order than the float64 reference:
// 1e-4 relative. On the f16 path activations and the KV cache are stored as f16 (the reference is
// given the same rounded inputs) and dot products are summed 8 terms at a time in f16: each sum is
// off by a few f16 ulps (2^-11 relative) of its terms, so 1e-2 relative to the outputs' scale.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { create } from 'webgpu';
import { ADAPTER, Harness, NO_SUBGROUPS, numericPaths, openGpu, roundT } from './helpers/gpu.js';
import { logSoftmax, matmul, maxError, normals, random, randomWeight, rmsScale, silu } from './helpers/reference.js';
import { attentionReference } from './helpers/attention_reference.js';
import { parseUniformFields } from '../../runtime/webgpu/kernels.js';
import {
  ACT_INT16_GROUP_BYTES, ACT_INT16_WRITE, EARLY_VALUES, GEMMS, GEMV_DOTS, KEYS_AHEAD, defaultGemmVariant, gemmLayout,
  gemmVariants, gemvInputs, gemvVariants,
} from '../../runtime/webgpu/tuning.js';
import { requestDevice } from '../../runtime/webgpu/device.js';
import { Kernels } from '../../runtime/webgpu/kernels.js';
import { Sampler } from '../../runtime/webgpu/sampler.js';
import { ATTENTION_OUTPUTS } from '../../runtime/webgpu/model.js';

// PyTorch's gelu(approximate='tanh'), Gemma's hidden_activation gelu_pytorch_tanh
const geluTanh = (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

const paths = await numericPaths();

// A cos/sin table as model.js's ropeTables lays it out ([context, rotary / 2] pairs), base 10000.
function ropeTable(context, rotary) {
  const half = rotary / 2;
  const table = new Float32Array(context * rotary);
  for (let p = 0; p < context; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * 10000 ** (-(2 * i) / rotary);
      table[2 * (p * half + i)] = Math.cos(angle);
      table[2 * (p * half + i) + 1] = Math.sin(angle);
    }
  }
  return table;
}

// One head's values (an array of head_dim numbers) turned by RoPE at position `pos` (rotate_half:
// i with i + rotary / 2; dimensions from `rotary` on passed through), from `table` (ropeTable's).
function turnHead(values, table, pos, rotary) {
  const half = rotary / 2;
  const out = Float64Array.from(values);
  for (let i = 0; i < half; i++) {
    const [c, s] = [table[2 * (pos * half + i)], table[2 * (pos * half + i) + 1]];
    out[i] = values[i] * c - values[i + half] * s;
    out[i + half] = values[i + half] * c + values[i] * s;
  }
  return Array.from(out);
}

const dawn = create([]); // an adapter of our own, for devices with chosen limits; referenced for the whole run, as npm webgpu requires

describe('the prefill matmul\'s variants', () => {
  const limits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 };
  test('a device runs the first variant its limits hold untuned, and tunes among all it holds', () => {
    const [wide, narrow] = GEMMS.gemm_tiled;
    const wideBytes = gemmLayout('gemm_tiled', wide).workgroupBytes;
    assert.equal(defaultGemmVariant('gemm_tiled', { ...limits, maxComputeWorkgroupStorageSize: 32768 }), wide);
    assert.equal(defaultGemmVariant('gemm_tiled', { ...limits, maxComputeWorkgroupStorageSize: wideBytes - 4 }), narrow);
    assert.equal(defaultGemmVariant('gemm_tiled', { ...limits, maxComputeInvocationsPerWorkgroup: 64, maxComputeWorkgroupStorageSize: 32768 }), narrow);
    assert.deepEqual(gemmVariants('gemm_tiled', { ...limits, maxComputeWorkgroupStorageSize: 32768 }), GEMMS.gemm_tiled);
    assert.deepEqual(gemmVariants('gemm_tiled', { ...limits, maxComputeInvocationsPerWorkgroup: 64, maxComputeWorkgroupStorageSize: 32768 }),
      GEMMS.gemm_tiled.filter(({ WG }) => WG <= 64));
    // WebGPU's least limits (the defaults): every file has a variant there
    for (const file of Object.keys(GEMMS)) {
      assert.ok(defaultGemmVariant(file, { ...limits, maxComputeWorkgroupStorageSize: 16384 }), file);
    }
  });

  // workgroupBytes (tuning.js gemmLayout) against the WGSL's own declarations: a device whose limit is that
  // many bytes compiles the variant, and where the limit can be set below that (not under WebGPU's
  // default, 16 KiB), one 4 bytes short refuses it.
  test('workgroupBytes is the workgroup memory the kernel declares', async () => {
    const { limits } = await dawn.requestAdapter();  // an adapter makes one device: one each below
    const least = 16384;
    const parts = [{ file: 'q4g32', constants: { K: 64 } }, { file: 'in_plain' },
      { file: 'out_store', constants: { N: 8, OUT_STRIDE: 8 } }, { file: 'bias_none' }];
    const checked = Object.entries(GEMMS).flatMap(([file, gemms]) => gemms.map((constants) =>
      ({ file, constants, workgroupBytes: gemmLayout(file, constants).workgroupBytes })))
      .filter(({ workgroupBytes }) => workgroupBytes <= limits.maxComputeWorkgroupStorageSize);
    assert.ok(checked.some(({ workgroupBytes }) => workgroupBytes - 4 >= least)
      || limits.maxComputeWorkgroupStorageSize < gemmLayout('gemm_tiled', GEMMS.gemm_tiled[0]).workgroupBytes,
    'a variant past the least limit is checked');
    for (const { file, constants, workgroupBytes } of checked) {
      const cases = [[workgroupBytes, true], ...(workgroupBytes - 4 >= least ? [[workgroupBytes - 4, false]] : [])];
      for (const [bytes, compiles] of cases) {
        const device = await (await dawn.requestAdapter()).requestDevice({ requiredLimits: {
          maxComputeWorkgroupStorageSize: Math.max(bytes, least),
          maxComputeInvocationsPerWorkgroup: constants.WG, maxComputeWorkgroupSizeX: constants.WG } });
        const kernels = await Kernels.create(await requestDevice({ gpu: device }));
        try {
          await kernels.kernel(file, { parts, constants });
          const compiled = kernels.ready().then(() => true, () => false);
          assert.equal(await compiled, compiles, `${file} ${JSON.stringify(constants)} at a limit of ${bytes} bytes`);
        } finally {
          device.destroy();
        }
      }
    }
  });
});

describe('storage buffers per kernel', () => {
  // WebGPU's default limit, 8 (a device asks for more only where its adapter has them)
  test('a kernel past the device\'s maxStorageBuffersPerShaderStage is refused before it compiles, naming both counts', async () => {
    const device = await (await dawn.requestAdapter()).requestDevice();
    const kernels = await Kernels.create(await requestDevice({ gpu: device }));
    try {
      assert.equal(device.limits.maxStorageBuffersPerShaderStage, 8);
      const parts = (epilogue, bias) => [{ file: 'q4g32', constants: { K: 64 } }, { file: 'in_norm', constants: { EPS: 1e-5 } },
        epilogue, { file: bias }, { file: 'dot_float' }];
      const ropeKv = { file: 'out_rope_kv', constants: { N: 32, HEADS: 2, KV_HEADS: 1, HEAD_DIM: 16, CONTEXT: 8, ROTARY_DIM: 16 } };
      const stored = parts({ file: 'out_store', constants: { N: 8, OUT_STRIDE: 8 } }, 'bias_add');
      // codes, scales, act, norm_x, then out and bias, or rope, q, k_cache and v_cache (and bias)
      assert.equal(await kernels.storageBuffers('gemv', { parts: stored }), 6);
      assert.equal(await kernels.storageBuffers('gemv', { parts: parts(ropeKv, 'bias_none') }), 8);
      assert.equal(await kernels.storageBuffers('gemv', { parts: parts(ropeKv, 'bias_add') }), 9);
      await kernels.kernel('gemv', { parts: stored, constants: { WG: 64 } });
      await kernels.kernel('gemv', { parts: parts(ropeKv, 'bias_none'), constants: { WG: 64 } });
      await assert.rejects(kernels.kernel('gemv', { parts: parts(ropeKv, 'bias_add'), constants: { WG: 64 } }),
        /q4g32\+in_norm\+out_rope_kv\+bias_add\+dot_float\+gemv binds 9 storage buffers; this device allows 8/);
      await kernels.ready();
    } finally {
      device.destroy();
    }
  });
});

describe('the step uniform', () => {
  test('its layout is read from struct Params in common.wgsl', () => {
    const fields = parseUniformFields(readFileSync(new URL('../../kernels/common.wgsl', import.meta.url), 'utf8'));
    assert.deepEqual(fields.get('rows'), { offset: 0, type: 'u32' });
    assert.deepEqual(fields.get('temperature'), { offset: 8, type: 'f32' });
    assert.deepEqual(fields.get('masked'), { offset: 4 * (fields.size - 1), type: 'u32' });
    const parsed = parseUniformFields('struct Params {\n  a: f32,  // one, two\n  b: i32\n}');
    assert.deepEqual([...parsed], [['a', { offset: 0, type: 'f32' }], ['b', { offset: 4, type: 'i32' }]]);
  });

  test('a field it cannot lay out is refused', () => {
    assert.throws(() => parseUniformFields('struct Params { a: u32, b: vec2<f32>, }'), /b: vec2<f32>/);
    assert.throws(() => parseUniformFields('struct Other { a: u32 }'), /no struct Params/);
  });
});

for (const path of paths) {
  describe(`kernels on ${ADAPTER}, ${path} path`, () => {
    let gpu;
    let h;
    const f16 = path === 'f16';
    const tolerance = f16 ? 1e-2 : 1e-4;
    before(async () => {
      gpu = await openGpu(path);
      h = await Harness.create(gpu);
    });
    after(() => gpu.destroy());

    test('the requested numeric path is the one that runs', () => {
      assert.equal(gpu.features.f16, f16);
      assert.equal(gpu.features.subgroups, path !== NO_SUBGROUPS);
      assert.equal(h.kernels.preamble.includes('enable subgroups'), path !== NO_SUBGROUPS);
      assert.match(h.kernels.preamble, f16 ? /alias T = f16/ : /alias T = f32/);
      assert.ok(gpu.features.integerDot, 'Dawn has WGSL packed_4x8_integer_dot_product: the integer GEMV is tested');
    });

    // Runs one weight through the decode GEMV in every variant of its scheme's space (tuning.js
    // gemvVariants: 4, 8 and 16 rows per workgroup on floats; q4g32 also on integer dot products
    // where WGSL has them, the activations quantised in the GEMV or before it) and the prefill GEMM
    // in every variant the device runs (tuning.js gemmVariants) with the given input/epilogue and checks them
    // against the reference (the GEMV computes the chunk's last row only). Epilogue 'rope' (the QKV
    // projection with RoPE and the cache append, out_rope_kv.wgsl) takes `heads` { heads, kvHeads,
    // dim, rotary } and writes rows at positions `pos`..; its outputs are pairs of weight rows.
    async function checkMatmul({ scheme = 'q4g32', norm = false, epilogue = 'store', bias = false, rows = 5, n: outputs = 37,
      k = 288, heads = null, pos = 0 }) {
      const context = pos + rows;
      const n = epilogue === 'rope' ? (heads.heads + 2 * heads.kvHeads) * heads.dim / 2 : outputs;
      const rand = random(n * 31 + k + rows);
      const gated = epilogue === 'swiglu' || epilogue === 'geglu';
      const paired = gated || epilogue === 'rope';
      const weightRows = paired ? 2 * n : n;
      const weight = randomWeight(scheme, weightRows, k, rand);
      const x = Float64Array.from(normals(rows * k, rand), Math.fround);
      const gainIn = normals(k, rand, 0.1).map((v) => 1 + v);
      const act = norm ? x.map((v, i) => roundT(v * gainIn[i % k], f16)) : normals(rows * k, rand).map((v) => roundT(v, f16));
      const product = matmul(act, weight.values, rows, weightRows, k);
      const scale = (m) => (norm ? rmsScale(x, m, k, 1e-5) : 1);
      const biasValues = Float32Array.from(normals(epilogue === 'rope' ? weightRows : n, rand, 0.5));
      const gainOut = Float32Array.from(normals(n, rand, 0.1), (v) => 1 + v);
      const residual = Float32Array.from(normals(rows * n, rand));
      const expected = (m, j) => {
        const y = (row) => product[m * weightRows + row] * scale(m);
        if (epilogue === 'swiglu') return silu(y(j)) * y(n + j);
        if (epilogue === 'geglu') return geluTanh(y(j)) * y(n + j);
        if (epilogue === 'residual') return residual[m * n + j] + y(j);
        return y(j) + (bias ? biasValues[j] : 0);
      };

      const variants = [...gemvVariants(scheme, gpu.features).map(({ rows: ROWS, dot, subgroups }) => ['gemv', ROWS, dot, null, subgroups]),
        ...Object.keys(GEMMS).flatMap((file) => gemmVariants(file, gpu.limits).map((constants) => [file, null, null, constants]))];
      for (const [kernel, ROWS, dot, gemm, subgroups] of variants) {
        const weights = Object.fromEntries(Object.entries(weight.parts).map(([part, array]) => [part, h.buffer(array)]));
        const resources = { ...weights, act: h.tBuffer(act) };
        const parts = [{ file: scheme, constants: { K: k } }, ...(dot ? GEMV_DOTS[dot].parts.map((file) => ({ file })) : [])];
        const input = norm ? 'in_norm' : 'in_plain';
        const inputPart = (file) => ({ file, constants: file === 'in_plain' ? {} : { EPS: 1e-5 } });
        const inputResources = norm ? { norm_x: h.buffer(Float32Array.from(x)) } : {};
        const inputs = dot ? gemvInputs(dot, input) : { gemv: input, write: null };
        parts.push(inputPart(inputs.gemv));
        if (inputs.write) {
          // the dispatch the model runs before such a GEMV: the decode row's activations as int16
          resources.act_int16 = h.buffer(ACT_INT16_GROUP_BYTES * (k / 32));
          await h.run(ACT_INT16_WRITE.file, { parts: [...ACT_INT16_WRITE.parts.map((file) => ({ file })), inputPart(inputs.write)],
            constants: { WG: 64, K: k } },
            { act: resources.act, act_int16: resources.act_int16, ...inputResources }, Math.ceil(k / 32 / 64), { rows });
        } else {
          Object.assign(resources, inputResources);
        }
        if (epilogue === 'store') {
          parts.push({ file: 'out_store', constants: { N: n, OUT_STRIDE: n } }, { file: bias ? 'bias_add' : 'bias_none' });
          Object.assign(resources, { out: h.buffer(4 * rows * n) }, bias && { bias: h.buffer(biasValues) });
        } else if (epilogue === 'residual') {
          parts.push({ file: 'out_residual', constants: { N: n } });
          Object.assign(resources, { x: h.buffer(residual), gain: h.buffer(gainOut), normed: h.buffer(4 * rows * n) });
        } else if (epilogue === 'rope') {
          parts.push({ file: 'out_rope_kv', constants: { N: n, HEADS: heads.heads, KV_HEADS: heads.kvHeads,
            HEAD_DIM: heads.dim, CONTEXT: context, ROTARY_DIM: heads.rotary } }, { file: bias ? 'bias_add' : 'bias_none' });
          const cacheBytes = 4 * heads.kvHeads * context * heads.dim;
          Object.assign(resources, bias && { bias: h.buffer(biasValues) }, { rope: h.buffer(ropeTable(context, heads.rotary)),
            q: h.buffer(4 * rows * heads.heads * heads.dim), k_cache: h.buffer(cacheBytes), v_cache: h.buffer(cacheBytes) });
        } else {
          parts.push({ file: 'out_swiglu', constants: { N: n, GELU: epilogue === 'geglu' } });
          resources.hidden = h.buffer(4 * rows * n);
        }
        const tiles = Math.ceil(n / (paired ? 2 : 4));
        const WG = (h.kernels.subgroupSize || 64) * subgroups;
        const grid = kernel === 'gemv' ? Math.ceil(tiles / (ROWS / 4)) : gemmLayout(kernel, gemm).grid(tiles, rows);
        await h.run(kernel, { parts, constants: kernel === 'gemv' ? { WG, ROWS } : gemm }, resources,
          grid, { rows, pos });

        const checked = kernel === 'gemv' ? [rows - 1] : [...Array(rows).keys()];
        const variant = gemm ? JSON.stringify(gemm) : `${ROWS} rows, ${subgroups} subgroups, ${dot}`;
        if (epilogue === 'rope') {
          await checkTurned(resources, checked, (m, row) => product[m * weightRows + row] * scale(m) + (bias ? biasValues[row] : 0),
            { ...heads, context, pos, rows }, `${kernel} (${variant})`);
          continue;
        }
        const want = checked.flatMap((m) => Array.from({ length: n }, (_, j) => expected(m, j)));
        const pick = (all) => checked.flatMap((m) => Array.from(all.subarray(m * n, (m + 1) * n)));
        const outBuffer = { store: resources.out, residual: resources.x, swiglu: resources.hidden, geglu: resources.hidden }[epilogue];
        const got = pick(epilogue === 'store' || epilogue === 'residual' ? await h.read(outBuffer) : await h.readT(outBuffer));
        const floor = Math.sqrt(want.reduce((sum, v) => sum + v * v, 0) / want.length);
        assert.ok(maxError(got, want, floor) < tolerance, `${kernel} (${variant}): error ${maxError(got, want, floor)}`);
        if (epilogue === 'residual') {
          const normed = pick(await h.readT(resources.normed));
          const wantNormed = want.map((v, i) => v * gainOut[i % n]);
          assert.ok(maxError(normed, wantNormed, floor) < tolerance, `${kernel}: x ⊙ gain`);
        }
        if (kernel === 'gemv' && epilogue === 'store') {
          assert.ok((await h.read(resources.out)).subarray(0, (rows - 1) * n).every((v) => v === 0), 'GEMV wrote other rows');
        }
      }
    }

    // q, k_cache and v_cache after RoPE and the cache append (the QKV projection's epilogue
    // out_rope_kv, or rope_kv) ran chunk rows `checked`: y(m, row), the value about to be turned of the
    // projection's row `row` (its bias added; q/k normalised where rope_kv does) in chunk row m; every
    // other row of q and position of the caches still zero. Errors relative to the RMS of q, unless
    // `errors` gives { floor, q, cache } (absolute with floor 1).
    async function checkTurned(resources, checked, y, { heads, kvHeads, dim, rotary, context, pos, rows }, label, errors = {}) {
      const table = ropeTable(context, rotary);
      const head = (m, index) => Array.from({ length: dim }, (_, i) => y(m, index * dim + i));
      const wantQ = new Float64Array(rows * heads * dim);
      const wantK = new Float64Array(kvHeads * context * dim);
      const wantV = new Float64Array(kvHeads * context * dim);
      for (const m of checked) {
        for (let index = 0; index < heads; index++) wantQ.set(turnHead(head(m, index), table, pos + m, rotary), (m * heads + index) * dim);
        for (let kv = 0; kv < kvHeads; kv++) {
          wantK.set(turnHead(head(m, heads + kv), table, pos + m, rotary), (kv * context + pos + m) * dim);
          wantV.set(head(m, heads + kvHeads + kv), (kv * context + pos + m) * dim);
        }
      }
      const { floor = Math.sqrt(wantQ.reduce((sum, v) => sum + v * v, 0) / (checked.length * heads * dim)),
        q = tolerance, cache = tolerance } = errors;
      assert.ok(maxError(await h.read(resources.q), wantQ, floor) < q, `${label}: q`);
      assert.ok(maxError(await h.readT(resources.k_cache), wantK, floor) < cache, `${label}: k cache`);
      assert.ok(maxError(await h.readT(resources.v_cache), wantV, floor) < cache, `${label}: v cache`);
    }

    test('matmul q4g32: store with bias (QKV), GEMV and GEMM', () => checkMatmul({ bias: true }));
    // RoPE and the KV-cache append in the QKV projection's epilogue: with a bias and the fused
    // RMSNorm input; partial rotary (24 of 32 dimensions turned, the rest paired and passed through)
    test('matmul q4g32: QKV with RoPE and the cache append in its epilogue (out_rope_kv)', async () => {
      await checkMatmul({ epilogue: 'rope', bias: true, norm: true, heads: { heads: 4, kvHeads: 2, dim: 16, rotary: 16 }, pos: 6, k: 96 });
      await checkMatmul({ epilogue: 'rope', rows: 3, heads: { heads: 2, kvHeads: 1, dim: 32, rotary: 24 }, pos: 3, k: 64 });
    });
    test('matmul q4g32: fused RMSNorm input, store (LM head)', () => checkMatmul({ norm: true, n: 64, k: 96 }));
    // gemm_tiled's second block of 64 tokens, its last one clamped
    test('matmul q4g32: a chunk of 70 rows', () => checkMatmul({ norm: true, epilogue: 'residual', rows: 70, n: 40, k: 64 }));
    test('matmul q4g32: residual add epilogue writes x and x ⊙ g', () => checkMatmul({ epilogue: 'residual', rows: 9 }));
    test('matmul q4g32: fused RMSNorm input, SwiGLU epilogue', () => checkMatmul({ norm: true, epilogue: 'swiglu', n: 21 }));
    test('matmul q4g32: fused RMSNorm input, GeGLU (tanh GELU) epilogue', () => checkMatmul({ norm: true, epilogue: 'geglu', n: 21 }));
    test('matmul f16 weights', () => checkMatmul({ scheme: 'f16', norm: true, epilogue: 'swiglu', n: 10, k: 64 }));
    for (const scheme of ['q8g32', 'q4g32m']) {
      test(`matmul ${scheme} weights: store with bias, SwiGLU`, async () => {
        await checkMatmul({ scheme, bias: true });
        await checkMatmul({ scheme, norm: true, epilogue: 'swiglu', n: 21, k: 96 });
      });
    }
    test('matmul with one chunk row', () => checkMatmul({ rows: 1, n: 8, k: 32 }));

    // sandwich_norms: x += RMSNorm(y) ⊙ post_gain, normed = x ⊙ gain, over rows of a width above WG
    test('rms_norm_add: a normalised projection added to x', async () => {
      const rand = random(17);
      const [rows, hidden] = [3, 160];
      const y = Float32Array.from(normals(rows * hidden, rand, 3));
      const x = Float32Array.from(normals(rows * hidden, rand));
      const postGain = Float32Array.from(normals(hidden, rand, 0.1), (v) => 1 + v);
      const gain = Float32Array.from(normals(hidden, rand, 0.1), (v) => 1 + v);
      const resources = { y: h.buffer(y), post_gain: h.buffer(postGain), x: h.buffer(x), gain: h.buffer(gain),
        normed: h.buffer(4 * rows * hidden) };
      await h.run('rms_norm_add', { constants: { WG: 64, HIDDEN: hidden, EPS: 1e-6 } }, resources, [rows], { rows });
      const wantX = Array.from(x, (v, i) => v + y[i] * rmsScale(y, Math.floor(i / hidden), hidden, 1e-6) * postGain[i % hidden]);
      assert.ok(maxError(await h.read(resources.x), wantX) < 1e-5);
      assert.ok(maxError(await h.readT(resources.normed), wantX.map((v, i) => v * gain[i % hidden]), 1) < tolerance);
    });

    for (const scheme of ['q4g32', 'q8g32', 'q4g32m']) test(`embedding lookup (${scheme}) over a table split into row blocks`, async () => {
      const rand = random(7);
      const [vocab, k, blockRows] = [100, 64, 40];
      const table = randomWeight(scheme, vocab, k, rand);
      const gain = Float32Array.from(normals(k, rand, 0.1), (v) => 1 + v);
      const tokens = Uint32Array.of(5, 70, 39, 40, 99);
      const resources = { tokens: h.buffer(tokens), x: h.buffer(4 * tokens.length * k), gain: h.buffer(gain),
        normed: h.buffer(4 * tokens.length * k) };
      for (let row0 = 0; row0 < vocab; row0 += blockRows) {
        const rowsInBlock = Math.min(blockRows, vocab - row0);
        const block = Object.fromEntries(Object.entries(table.parts).map(([part, array]) => [part, h.buffer(
          new Uint8Array(array.buffer).slice(row0 * table.rowBytes[part], (row0 + rowsInBlock) * table.rowBytes[part]))]));
        await h.run('embed', { parts: [{ file: scheme, constants: { K: k } }],
          constants: { WG: 64, ROW0: row0, ROWS: rowsInBlock } }, { ...block, ...resources }, [1, tokens.length],
        { rows: tokens.length });
      }
      const want = Array.from(tokens).flatMap((t) => Array.from(table.values.subarray(t * k, (t + 1) * k)));
      const x = await h.read(resources.x);
      assert.ok(maxError(x, want) < (f16 ? 1e-3 : 1e-7));
      assert.ok(maxError(await h.readT(resources.normed), want.map((v, i) => v * gain[i % k])) < tolerance);
    });

    // WG <= HEAD_DIM / 2: two dimensions per invocation, four (a loop), and a reduction over
    // several subgroups where they are small (q/k norm); partial rotary (Phi-4-mini's 0.75); head
    // sizes that are not powers of two (Phi-3's 96, a tiny 24), three dimensions per invocation
    for (const { qkNorm, dim, wg, rotary } of [{ qkNorm: false, dim: 16, wg: 8, rotary: 16 },
      { qkNorm: true, dim: 32, wg: 8, rotary: 24 }, { qkNorm: true, dim: 64, wg: 32, rotary: 64 },
      { qkNorm: false, dim: 24, wg: 8, rotary: 24 }, { qkNorm: true, dim: 96, wg: 32, rotary: 96 }]) {
      test(`RoPE on q and k${qkNorm ? ' RMS-normalised per head' : ''}, k and v appended to the cache `
        + `(head_dim ${dim}, WG ${wg}, ${rotary} dimensions turned)`, async () => {
        const rand = random(11);
        const [heads, kvHeads, context, rows, pos, eps] = [4, 2, 32, 3, 5, 1e-6];
        const width = (heads + 2 * kvHeads) * dim;
        const qkv = Float32Array.from(normals(rows * width, rand, 3));
        const gain = Float32Array.from(normals(2 * dim, rand, 0.1), (v) => 1 + v); // q's, then k's
        const table = ropeTable(context, rotary);
        const resources = { qkv: h.buffer(qkv), rope: h.buffer(table), q: h.buffer(4 * rows * heads * dim),
          k_cache: h.buffer(4 * kvHeads * context * dim), v_cache: h.buffer(4 * kvHeads * context * dim),
          qk_gain: h.buffer(qkNorm ? gain : new Float32Array(4)) };
        await h.run('rope_kv', { constants: { WG: wg, HEADS: heads, KV_HEADS: kvHeads, HEAD_DIM: dim, CONTEXT: context,
          QK_NORM: qkNorm, EPS: eps, ROTARY_DIM: rotary } }, resources, [heads + kvHeads, rows], { rows, pos });
        // q and k heads RMS-normalised with their gain (qk_norm), v as it is
        const y = (m, row) => {
          const head = Math.floor(row / dim);
          const value = qkv[m * width + row];
          if (!qkNorm || head >= heads + kvHeads) return value;
          const scale = rmsScale(qkv.subarray(m * width + head * dim, m * width + (head + 1) * dim), 0, dim, eps);
          return value * scale * gain[(head < heads ? 0 : dim) + row % dim];
        };
        await checkTurned(resources, [...Array(rows).keys()], y, { heads, kvHeads, dim, rotary, context, pos, rows }, 'rope_kv',
          { floor: 1, q: 1e-5, cache: f16 ? 3e-3 : 1e-5 });
      });
    }

    // The reference attention (helpers/attention_reference.js) of `rows` query rows at positions
    // pos.. (q [rows, heads, dim]) over a cache [kvHeads, context, dim]: numbers [rows, heads, dim].
    const attentionWant = (q, keys, values, { heads, kvHeads, dim, context, rows = 1, pos, window, scale, softcap }) => {
      const want = [];
      for (let m = 0; m < rows; m++) {
        const length = pos + m + 1;
        const first = window ? Math.max(0, length - window) : 0;
        for (let head = 0; head < heads; head++) {
          const kv = Math.floor(head / (heads / kvHeads));
          const cache = (all) => all.subarray(kv * context * dim, (kv + 1) * context * dim);
          const query = q.subarray((m * heads + head) * dim, (m * heads + head + 1) * dim);
          want.push(...attentionReference(query, cache(keys), cache(values), { dim, first, length, scale, softcap }));
        }
      }
      return want;
    };

    // plain; Gemma's: query_pre_attn_scalar's scale, a sliding window (narrower than the positions
    // walked, not a multiple of a workgroup) and Gemma 2's soft-capped scores; head sizes that are
    // not powers of two, whose HEAD_DIM / 4 lanes do not divide WG: 24 (planes of 6 lanes, 10 of
    // them in 64, each walking 7 positions of a tile, 6 slots past it), Phi-3's 96 in 256 lanes as on
    // GPUs (10 planes of 24, 16 lanes left over, 26 positions a plane), in 128 (5 planes, 8 left
    // over) and in 64 (2 planes, 16 lanes left over)
    const attentionCases = [
      { name: 'causal, grouped-query, over more positions than a workgroup' },
      { window: 70, softcap: 2, scale: 0.4, name: 'a sliding window of 70, scores soft-capped at 2, scale 0.4' },
      { dim: 24, name: 'head_dim 24, grouped-query' },
      { dim: 96, wg: 256, heads: 2, kvHeads: 2, name: 'head_dim 96 in a workgroup of 256' },
      { dim: 96, wg: 128, heads: 2, kvHeads: 2, name: 'head_dim 96 in a workgroup of 128' },
      { dim: 96, heads: 2, kvHeads: 1, window: 70, name: 'head_dim 96 in a workgroup of 64, a sliding window of 70' },
    ];
    // attention.wgsl with one workgroup per (head, row); attention_serial.wgsl (CPU adapters) with an
    // invocation per (row, up to 4 heads of a KV head's group): the cases above but those of a
    // workgroup size (attention.wgsl's planes), and a group of 7 in parts of 4 + 3; its WG 2 puts
    // the rows in two workgroups, the second partial
    const attentionRuns = [
      ...attentionCases.map((c) => ({ ...c, file: 'attention' })),
      // a short decode step's (model.js): each invocation's first EARLY_VALUES values loaded with its
      // keys, KEYS_AHEAD quads of its key row loaded before they are scored (head_dim 96: 16 then 8)
      ...attentionCases.map((c) => ({ ...c, file: 'attention', early: EARLY_VALUES, keysAhead: KEYS_AHEAD,
        name: `${c.name}, values and key quads loaded ahead` })),
      ...[...attentionCases.filter((c) => !c.wg), { heads: 7, kvHeads: 1, dim: 64, name: 'a group of 7 in parts of 4 and 3, head_dim 64' }]
        .map((c) => ({ ...c, file: 'attention_serial', wg: 2, name: c.name.replace(/ in a workgroup of \d+/, '') })),
    ];
    for (const { file, window = 0, softcap = 0, dim = 16, wg = 64, heads = 4, kvHeads = 2, scale = dim ** -0.5, early = 0,
      keysAhead = 1, name } of attentionRuns) {
      test(`${file}: ${name}`, async () => {
        const rand = random(13);
        const [context, rows, pos] = [160, 3, 100];
        const q = Float32Array.from(normals(rows * heads * dim, rand));
        const keys = normals(kvHeads * context * dim, rand).map((v) => roundT(v, f16));
        const values = normals(kvHeads * context * dim, rand).map((v) => roundT(v, f16));
        const resources = { q: h.buffer(q), k_cache: h.tBuffer(keys), v_cache: h.tBuffer(values),
          out: h.buffer(4 * rows * heads * dim) };
        const constants = { WG: wg, HEADS: heads, KV_HEADS: kvHeads, HEAD_DIM: dim, CONTEXT: context,
          SCALE: scale, SOFTCAP: softcap, WINDOW: window };
        if (file === 'attention') {
          await h.run(file, { parts: ATTENTION_OUTPUTS.out, constants: { ...constants, EARLY: early, KEYS_AHEAD: keysAhead } },
            { ...resources, partials: h.buffer(16) }, [heads, rows],
            { rows, pos });
        } else {
          const parts = Math.ceil(heads / kvHeads / 4);
          await h.run(file, { constants: { ...constants, QUERIES: Math.ceil(heads / kvHeads / parts) } }, resources,
            [kvHeads * parts, Math.ceil(rows / wg)], { rows, pos });
        }
        const want = attentionWant(q, keys, values, { heads, kvHeads, dim, context, rows, pos, window, scale, softcap });
        assert.ok(maxError(await h.readT(resources.out), want, 0.1) < tolerance);
      });
    }

    // Flash-decoding: attention.wgsl split over the context (SPLIT positions per workgroup, QUERIES
    // query heads of a KV head's group each), then attention_combine.wgsl, for one decode row at
    // each of `lengths` against the reference: from one position to many splits, across split
    // boundaries (one span, one past it, lengths no multiple of it). Spans shorter than a tile
    // (lanes past a split's end idle) and of several tiles (a split's own online rescale, its last
    // tile partial); a group of 7 as two workgroups of 4 + 3 heads, groups of 2 and 3, and none
    // (one query head per KV head); the window and soft cap of the tests above; head_dim 64 and
    // Phi-3's 96 (planes that do not fill the workgroup). Key quads loaded ahead as a decode step's
    // split loads them (KEYS_AHEAD 16: head_dim 16 and 64 a partial and a whole load of its row, 96
    // a whole one and a partial one).
    for (const { heads, kvHeads, queries, dim = 16, wg = 64, span, window = 0, softcap = 0, scale = dim ** -0.5, lengths,
      early = 0, name } of [
      { heads: 8, kvHeads: 2, queries: 4, span: 24, lengths: [1, 24, 25, 300], name: 'groups of 4, spans of 24' },
      { heads: 7, kvHeads: 1, queries: 4, dim: 64, span: 150, lengths: [150, 151, 400],
        name: 'a group of 7 in two workgroups, head_dim 64, spans of 150 (three tiles, the last partial)' },
      { heads: 7, kvHeads: 1, queries: 2, dim: 64, span: 150, lengths: [150, 151, 400], early: EARLY_VALUES,
        name: `a group of 7 in parts of 2, head_dim 64, spans of 150, ${EARLY_VALUES} values loaded early` },
      { heads: 4, kvHeads: 2, queries: 2, span: 16, window: 70, softcap: 2, scale: 0.4, lengths: [50, 70, 71, 200],
        name: 'groups of 2, a sliding window of 70, scores soft-capped at 2, scale 0.4, spans of 16' },
      { heads: 6, kvHeads: 2, queries: 3, dim: 96, wg: 128, span: 64, lengths: [64, 65, 200],
        name: 'groups of 3, head_dim 96 in workgroups of 128, spans of 64' },
      { heads: 6, kvHeads: 2, queries: 3, dim: 96, wg: 128, span: 64, lengths: [64, 65, 200], early: EARLY_VALUES,
        name: `groups of 3, head_dim 96 in workgroups of 128 (planes of 26 positions), spans of 64, ${EARLY_VALUES} values loaded early` },
      { heads: 3, kvHeads: 3, queries: 1, span: 40, lengths: [90], name: 'one query head per KV head, spans of 40' },
    ]) {
      test(`attention split over the context: ${name}`, async () => {
        const rand = random(29);
        const context = Math.max(...lengths);
        const q = Float32Array.from(normals(heads * dim, rand));
        const keys = normals(kvHeads * context * dim, rand).map((v) => roundT(v, f16));
        const values = normals(kvHeads * context * dim, rand).map((v) => roundT(v, f16));
        const partials = h.buffer(4 * Math.ceil(context / span) * heads * (dim + 4));
        const split = { q: h.buffer(q), k_cache: h.tBuffer(keys), v_cache: h.tBuffer(values), out: h.buffer(16), partials };
        const combined = { partials, out: h.buffer(4 * heads * dim) };
        const constants = { WG: wg, HEADS: heads, KV_HEADS: kvHeads, HEAD_DIM: dim, CONTEXT: context, SCALE: scale,
          SOFTCAP: softcap, WINDOW: window, SPLIT: span, QUERIES: queries, EARLY: early, KEYS_AHEAD };
        for (const length of lengths) {
          const params = { rows: 1, pos: length - 1 };
          const splits = Math.ceil((window ? Math.min(length, window) : length) / span);
          await h.run('attention', { parts: ATTENTION_OUTPUTS.out, constants }, split,
            [kvHeads * Math.ceil(heads / kvHeads / queries), splits], params);
          await h.run('attention_combine', { parts: ATTENTION_OUTPUTS.out, constants: { HEADS: heads, HEAD_DIM: dim } },
            combined, [heads], params);
          const want = attentionWant(q, keys, values, { heads, kvHeads, dim, context, pos: length - 1, window, scale, softcap });
          const error = maxError(await h.readT(combined.out), want, 0.1);
          assert.ok(error < tolerance, `length ${length} (${splits} splits): error ${error}`);
        }
      });
    }

    // A decode step's attention storing its output as the output projection's GEMV reads it
    // quantised (attention_out_int16.wgsl, in attention.wgsl unsplit and in attention_combine.wgsl
    // after a split): the same words as act_int16_write.wgsl stores from the values that
    // attention_out.wgsl writes. head_dim 64 and 128 (2 and 4 groups of 32 a head), grouped-query.
    for (const { dim, heads, kvHeads } of [{ dim: 64, heads: 4, kvHeads: 2 }, { dim: 128, heads: 3, kvHeads: 1 }]) {
      test(`attention storing int16 groups for the output projection: head_dim ${dim}, unsplit and split`, async () => {
        const rand = random(31);
        const [context, pos, span, queries] = [160, 130, 48, 2];
        const q = Float32Array.from(normals(heads * dim, rand));
        const cache = { q: h.buffer(q), k_cache: h.tBuffer(normals(kvHeads * context * dim, rand).map((v) => roundT(v, f16))),
          v_cache: h.tBuffer(normals(kvHeads * context * dim, rand).map((v) => roundT(v, f16))) };
        // key quads loaded ahead as a decode step's attention loads them (model.js)
        const constants = { WG: 64, HEADS: heads, KV_HEADS: kvHeads, HEAD_DIM: dim, CONTEXT: context, SCALE: dim ** -0.5,
          KEYS_AHEAD };
        const params = { rows: 1, pos };
        const partials = h.buffer(4 * Math.ceil(context / span) * heads * (dim + 4));
        const groupBytes = ACT_INT16_GROUP_BYTES * heads * dim / 32;
        // the values' groups as act_int16_write.wgsl stores them
        const quantised = async (out) => {
          const stored = h.buffer(groupBytes);
          await h.run(ACT_INT16_WRITE.file, { parts: [...ACT_INT16_WRITE.parts, 'in_plain'].map((file) => ({ file })),
            constants: { WG: 64, K: heads * dim } }, { act: out, act_int16: stored }, 1, params);
          return h.read(stored, Uint32Array);
        };
        const runs = {
          unsplit: async (output, resources) => h.run('attention', { parts: ATTENTION_OUTPUTS[output],
            constants: { ...constants, EARLY: EARLY_VALUES } }, { ...cache, partials: h.buffer(16), ...resources }, [heads, 1], params),
          split: async (output, resources) => {
            await h.run('attention', { parts: ATTENTION_OUTPUTS.out, constants: { ...constants, SPLIT: span, QUERIES: queries } },
              { ...cache, out: h.buffer(16), partials }, [kvHeads * Math.ceil(heads / kvHeads / queries), Math.ceil((pos + 1) / span)],
              params);
            await h.run('attention_combine', { parts: ATTENTION_OUTPUTS[output], constants: { HEADS: heads, HEAD_DIM: dim } },
              { partials, ...resources }, [heads], params);
          },
        };
        for (const [name, run] of Object.entries(runs)) {
          const out = h.buffer(4 * heads * dim);
          await run('out', { out });
          const stored = h.buffer(groupBytes);
          await run('int16', { act_int16: stored });
          assert.deepEqual(await h.read(stored, Uint32Array), await quantised(out), `${name}: the stored groups differ`);
        }
      });
    }

    // The sampler (runtime/webgpu/sampler.js: every dispatch of a draw) on a 1000-token vocabulary
    // (not a multiple of a workgroup's span), in first-stage spans of 256 ids: four first-stage
    // workgroups, eight narrowing ones; its last stage of sampler.js's LAST_WG, or
    // `workgroupSize` wide (a small one makes its lists and spans longer than the workgroup).
    // mask: the allowed token ids, or null for no mask; the other options as sampler.configure()
    // takes them.
    const V = 1000;
    const samplers = new Map();
    async function sample(logits, { history = new Uint32Array(logits.length), mask = null, workgroupSize, rounds, ...options }) {
      const key = `${logits.length} ${workgroupSize} ${rounds}`;
      if (!samplers.has(key)) {
        const made = new Sampler(gpu, { vocabSize: logits.length, logits: h.buffer(4 * logits.length), tokens: h.buffer(16),
          span: 256, workgroupSize, rounds });
        await made.build(h.kernels);
        await h.kernels.ready();
        samplers.set(key, made);
      }
      const sampler = samplers.get(key);
      const { device } = gpu;
      device.queue.writeBuffer(sampler.buffers.logits, 0, Float32Array.from(logits));
      device.queue.writeBuffer(sampler.buffers.history, 0, history);
      let tokenMask = null;
      if (mask) {
        tokenMask = new Uint32Array(Math.ceil(logits.length / 32));
        for (const token of mask) tokenMask[token >> 5] |= 1 << (token & 31);
      }
      h.uniform.clear();
      h.uniform.set({ rows: 1 });
      const want = sampler.configure({ ...options, tokenMask }, h.uniform);
      h.uniform.write();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      sampler.encode(pass);
      pass.end();
      const readback = sampler.copyResult(encoder, want);
      device.queue.submit([encoder.finish()]);
      return { ...await sampler.read(want, readback), buffers: sampler.buffers };
    }

    test('sampling: greedy argmax (first of ties), token written back and counted', async () => {
      const logits = Array.from(normals(V, random(17), 3));
      logits[10] = logits[500] = 50;
      const { token, buffers } = await sample(logits, { temperature: 0 });
      assert.equal(token, 10);
      assert.equal((await h.read(buffers.tokens, Uint32Array))[0], 10);
      assert.equal((await h.read(buffers.history, Uint32Array))[10], 2);
    });

    test('sampling: penalties, logit bias and log-probabilities', async () => {
      const logits = Array.from(normals(V, random(19), 3));
      const history = new Uint32Array(V);
      const rand = random(23);
      for (let i = 0; i < 60; i++) history[Math.floor(rand() * V)] = Math.floor(rand() * 4) * 2 + (rand() < 0.5 ? 1 : 0);
      const bias = [[7, 4.5], [123, -100], [999, 2]];
      const options = { repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.7 };
      const scores = logits.map((logit, i) => {
        let s = Math.fround(logit);
        if (history[i]) s = s > 0 ? s / options.repetitionPenalty : s * options.repetitionPenalty;
        const count = history[i] >> 1;
        return s - count * options.frequencyPenalty - (count > 0 ? options.presencePenalty : 0);
      });
      for (const [token, value] of bias) scores[token] += value;
      const logprobs = logSoftmax(scores);
      const order = [...logprobs.keys()].sort((a, b) => logprobs[b] - logprobs[a] || a - b);
      const { token, logprob, topLogprobs } = await sample(logits, { history, logitBias: Object.fromEntries(bias),
        ...options, temperature: 0, logprobs: true, topLogprobs: 5 });
      assert.equal(token, order[0]);
      assert.ok(Math.abs(logprob - logprobs[token]) < 1e-4);
      for (let n = 0; n < 5; n++) {
        assert.equal(topLogprobs[n].token, order[n]);
        assert.ok(Math.abs(topLogprobs[n].logprob - logprobs[order[n]]) < 1e-4);
      }
    });

    test('sampling: temperature, top-k and top-p draws land where the caller\'s random number says', async () => {
      const temperature = 0.7;
      // the default last stage with two narrowing rounds (GPUs') and, with subgroups, none (CPU
      // adapters': without subgroups, never chosen, the search's reductions through workgroup memory
      // make it slow), and one of 32 invocations over 3000 ids (with top-k 300 and 500 its list
      // is longer than the workgroup: the threshold is searched, the draw walks the list in pieces)
      const runs = [[V, undefined, 2], ...(gpu.features.subgroups ? [[V, undefined, 0]] : []), [3000, 32, 2]];
      for (const [vocabulary, workgroupSize, rounds] of runs) {
        const spread = Array.from(normals(vocabulary, random(29), 2));
        // the best ten in the first workgroup's span: top-k (k <= GROUPS) cuts at the k-th best
        // workgroup maximum, far below the k-th best score here
        const clustered = spread.map((logit, i) => (i < 10 ? logit + 6 : logit));
        // 100 scores two f32 steps apart (ids 7 apart, over every workgroup) below 7 higher ones: the
        // narrowing rounds leave the 100 within the last bounds, the threshold among them
        const dense = spread.map((logit, i) => (i % 7 === 0 && i < 700 ? 3 + (i / 7) * 2 ** -21
          : i % 7 === 1 && i < 49 ? 3.3 + i / 64 : logit / 4));
        const cases = [[spread, 0, 1], [spread, 8, 1], [spread, 0, 0.5], [spread, 20, 0.8], [spread, 3, 1],
          [spread, 4, 0.9], [spread, 300, 1], [spread, 500, 0.7], [clustered, 4, 1], [clustered, 2, 0.95],
          [clustered, 1, 1], [clustered, 0, 0.9], [dense, 0, 0.555], [dense, 37, 1], [dense, 37, 0.805]];
        for (const [logits, topK, topP] of cases) {
          const draw = (r) => sample(logits, { temperature, topK, topP, random: r, workgroupSize, rounds });
          // the reference: kept tokens as thresholds on the sorted scores, then a walk in the
          // sampler's fixed order: by id (sample_gather.wgsl lists them so)
          const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a]);
          let kept = topK ? order.slice(0, topK) : order;
          const weights = kept.map((i) => Math.exp((logits[i] - logits[order[0]]) / temperature));
          const total = weights.reduce((a, b) => a + b, 0);
          let cumulative = 0;
          const keep = weights.findIndex((w) => (cumulative += w) >= topP * total * (1 - 1e-6));
          kept = kept.slice(0, topP < 1 ? keep + 1 : kept.length).sort((a, b) => a - b);
          const keptWeights = kept.map((i) => Math.exp((logits[i] - logits[order[0]]) / temperature));
          const keptTotal = keptWeights.reduce((a, b) => a + b, 0);
          // aim at the middle of the intervals of up to 12 kept tokens of some weight, spread over the
          // layout (so that they fall at every place of the draw's walk)
          let start = 0;
          const heavy = [];
          keptWeights.forEach((w, j) => {
            if (w / keptTotal > 1e-3) heavy.push([kept[j], (start + w / 2) / keptTotal]);
            start += w;
          });
          const probes = heavy.filter((_, n) => n % Math.ceil(heavy.length / 12) === 0);
          for (const [expected, r] of probes) {
            const { token } = await draw(r);
            assert.equal(token, expected, `V ${vocabulary} rounds ${rounds} top_k ${topK} top_p ${topP} random ${r}`);
          }
        }
      }
    });

    test('sampling: the token mask bans and forces tokens, after the logit bias, in greedy and drawn choices', async () => {
      const logits = Array.from(normals(V, random(31), 3));
      const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
      const allBut = (banned) => [...logits.keys()].filter((i) => !banned.includes(i));
      assert.equal((await sample(logits, { temperature: 0, mask: allBut([order[0]]) })).token, order[1]);
      // a banned token stays banned whatever its bias; an allowed one takes its bias
      assert.equal((await sample(logits, { temperature: 0, mask: allBut([order[0]]), logitBias: { [order[0]]: 100 } })).token,
        order[1]);
      assert.equal((await sample(logits, { temperature: 0, mask: allBut([order[0]]), logitBias: { [order[5]]: 100 } })).token,
        order[5]);
      for (const draw of [{ temperature: 0 }, { temperature: 0.7, topK: 5, topP: 0.5, random: 0.9 },
        { temperature: 2, random: 0.999 }]) {
        assert.equal((await sample(logits, { ...draw, mask: [order.at(-1)] })).token, order.at(-1), JSON.stringify(draw));
      }
      // log-probabilities are those of the masked distribution
      const allowed = [order[3], order[40], order[900]];
      const want = logSoftmax(allowed.map((i) => logits[i]));
      const { token, logprob, topLogprobs } = await sample(logits, { temperature: 0, mask: allowed, logprobs: true,
        topLogprobs: 3 });
      assert.equal(token, order[3]);
      assert.ok(Math.abs(logprob - want[0]) < 1e-4, `logprob ${logprob} vs ${want[0]}`);
      assert.deepEqual(topLogprobs.map((entry) => entry.token), allowed);
      topLogprobs.forEach((entry, n) => assert.ok(Math.abs(entry.logprob - want[n]) < 1e-4));
    });
  });
}
