// GEMV, split attention and GEMM variants tuned per device (runtime/webgpu/tuning.js) on the real
// adapter: the GEMV and split attention spaces and their defaults, and loads of the tiny-llama
// fixture that tune (timing every candidate of each distinct GEMV, attention or GEMM shape), use a choice a store kept, skip a variant whose
// pipeline does not compile, keep within their budget, and decode the same tokens as an untuned
// load. That every variant of the spaces computes what the CPU reference does is kernels.test.js's
// matmul tests (checkMatmul runs gemvVariants and gemmVariants). This adapter is a CPU one (CI: 2
// cores): the GEMV searches here time a space of two variants, and check what the tuner does, not
// which variant wins.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADAPTER } from './helpers/gpu.js';
import { fixture, loadFixture } from './helpers/model_files.js';
import { greedy } from './helpers/decoding.js';
import { loadModel } from '../../runtime/webgpu/model.js';
import { requestDevice } from '../../runtime/webgpu/device.js';
import {
  EARLY_VALUES, GEMM_SHORT_ROWS, GEMV_DOTS, attentionVariantName, attentionVariants, comparedWithDefault, defaultAttentionVariant,
  defaultGemvVariant, gemmVariantName,
  gemmVariants, gemvVariantName, gemvVariants, isGemvVariant, queriesPerWorkgroup, tuningSettings, TUNING_BUDGET_MS,
} from '../../runtime/webgpu/tuning.js';

const BUDGET_MS = 20000;  // ample: these tests check what a search finds, the last one that it ends in time
const MAX_CONTEXT = 256;
const same = (a, b) => a.rows === b.rows && a.dot === b.dot;

describe('the variant spaces', () => {
  const withDots = { integerDot: true };
  const floatOnly = { integerDot: false };

  test('rows per workgroup 4, 8 and 16 in one subgroup, 4 rows in 2 and 4, on each group-dot part the scheme and device run', () => {
    const dots = ['dot_float', 'dot_q4g32_int16', 'dot_q4g32_int16_quantised'];
    const shapes = ['4 rows, 1 subgroup', '8 rows, 1 subgroup', '16 rows, 1 subgroup', '4 rows, 2 subgroups', '4 rows, 4 subgroups'];
    assert.deepEqual(gemvVariants('q4g32', withDots).map(gemvVariantName), dots.flatMap((dot) => shapes.map((shape) => `${shape}, ${dot}`)));
    for (const [scheme, features] of [['q4g32', floatOnly], ['q8g32', withDots], ['q4g32m', withDots], ['f16', withDots]]) {
      assert.deepEqual(gemvVariants(scheme, features).map(gemvVariantName), shapes.map((shape) => `${shape}, dot_float`), scheme);
    }
    assert.ok(gemvVariants('q4g32', withDots).every(isGemvVariant));
    for (const bad of [{ rows: 8, dot: 'dot_float', subgroups: 4 }, { rows: 4, dot: 'dot_float' }, { rows: 4, dot: 'dot_fast', subgroups: 1 }]) {
      assert.ok(!isGemvVariant(bad), JSON.stringify(bad));
    }
  });

  test('the default (the rules measured on an H200) is in the space of every weight', () => {
    // Qwen2-0.5B's QKV projection: floats, its down projection (rows of 4864) in 4 subgroups; its gate/up
    // (8.5 Mi values) and LM head: int16 quantised in the GEMV; Qwen2-7B's down (in 4 subgroups) and
    // gate/up: int16 quantised before
    const variant = (rows, dot, subgroups = 1) => ({ rows, dot, subgroups });
    assert.deepEqual(defaultGemvVariant(1152, 896, 'q4g32', withDots), variant(4, 'dot_float'));
    assert.deepEqual(defaultGemvVariant(896, 4864, 'q4g32', withDots), variant(4, 'dot_float', 4));
    assert.deepEqual(defaultGemvVariant(9728, 896, 'q4g32', withDots), variant(8, 'dot_q4g32_int16'));
    assert.deepEqual(defaultGemvVariant(151936, 896, 'q4g32', withDots), variant(16, 'dot_q4g32_int16'));
    assert.deepEqual(defaultGemvVariant(3584, 18944, 'q4g32', withDots), variant(4, 'dot_q4g32_int16_quantised', 4));
    assert.deepEqual(defaultGemvVariant(37888, 3584, 'q4g32', withDots), variant(4, 'dot_q4g32_int16_quantised'));
    assert.deepEqual(defaultGemvVariant(37888, 3584, 'q4g32', floatOnly), variant(8, 'dot_float'));
    assert.deepEqual(defaultGemvVariant(151936, 896, 'q8g32', withDots), variant(8, 'dot_float'));
    for (const scheme of ['q4g32', 'q8g32', 'q4g32m', 'f16']) {
      for (const features of [withDots, floatOnly]) {
        for (const [rows, cols] of [[64, 64], [8192, 64], [4096, 4096], [64, 8192], [8192, 8192]]) {
          const variant = defaultGemvVariant(rows, cols, scheme, features);
          assert.ok(gemvVariants(scheme, features).some((v) => same(v, variant)), `${scheme} ${rows}x${cols}`);
        }
      }
    }
  });

  test('the split attention: 1, 2 or 4 query heads of a KV group per workgroup at most, as even as can be, values loaded early or not', () => {
    const queries = (group) => attentionVariants(group).filter(({ early }) => early === 0).map(({ queries: q }) => q);
    assert.deepEqual(queries(7), [1, 2, 4]);  // 7 heads: 7 parts of 1, 4 of at most 2 (2, 2, 2, 1), 2 of at most 4 (4, 3)
    assert.deepEqual(queries(6), [1, 2, 3]);  // at most 4: two parts of 3
    assert.deepEqual(queries(2), [1, 2]);
    assert.deepEqual(queries(1), [1]);
    assert.equal(queriesPerWorkgroup(14, 4), 4);
    // each with EARLY_VALUES values early as well
    assert.deepEqual(attentionVariants(2).map(attentionVariantName), ['1 query head a workgroup', '2 query heads a workgroup',
      `1 query head a workgroup, ${EARLY_VALUES} values early`, `2 query heads a workgroup, ${EARLY_VALUES} values early`]);
    // the default: at most 1 for head_dim 64 and less, else at most 2; values early
    assert.deepEqual(defaultAttentionVariant(7, 64), { queries: 1, early: EARLY_VALUES });
    assert.deepEqual(defaultAttentionVariant(7, 128), { queries: 2, early: EARLY_VALUES });
    assert.deepEqual(defaultAttentionVariant(1, 128), { queries: 1, early: EARLY_VALUES });
  });

  test('the loadModel option: off by default in Node, where nothing keeps the choice', async () => {
    const gpu = { fallbackAdapter: false };
    assert.equal(tuningSettings(undefined, gpu), null);
    assert.equal(tuningSettings(false, gpu), null);
    const spaces = { gemv: gemvVariants, attention: attentionVariants, gemm: gemmVariants };
    assert.deepEqual(tuningSettings(true, gpu), { store: null, budgetMs: TUNING_BUDGET_MS, spaces });
    const store = new Map();
    assert.deepEqual(tuningSettings({ store, budgetMs: 5 }, gpu), { store, budgetMs: 5, spaces });
    const gemv = () => [];
    assert.deepEqual(tuningSettings({ spaces: { gemv } }, gpu).spaces, { gemv, attention: attentionVariants, gemm: gemmVariants });
  });
});

describe('timed passes compared with the default beside them', () => {
  // a GPU speeding up through a search (its clocks rising: 3x over it here), as an H200 did: the
  // default takes 40 us per run at full speed, 'slower' 44 (x1.1), 'faster' 36 (x0.9)
  const speed = [3.0, 2.6, 2.2, 1.8, 1.4, 1.2, 1.1, 1.0, 1.0];
  const order = ['default', 'slower', 'default', 'faster', 'default', 'slower', 'default', 'faster', 'default'];
  const perRun = { default: 40, slower: 44, faster: 36 };
  const passes = order.map((name, i) => ({ name, us: perRun[name] * speed[i] }));

  test('a candidate is timed as the default beside it, whatever the clocks did between', () => {
    const times = comparedWithDefault(passes, 'default');
    assert.equal(times.default, 40);  // its fastest pass
    assert.ok(times.slower / times.default > 1.05 && times.slower / times.default < 1.15, JSON.stringify(times));
    assert.ok(times.faster / times.default > 0.85 && times.faster / times.default < 0.95, JSON.stringify(times));
  });

  test('a pass without the default on both sides, or no default at all, is left out', () => {
    assert.deepEqual(Object.keys(comparedWithDefault([...passes, { name: 'late', us: 1 }], 'default')).sort(),
      ['default', 'faster', 'slower']);
    assert.deepEqual(comparedWithDefault([{ name: 'alone', us: 5 }], 'default'), {});
  });
});

describe(`kernel tuning at load on ${ADAPTER}`, () => {
  const llama = fixture('tiny-llama');
  const load = (options) => loadFixture(loadModel, llama, { maxContext: MAX_CONTEXT, f16: false, ...options });
  // The distinct GEMV shapes of tiny-llama (kernel, scheme, rows x K): QKV, output, gate/up, down,
  // LM head (this CPU adapter's prefill matmul, gemm.wgsl, has one variant: nothing to tune).
  const SHAPES = ['gemv q4g32 128x64', 'gemv q4g32 64x64', 'gemv q4g32 256x64', 'gemv q4g32 64x128', 'gemv q4g32 384x64'];
  // A smaller space than the real one (whose every variant kernels.test.js checks), the first and
  // last of those with tiny-llama's defaults' dispatches (4 rows on floats, its default; 16 on
  // integer dots quantised in the GEMV where the device has them):
  // CPU adapters compile a GEMV pipeline in about 0.1 s, and these tests are about the tuner.
  const twoVariants = (scheme, features) => {
    const candidates = gemvVariants(scheme, features).filter(({ dot }) => !GEMV_DOTS[dot].quantised);
    return [candidates[0], candidates.at(-1)];
  };
  // the GEMV spaces alone (GPUs' prefill matmul, gemm_tiled.wgsl, has variants to tune too)
  const gemvOnly = (gemv) => ({ gemv, attention: () => [], gemm: () => [] });
  const store = recordingStore();
  let untuned;
  before(async () => {
    untuned = await load({ tune: false });
  });
  after(() => untuned?.destroy());

  test('tunes every distinct GEMV shape once, keeps the fastest, stores it; a later load takes the stored choice', async () => {
    const progress = [];
    const model = await load({ tune: { store, budgetMs: BUDGET_MS, spaces: gemvOnly(twoVariants) },
      onProgress: (report) => progress.push(report) });
    try {
      const { tuning } = model;
      assert.equal(tuning.cached, false);
      assert.deepEqual(tuning.shapes.map((shape) => shape.key).sort(), [...SHAPES].sort());
      const names = twoVariants('q4g32', model.gpu.features).map(gemvVariantName);
      for (const shape of tuning.shapes) {
        assert.ok(Object.keys(shape.us).every((name) => names.includes(name)), shape.key);
        const fastest = Math.min(...Object.values(shape.us));
        assert.ok(shape.us[shape.chosen] === fastest || shape.chosen === shape.default, shape.key);
      }
      // (a CPU adapter on a busy machine may stall a pass past its shape's share of the budget)
      assert.ok(tuning.shapes.filter((shape) => Object.keys(shape.us).length === names.length).length >= 3,
        'most shapes timed every candidate');
      assert.ok(tuning.ms < BUDGET_MS, `${tuning.ms} ms`);
      const stages = progress.filter((report) => report.stage === 'tuning');
      assert.deepEqual(stages.map(({ loaded, total }) => [loaded, total]), [0, 1, 2, 3, 4, 5].map((done) => [done, 5]));
      assert.equal(progress.at(-1).stage, 'tuning');
      assert.deepEqual(store.asked.map(([what]) => what), ['get', 'set']);
      assert.equal(store.size, 1);
      const [record] = store.values();
      assert.deepEqual(record, Object.fromEntries(tuning.shapes.map(({ key, chosen }) => [key, chosen])));
    } finally {
      await model.destroy();
    }

    // a later load: the record, changed as a search on another device might have chosen (every
    // shape the variant other than its default), is used without timing, and decodes the untuned
    // load's tokens
    const [[key, record]] = store.entries();
    const space = twoVariants('q4g32', untuned.gpu.features);
    for (const shape of SHAPES) record[shape] = gemvVariantName(space[1]);
    const later = await load({ tune: { store, budgetMs: BUDGET_MS, spaces: gemvOnly(twoVariants) } });
    try {
      assert.equal(later.tuning.cached, true);
      assert.deepEqual(store.asked.slice(2), [['get', key]]);  // the same key; read, not searched again nor written
      assert.ok(later.tuning.shapes.every((shape) => Object.keys(shape.us).length === 0), 'nothing timed');
      assert.deepEqual(Object.fromEntries(later.tuning.shapes.map(({ key: shape, chosen }) => [shape, chosen])), record);
      const ids = await greedy(later, llama.prompt_ids, llama.greedy_ids.length);
      assert.deepEqual(ids, await greedy(untuned, llama.prompt_ids, llama.greedy_ids.length));
      assert.deepEqual(ids, llama.greedy_ids);
    } finally {
      await later.destroy();
    }
  });

  // the prefill matmul's tiles (gemm_tiled.wgsl, GPUs' default; this adapter runs it too), timed
  // on chunks of GEMM_SHORT_ROWS rows and on whole chunks (here 32 rows more: a CPU adapter runs
  // gemm_tiled's barriers slowly); the GEMV space left empty, so that only GEMM shapes are
  // searched, and the GEMM's the first and last variant this device runs (its default and another)
  test('tunes the prefill matmul\'s tiles per GEMM shape and chunk length; stored choices of other tiles prefill the same', async () => {
    const prefillChunk = GEMM_SHORT_ROWS + 32;
    const gemmShapes = SHAPES.slice(0, 4).flatMap((key) =>  // the LM head runs one row: no GEMM
      [GEMM_SHORT_ROWS, prefillChunk].map((tokens) => `${key.replace('gemv', 'gemm')}, ${tokens} tokens`));
    const twoTiles = (file, limits) => [gemmVariants(file, limits)[0], gemmVariants(file, limits).at(-1)];
    const spaces = { gemv: () => [], attention: () => [], gemm: twoTiles };
    const kept = recordingStore();
    const model = await load({ gemm: 'gemm_tiled', prefillChunk, tune: { store: kept, budgetMs: BUDGET_MS, spaces } });
    let names;
    try {
      names = twoTiles('gemm_tiled', model.gpu.limits).map(gemmVariantName);
      assert.notEqual(names[0], names[1], 'this device runs more than one of gemm_tiled\'s variants');
      const { tuning } = model;
      assert.deepEqual(tuning.shapes.map((shape) => shape.key).sort(), [...gemmShapes].sort());
      for (const shape of tuning.shapes) {
        assert.equal(shape.default, names[0], shape.key);
        assert.ok(Object.keys(shape.us).every((name) => names.includes(name)), shape.key);
        assert.ok(shape.us[shape.chosen] === Math.min(...Object.values(shape.us)) || shape.chosen === shape.default, shape.key);
      }
      assert.ok(tuning.shapes.some((shape) => Object.keys(shape.us).length === names.length), 'every variant was timed');
      assert.deepEqual(await greedy(model, llama.prompt_ids, llama.greedy_ids.length), llama.greedy_ids);
    } finally {
      await model.destroy();
    }
    // every shape stored as the last variant (not the default): a prompt of a whole chunk and a
    // short one (each chunk length's choice) prefills as the default tiles do
    const [[key, record]] = kept.entries();
    for (const shape of gemmShapes) record[shape] = names.at(-1);
    const prompt = Array.from({ length: prefillChunk + 40 }, (_, i) => llama.prompt_ids[i % llama.prompt_ids.length]);
    const later = await load({ gemm: 'gemm_tiled', prefillChunk, tune: { store: kept, budgetMs: BUDGET_MS, spaces } });
    const plain = await load({ gemm: 'gemm_tiled', prefillChunk, tune: false });
    try {
      assert.equal(later.tuning.cached, true);
      assert.deepEqual(kept.asked.at(-1), ['get', key]);
      assert.ok(later.tuning.shapes.every((shape) => shape.chosen === names.at(-1)), 'the stored tiles were taken');
      assert.deepEqual(await greedy(later, llama.prompt_ids, llama.greedy_ids.length), llama.greedy_ids);
      assert.deepEqual(await greedy(later, prompt, 4), await greedy(plain, prompt, 4));
    } finally {
      await Promise.all([later.destroy(), plain.destroy()]);
    }
  });

  // a decode step's attention split over the context, forced at short lengths (the GPUs' threshold
  // is 256 positions, all of tiny-llama's context here), timed at its whole context of 256
  // positions: 16 splits of 16; tiny-llama's KV groups of 2 query heads of 16: 1 (the default for
  // head_dim 64 and less) or 2 per workgroup, values loaded early or not
  test('tunes the split attention per head shape; a stored choice of another variant decodes the same', async () => {
    const attentionSplit = { threshold: 8, span: 16 };
    const spaces = { gemv: () => [], gemm: () => [] };
    const kept = recordingStore();
    const names = attentionVariants(2).map(attentionVariantName);
    const model = await load({ attentionSplit, tune: { store: kept, budgetMs: BUDGET_MS, spaces } });
    try {
      const { tuning } = model;
      assert.deepEqual(tuning.shapes.map((shape) => shape.key), ['attention 4/2 heads of 16']);
      const [shape] = tuning.shapes;
      assert.equal(shape.default, `1 query head a workgroup, ${EARLY_VALUES} values early`);
      assert.deepEqual(Object.keys(shape.us).sort(), [...names].sort());
      assert.ok(shape.us[shape.chosen] === Math.min(...Object.values(shape.us)) || shape.chosen === shape.default);
    } finally {
      await model.destroy();
    }
    const [[key, record]] = kept.entries();
    const other = '2 query heads a workgroup';
    record['attention 4/2 heads of 16'] = other;
    const later = await load({ attentionSplit, tune: { store: kept, budgetMs: BUDGET_MS, spaces } });
    try {
      assert.deepEqual(kept.asked.at(-1), ['get', key]);
      assert.equal(later.tuning.shapes[0].chosen, other);
      assert.deepEqual(await greedy(later, llama.prompt_ids, llama.greedy_ids.length), llama.greedy_ids);
    } finally {
      await later.destroy();
    }
  });

  test('a variant whose pipeline does not compile is skipped; wall-clock timing without timestamp queries', async () => {
    // the space has group dots whose "part" redeclares the input part's functions: its shader
    // fails to compile, for real, on every shape; the device has no 'timestamp-query'
    GEMV_DOTS.broken = { parts: ['in_plain'], runs: () => false };  // (no weights: the real space leaves it out)
    const broken = { rows: 4, dot: 'broken', subgroups: 1 };
    const space = (scheme, features) => [...twoVariants(scheme, features), broken];
    const plain = await requestDevice({ timestamps: false });
    const model = await load({ gpu: plain.device, tune: { store: null, budgetMs: BUDGET_MS, spaces: gemvOnly(space) } })
      .finally(() => delete GEMV_DOTS.broken);
    try {
      assert.equal(model.gpu.device.features.has('timestamp-query'), false);
      const names = twoVariants('q4g32', model.gpu.features).map(gemvVariantName);
      for (const shape of model.tuning.shapes) {
        assert.notEqual(shape.chosen, gemvVariantName(broken), shape.key);
        assert.ok(Object.keys(shape.us).every((name) => names.includes(name)), shape.key);
      }
      assert.ok(model.tuning.shapes.some((shape) => Object.keys(shape.us).length === names.length), 'the others were timed');
      assert.equal(model.gpu.error, null, 'the failed compiles left no error on the device');
      assert.deepEqual(await greedy(model, llama.prompt_ids, 8), llama.greedy_ids.slice(0, 8));
    } finally {
      await model.destroy();
      plain.destroy();
    }
  });

  // a budget that ends before the pipelines compile: nothing is timed, so nothing is kept, and the
  // next load searches every shape (and keeps them)
  test('the search ends at its budget: what was not timed keeps its default and is searched again at the next load', async () => {
    const budgetMs = 100;
    const kept = recordingStore();
    const model = await load({ tune: { store: kept, budgetMs, spaces: gemvOnly(twoVariants) } });
    try {
      for (const shape of model.tuning.shapes) {
        if (Object.keys(shape.us).length < 2) assert.deepEqual(shape.chosen, shape.default, shape.key);
      }
      assert.equal(model.tuning.shapes.length, SHAPES.length);
      const timed = model.tuning.shapes.filter((shape) => Object.keys(shape.us).length === 2).map((shape) => shape.key);
      // what was searched, not how long it took (the machine's load sets that: 597 ms once for a
      // budget of 100 on a busy CI machine): a search that ignored its budget would time every shape
      assert.ok(timed.length < SHAPES.length, `every shape timed within ${budgetMs} ms: ${timed.join(', ')}`);
      const stored = kept.size ? Object.keys([...kept.values()][0]) : [];
      assert.deepEqual(stored.sort(), timed.sort(), 'the store holds the shapes timed to the end, and only those');
    } finally {
      await model.destroy();
    }
    const next = await load({ tune: { store: kept, budgetMs: BUDGET_MS, spaces: gemvOnly(twoVariants) } });
    try {
      assert.equal(next.tuning.cached, false);
      const [record] = kept.values();
      assert.deepEqual(Object.keys(record).sort(), [...SHAPES].sort());
      for (const shape of next.tuning.shapes) assert.deepEqual(record[shape.key], shape.chosen, shape.key);
    } finally {
      await next.destroy();
    }
  });

  // the tuner times the GPU alone: a variant that quantises its input in a dispatch of its own
  // costs the host one more encoding and submit per step, which it cannot see
  test('a variant with a dispatch more per step than the default is no candidate', async () => {
    // 4 rows in one subgroup on each group-dot part: floats (tiny-llama's default), and where the device has integer
    // dots, int16 quantised in the GEMV (a candidate) and before it (none)
    const space = (scheme, features) => gemvVariants(scheme, features).filter(({ rows, subgroups }) => rows === 4 && subgroups === 1);
    const model = await load({ tune: { store: null, budgetMs: BUDGET_MS, spaces: gemvOnly(space) } });
    try {
      const candidates = space('q4g32', model.gpu.features).filter(({ dot }) => !GEMV_DOTS[dot].quantised);
      assert.ok(candidates.length < space('q4g32', model.gpu.features).length, 'the space has a quantised variant');
      const names = candidates.map(gemvVariantName);
      for (const shape of model.tuning.shapes) {
        assert.ok(names.includes(shape.default), shape.key);  // tiny-llama's defaults: none quantised before
        assert.ok(Object.keys(shape.us).every((name) => names.includes(name)), `${shape.key}: ${Object.keys(shape.us)}`);
      }
      // (a CPU adapter on a busy machine may stall a pass past its shape's share of the budget)
      assert.ok(model.tuning.shapes.some((shape) => Object.keys(shape.us).length === names.length), 'the candidates were timed');
    } finally {
      await model.destroy();
    }
  });

  // fewer is no loss: the host saves a dispatch too
  test('where the default quantises its input first, the variants reading it as it is are candidates', async (t) => {
    const space = (scheme, features) => gemvVariants(scheme, features).filter(({ rows, subgroups }) => rows === 4 && subgroups === 1);
    const quantised = { rows: 4, dot: 'dot_q4g32_int16_quantised', subgroups: 1 };
    const model = await load({ gemv: quantised, tune: { store: null, budgetMs: BUDGET_MS, spaces: gemvOnly(space) } });
    try {
      if (!GEMV_DOTS[quantised.dot].runs('q4g32', model.gpu.features)) return t.skip('no packed integer dot products here');
      const names = space('q4g32', model.gpu.features).map(gemvVariantName);
      assert.equal(names.length, 3, names.join('; '));
      for (const shape of model.tuning.shapes) {
        assert.equal(shape.default, gemvVariantName(quantised), shape.key);
        assert.ok(Object.keys(shape.us).every((name) => names.includes(name)), `${shape.key}: ${Object.keys(shape.us)}`);
      }
      // every variant, the one-dispatch ones among them, was timed for some shape
      assert.ok(model.tuning.shapes.some((shape) => Object.keys(shape.us).length === names.length),
        JSON.stringify(model.tuning.shapes.map((shape) => shape.us)));
    } finally {
      await model.destroy();
    }
  });

  // ... unless the input's producer stores the int16 groups itself: a decode step's attention.wgsl
  // (asked for here; GPUs' own) for the output projection, where each head holds whole groups of 32
  // (tiny-qwen3: head_dim 32; its output projection 64 x 128, a shape of its own as such)
  test('the output projection reading the attention\'s int16 groups has its quantised variant among the candidates', async () => {
    const space = (scheme, features) => gemvVariants(scheme, features).filter(({ rows, subgroups }) => rows === 4 && subgroups === 1);
    const model = await loadFixture(loadModel, fixture('tiny-qwen3'), { maxContext: MAX_CONTEXT, f16: false, attention: 'attention',
      tune: { store: null, budgetMs: BUDGET_MS, spaces: gemvOnly(space) } });
    try {
      const quantised = gemvVariantName({ rows: 4, dot: 'dot_q4g32_int16_quantised', subgroups: 1 });
      const timed = Object.fromEntries(model.tuning.shapes.map((shape) => [shape.key, Object.keys(shape.us)]));
      assert.ok(timed['gemv q4g32 64x128, int16 input']?.includes(quantised), JSON.stringify(timed));
      for (const [key, names] of Object.entries(timed)) {
        if (key !== 'gemv q4g32 64x128, int16 input') assert.ok(!names.includes(quantised), `${key}: ${names}`);
      }
    } finally {
      await model.destroy();
    }
  });
});

// A TuningStore that is a Map, remembering what was asked of it ([['get' | 'set', key]]).
function recordingStore() {
  const store = new Map();
  store.asked = [];
  const [get, set] = [store.get, store.set];
  store.get = (key) => { store.asked.push(['get', key]); return get.call(store, key); };
  store.set = (key, value) => { store.asked.push(['set', key]); return set.call(store, key, value); };
  return store;
}
