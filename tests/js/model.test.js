// The whole model on the adapter's own numeric path (f16 where it has shader-f16, f32 otherwise),
// against the numpy reference's outputs in build/js-fixtures (make them with
// `.venv/bin/python tests/js/fixtures/make_model_fixtures.py`).
//
// f32 path: the 32 greedy tokens must match token for token; logits within 1e-3 (the fixture
// rounds them to 5 decimals, and the GPU sums in another order than numpy: measured <= 4e-5).
// f16 path: activations and the KV cache are stored in f16 (11-bit mantissa, 2^-11 relative per
// rounding). Every layer rounds its normalised input, attention output and FFN hidden state, so the
// errors add up over the layers to about 1% of the logits' scale (measured: 0.8-2.9% of their RMS
// at the largest logit difference, SmolLM2's 30 layers the most). Logits must be within 5% of
// their RMS, and the first 8 greedy tokens must match (on lavapipe all 32 do); close calls between
// two tokens may legitimately flip later.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from 'webgpu';
import { ADAPTER } from './helpers/gpu.js';
import { fixture, loadFixture, modelFiles } from './helpers/model_files.js';
import { greedy, maskOf, maxDifference, rms } from './helpers/decoding.js';
import { ATTENTIONS, loadModel } from '../../runtime/webgpu/model.js';
import { GEMMS, GEMV_DOTS } from '../../runtime/webgpu/tuning.js';
import { requestDevice } from '../../runtime/webgpu/device.js';
import { ModelFiles } from '../../runtime/model_cache.js';
import { Tokenizer } from '../../runtime/tokenizer.js';
import { readBytes, resolveUrl } from '../../runtime/io.js';
import {
  ContextWindowExceededError, DeviceLostError, IntegrityError, ModelNotLoadedError, UnsupportedModelError,
  WebGPUNotAvailableError,
} from '../../runtime/errors.js';

const MAX_CONTEXT = 512;
const dawn = create([]); // an adapter of our own, for devices with chosen limits; referenced for the whole run, as npm webgpu requires
const load = (expected, options) => loadFixture(loadModel, expected, options);

// The token greedy decoding picks from `logits` among `allowed`: the largest, the first of ties.
function bestOf(logits, allowed) {
  return allowed.reduce((best, token) => (logits[token] > logits[best] ? token : best));
}

// tiny-limit-low and -high sit at the edges of kernels/limits.json (head_dim 16 and 256);
// tiny-qwen3 runs the qk_norm feature, with head_dim 32 apart from hidden / heads (16); tiny-gemma3
// Gemma 3's features (sliding layers of window 8 with their own RoPE base between global ones,
// sandwich norms, GeGLU, √hidden embeddings, query_pre_attn_scalar), its prompt and greedy tokens
// running far past the window; tiny-gemma2 Gemma 2's soft-capped attention scores and final logits
// (out_store.wgsl's SOFTCAP), with every other layer sliding; tiny-phi3 and tiny-phi4-mini fused
// qkv_proj / gate_up_proj and LongRoPE, its long factors (the KV cache past the original context)
// and its short ones, the latter with partial rotary (ROTARY_DIM 24 of 32); tiny-phi3-head24 a head size
// that is not a power of two (24, as Phi-3.5-mini's 96) with grouped KV heads, its prompt of ~85
// tokens spanning two attention tiles of the CPU adapters' 64 positions; tiny-gguf-q8_0 and
// tiny-gguf-q4_1 the q8g32 and q4g32m weight parts (a GGUF's blocks kept), smollm2 both at once.
for (const name of ['tiny-llama', 'tiny-qwen2', 'tiny-qwen3', 'tiny-gemma2', 'tiny-gemma3', 'tiny-phi3',
  'tiny-phi4-mini', 'tiny-phi3-head24', 'smollm2', 'tiny-limit-low', 'tiny-limit-high', 'tiny-gguf-q8_0', 'tiny-gguf-q4_1']) {
  describe(`${name} on ${ADAPTER}`, () => {
    const expected = fixture(name);
    let model;
    before(async () => {
      model = await load(expected, { maxContext: MAX_CONTEXT });
    });
    after(() => model?.destroy());

    test('prefill logits match the reference', async () => {
      model.truncate(0);
      await model.prefill(expected.prompt_ids);
      const logits = await model.logits();
      const tolerance = model.features.f16 ? 0.05 * rms(expected.last_logits) : 1e-3;
      const difference = maxDifference(logits, expected.last_logits);
      assert.ok(difference <= tolerance, `${model.features.f16 ? 'f16' : 'f32'} path: max |Δlogit| ${difference} > ${tolerance}`);
    });

    // where the device binds 9 storage buffers or more (lavapipe and SwiftShader in Dawn: 16 and 12)
    test('RoPE and the cache append run in the QKV matmul\'s epilogue, or after it where q and k are normalised per head', () => {
      assert.equal(model.ropeInEpilogue, !model.manifest.architecture.qk_norm);
    });

    test('greedy decoding matches the reference', async () => {
      const ids = await greedy(model, expected.prompt_ids, expected.greedy_ids.length);
      if (model.features.f16) assert.deepEqual(ids.slice(0, 8), expected.greedy_ids.slice(0, 8));
      else assert.deepEqual(ids, expected.greedy_ids);
      if (name === 'smollm2') {
        const tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(new URL('tokenizer.json', expected.url), 'utf8')));
        assert.match(tokenizer.decode(ids), /Paris/);
      }
    });
  });
}

describe(`model behaviour on ${ADAPTER}`, () => {
  const llama = fixture('tiny-llama');
  let model;
  before(async () => {
    model = await load(llama, { maxContext: MAX_CONTEXT });
  });
  after(() => model?.destroy());

  test('it says which backend runs it', () => {
    assert.equal(model.backend, 'webgpu');
  });

  test('the numeric path follows the adapter', () => {
    const f16 = model.gpu.device.features.has('shader-f16');
    assert.equal(model.features.f16, f16);
    assert.equal(typeof model.features.subgroups, 'boolean');
  });

  test('a prompt run in pieces and chunks equals one run; decode and prefill kernels agree', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => (i * 37 + 11) % model.vocabSize); // 2 prefill chunks
    // the adapter's default: 128 on CPU adapters (those whose default matmul is gemm.wgsl), 512 on GPUs
    assert.equal(model.prefillChunk, model.gemm === 'gemm' ? 128 : 512);
    model.truncate(0);
    await model.prefill(ids);
    const whole = await model.logits();
    model.truncate(0);
    await model.prefill(ids.slice(0, 180));
    await model.prefill(ids.slice(180, 249));
    await model.step(ids[249], { temperature: 0 }); // the last token through the decode kernels
    assert.equal(model.length, 250);
    const pieces = await model.logits();
    assert.ok(maxDifference(pieces, whole) < (model.features.f16 ? 0.05 * rms(whole) : 1e-3));
  });

  test('prefillChunk sets the rows per prefill submit; a bad one is refused naming it', async () => {
    const ids = Array.from({ length: 250 }, (_, i) => (i * 37 + 11) % model.vocabSize);
    model.truncate(0);
    await model.prefill(ids);
    const ours = await model.logits();
    const other = await load(llama, { maxContext: MAX_CONTEXT, prefillChunk: 100 });  // 3 chunks, the last a part
    try {
      assert.equal(other.prefillChunk, 100);
      const reports = [];
      await other.prefill(ids, { onProgress: (done) => reports.push(done) });
      assert.deepEqual(reports, [100, 200, 250]);
      assert.ok(maxDifference(await other.logits(), ours) < (model.features.f16 ? 0.05 * rms(ours) : 1e-3));
    } finally {
      other.destroy();
    }
    for (const bad of [0, 2.5, '128']) {
      await assert.rejects(load(llama, { prefillChunk: bad }), /prefillChunk .* is not a positive whole number of rows/);
    }
  });

  // the prefill matmul's kernels and a chunk's attention kernels: the adapter's default and the other
  for (const [option, choices] of [['gemm', Object.keys(GEMMS)], ['attention', ATTENTIONS]]) {
    test(`both ${option} kernels give the same logits`, async () => {
      const ids = Array.from({ length: 250 }, (_, i) => (i * 37 + 11) % model.vocabSize); // 2 chunks of 2+ token blocks
      model.truncate(0);
      await model.prefill(ids);
      const ours = await model.logits();
      const other = await load(llama, { maxContext: MAX_CONTEXT, [option]: choices.find((file) => file !== model[option]) });
      try {
        await other.prefill(ids);
        assert.ok(maxDifference(await other.logits(), ours) < (model.features.f16 ? 0.05 * rms(ours) : 1e-3));
        if (option === 'attention') {
          // decode steps too (attention.wgsl's own: its values loaded early): the reference greedy tokens
          other.truncate(0);
          const greedyIds = await greedy(other, llama.prompt_ids, llama.greedy_ids.length);
          const checked = model.features.f16 ? 8 : llama.greedy_ids.length;
          assert.deepEqual(greedyIds.slice(0, checked), llama.greedy_ids.slice(0, checked));
        }
      } finally {
        other.destroy();
      }
      await assert.rejects(load(llama, { [option]: 'fast' }), new RegExp(`${option} 'fast' is none of ${choices.join(', ')}`));
    });
  }

  // every group-dot part of the decode GEMV (tuning.js GEMV_DOTS; the defaults run only some of them
  // on the tiny models' shapes) through the whole model: the reference's greedy tokens
  test('each GEMV group-dot part decodes the reference greedy tokens', async () => {
    const dots = Object.keys(GEMV_DOTS).filter((dot) => GEMV_DOTS[dot].runs('q4g32', model.features));
    assert.ok(dots.includes('dot_q4g32_int16_quantised'), 'Dawn has integer dot products: the quantised GEMV is tested');
    for (const dot of dots) {
      const other = await load(llama, { maxContext: MAX_CONTEXT, gemv: { rows: 4, dot, subgroups: 1 } });
      try {
        const ids = await greedy(other, llama.prompt_ids, llama.greedy_ids.length);
        if (model.features.f16) assert.deepEqual(ids.slice(0, 8), llama.greedy_ids.slice(0, 8), dot);
        else assert.deepEqual(ids, llama.greedy_ids, dot);
      } finally {
        other.destroy();
      }
    }
    for (const bad of [{ rows: 4, dot: 'dot_fast', subgroups: 1 }, { rows: 5, dot: 'dot_float', subgroups: 1 }, { rows: 4, dot: 'dot_float' }, 'dot_float']) {
      await assert.rejects(load(llama, { gemv: bad }), /gemv .* is not a GEMV variant/);
    }
  });

  // A decode step's attention storing its output as the int16 groups its output projection's GEMV
  // reads (kernels/attention_out_int16.wgsl): where that GEMV's dots read their activations
  // quantised and decode steps run attention.wgsl (GPUs; asked for here), no quantising dispatch
  // runs before it. tiny-qwen3: head_dim 32; the step's pipelines counted by their labels; the
  // step after the reference tokens splits its attention (kernels.test.js has both ends alone).
  test('a decode step\'s attention stores the output projection\'s int16 groups: no quantising dispatch, the reference greedy tokens', async () => {
    const expected = fixture('tiny-qwen3');
    const other = await load(expected, { maxContext: MAX_CONTEXT, attention: 'attention',
      gemv: { rows: 4, dot: 'dot_q4g32_int16_quantised', subgroups: 1 } });
    const layers = other.manifest.architecture.num_layers;
    const { setPipeline } = GPUComputePassEncoder.prototype;
    const labels = [];
    try {
      const ids = await greedy(other, expected.prompt_ids, expected.greedy_ids.length);
      assert.deepEqual(ids.slice(0, other.features.f16 ? 8 : ids.length), expected.greedy_ids.slice(0, other.features.f16 ? 8 : ids.length));
      GPUComputePassEncoder.prototype.setPipeline = function (pipeline) {
        labels.push(pipeline.label);
        return setPipeline.call(this, pipeline);
      };
      await other.step(ids.at(-1), { temperature: 0 });
    } finally {
      GPUComputePassEncoder.prototype.setPipeline = setPipeline;
      other.destroy();
    }
    const count = (label) => labels.filter((name) => name === label).length;
    // unsplit, or past the split's threshold (one tile: 64 positions on CPU adapters) its merge
    const ends = count('act_int16+attention_out_int16+attention') + count('act_int16+attention_out_int16+attention_combine');
    assert.equal(ends, layers, labels.join(', '));
    // the down projection's input (the FFN's hidden) is still quantised by a dispatch of its own
    assert.equal(count('act_int16+in_plain+act_int16_write'), layers, labels.join(', '));
  });

  // WebGPU's default storage-buffer limit, 8, holds out_rope_kv's QKV matmul with q4g32 weights (8
  // storage buffers) but not with a QKV bias as well (tiny-qwen2's: 9), which runs rope_kv after it
  test('on a device of 8 storage buffers per kernel, RoPE runs in the QKV epilogue unless it has a bias: the reference greedy tokens', async () => {
    const adapter = await dawn.requestAdapter();
    const device = await adapter.requestDevice({
      requiredFeatures: ['shader-f16', 'subgroups'].filter((feature) => adapter.features.has(feature)) });
    try {
      assert.equal(device.limits.maxStorageBuffersPerShaderStage, 8);
      for (const [name, inEpilogue] of [['tiny-qwen2', false], ['tiny-llama', true]]) {
        const expected = fixture(name);
        const other = await load(expected, { maxContext: MAX_CONTEXT, gpu: device });
        try {
          assert.equal(other.ropeInEpilogue, inEpilogue, name);
          const ids = await greedy(other, expected.prompt_ids, expected.greedy_ids.length);
          if (other.features.f16) assert.deepEqual(ids.slice(0, 8), expected.greedy_ids.slice(0, 8), name);
          else assert.deepEqual(ids, expected.greedy_ids, name);
        } finally {
          await other.destroy();
        }
      }
    } finally {
      device.destroy();
    }
  });

  test('truncate keeps a prefix of the cache', async () => {
    const first = await greedy(model, llama.prompt_ids, 6);
    model.truncate(llama.prompt_ids.length - 3);
    await model.prefill(llama.prompt_ids.slice(-3));
    model.resetPenalties(llama.prompt_ids);
    assert.equal((await model.sample({ temperature: 0 })).token, first[0]);
    assert.throws(() => model.truncate(model.length + 1), RangeError);
  });

  test('sampling options: seeded draws repeat, top_k 1 is greedy, logprobs come back', async () => {
    const draw = async (opts) => {
      model.truncate(0);
      await model.prefill(llama.prompt_ids);
      model.resetPenalties(llama.prompt_ids);
      const ids = [];
      let result = await model.sample({ ...opts, random: 0.25 });
      for (let i = 0; i < 8; i++) {
        ids.push(result.token);
        result = await model.step(result.token, { ...opts, random: (0.37 * (i + 1)) % 1 });
      }
      return { ids, result };
    };
    const options = { temperature: 0.8, topP: 0.9, topK: 40, frequencyPenalty: 0.3, presencePenalty: 0.2, repetitionPenalty: 1.1 };
    assert.deepEqual((await draw(options)).ids, (await draw(options)).ids);
    assert.deepEqual((await draw({ temperature: 1, topK: 1 })).ids, llama.greedy_ids.slice(0, 8));
    const { result } = await draw({ temperature: 0, logprobs: true, topLogprobs: 5 });
    assert.ok(result.logprob <= 0);
    assert.equal(result.topLogprobs.length, 5);
    assert.equal(result.topLogprobs[0].token, result.token);
    assert.ok(result.topLogprobs.every((entry, i) => i === 0 || entry.logprob <= result.topLogprobs[i - 1].logprob));
  });

  // The model at the end of the prompt, penalties reset to it.
  const atPrompt = async () => {
    model.truncate(0);
    await model.prefill(llama.prompt_ids);
    model.resetPenalties(llama.prompt_ids);
  };

  // `count` draws after the prompt by sample() then step(), the i-th under options(i, the token drawn before it).
  const stepped = async (count, options) => {
    await atPrompt();
    const draws = [await model.sample(options(0))];
    while (draws.length < count) draws.push(await model.step(draws.at(-1).token, options(draws.length, draws.at(-1).token)));
    return draws;
  };

  // The two ways to run a step ahead of its draw's readback (backend.js), each with the options it
  // is for and a run of `count` draws after the prompt that queues each step before the draw it
  // runs is read: stepAhead's options must not depend on that draw (seeded top-p/top-k draws with
  // penalties); forwardAhead's may (each draw's mask bans the token drawn before it, as a
  // grammar's mask depends on the last token).
  const maskAfter = (token) => {
    const mask = new Uint32Array(Math.ceil(model.vocabSize / 32)).fill(0xffffffff);
    mask[token >> 5] &= ~(1 << (token & 31));
    return mask;
  };
  const runsAhead = {
    stepAhead: {
      options: (i) => ({ temperature: 0.8, topP: 0.9, topK: 40, frequencyPenalty: 0.5, presencePenalty: 0.2,
                         repetitionPenalty: 1.1, random: (0.37 * (i + 1)) % 1, logprobs: true, topLogprobs: 2 }),
      async run(count, options) {
        await atPrompt();
        const draws = [model.sample(options(0)), model.stepAhead(options(1))];
        await assert.rejects(model.stepAhead(options(2)), /at most 2 draws may be in flight/);  // a third unread one
        const ahead = [];
        for (let i = 0; i < count; i++) {
          ahead.push(await draws[i]);
          if (i + 2 < count) draws[i + 2] = model.stepAhead(options(i + 2));
        }
        return ahead;
      },
    },
    forwardAhead: {
      options: (i, token) => ({ temperature: 0.8, topK: 40, frequencyPenalty: 0.5, random: (0.37 * (i + 1)) % 1,
                                logprobs: true, topLogprobs: 2, tokenMask: token === undefined ? null : maskAfter(token) }),
      async run(count, options) {
        await atPrompt();
        let draw = model.sample(options(0));
        const ahead = [];
        for (let i = 1; i < count; i++) {
          model.forwardAhead();
          assert.throws(() => model.forwardAhead(), /forwardAhead\(\) runs the last draw/);  // it ran that draw already
          ahead.push(await draw);
          draw = model.sample(options(i, ahead.at(-1).token));
        }
        ahead.push(await draw);
        return ahead;
      },
    },
  };
  for (const [name, { options, run }] of Object.entries(runsAhead)) {
    test(`${name}, queued before each draw is read, gives step()'s draws and cache`, async () => {
      const want = await stepped(10, options);
      assert.deepEqual(await run(10, options), want);
      assert.equal(model.length, llama.prompt_ids.length + 9);
    });
  }

  test('a stepAhead discarded leaves the cache and the penalties as before it', async () => {
    const { options } = runsAhead.stepAhead;
    const want = await stepped(6, options);
    const before = await stepped(5, options);
    model.discard(await model.stepAhead(options(5)));
    assert.equal(model.length, llama.prompt_ids.length + 4);
    assert.deepEqual(await model.step(before.at(-1).token, options(5)), want[5]);  // what it would have drawn without it
    await assert.rejects(async () => {
      await model.prefill([1]);
      return model.stepAhead(options(0));
    }, /stepAhead\(\) runs the last draw/);
  });

  test('a forwardAhead discarded (no draw to uncount) leaves the cache as before it', async () => {
    const { options } = runsAhead.forwardAhead;
    const want = await stepped(9, options);
    const before = await stepped(8, options);
    model.forwardAhead();
    model.discard(null);
    assert.equal(model.length, llama.prompt_ids.length + 7);
    assert.deepEqual(await model.step(before.at(-1).token, options(8, before.at(-1).token)), want[8]);
    await model.prefill([1]);
    assert.throws(() => model.forwardAhead(), /forwardAhead\(\) runs the last draw/);
  });

  test('logit bias and penalties steer the choice', async () => {
    model.truncate(0);
    await model.prefill(llama.prompt_ids);
    model.resetPenalties(llama.prompt_ids);
    assert.equal((await model.sample({ temperature: 0, logitBias: { 42: 100 } })).token, 42);
    // repeating 42 is now penalised hard enough to lose, without the bias
    const next = await model.step(42, { temperature: 0, frequencyPenalty: 100 });
    assert.notEqual(next.token, 42);
  });

  // Sampling settings are validated by runtime/request.js (tests/js/request.test.js); the backend
  // asserts only what would corrupt its buffers or leave nothing to sample.
  test('token ids out of range, bad token masks and a full context are refused', async () => {
    const words = Math.ceil(model.vocabSize / 32);
    model.truncate(0);
    await assert.rejects(model.prefill([1, model.vocabSize]), /token id 384 is not in 0\.\.383/);
    await assert.rejects(model.prefill([-1]), /token id -1/);
    await assert.rejects(model.step(model.vocabSize), /token id/);
    assert.equal(model.length, 0);
    assert.throws(() => model.resetPenalties([0.5]), /token id 0.5/);
    await assert.rejects(model.sample({ logitBias: { [model.vocabSize]: 1 } }), /token id/);
    await assert.rejects(model.sample({ tokenMask: new Uint32Array(words + 1).fill(~0) }), /Uint32Array of 12 words/);
    await assert.rejects(model.sample({ tokenMask: Array(words).fill(~0) }), /Uint32Array/);
    await assert.rejects(model.sample({ tokenMask: new Uint32Array(words) }), /allows none/);
    await assert.rejects(model.prefill(new Array(model.contextLength + 1).fill(1)), ContextWindowExceededError);
    assert.equal(model.length, 0);
  });

  test('a token mask bans and forces tokens in greedy and sampled draws, on the GPU', async () => {
    model.truncate(0);
    await model.prefill(llama.prompt_ids);
    model.resetPenalties(llama.prompt_ids);
    const logits = await model.logits();
    const everyToken = [...logits.keys()];
    const greedyToken = bestOf(logits, everyToken);
    const allBut = (banned) => maskOf(model.vocabSize, everyToken.filter((t) => !banned.includes(t)));
    // banning the greedy choice gives the best allowed one, whatever the banned token's bias
    const secondBest = bestOf(logits, everyToken.filter((t) => t !== greedyToken));
    assert.equal((await model.sample({ temperature: 0, tokenMask: allBut([greedyToken]) })).token, secondBest);
    assert.equal((await model.sample({ temperature: 0, tokenMask: allBut([greedyToken]),
      logitBias: { [greedyToken]: 100 } })).token, secondBest);
    // one allowed token is forced: greedy, drawn with top-k and top-p, and by step()
    const forced = 77;
    const only = maskOf(model.vocabSize, [forced]);
    assert.equal((await model.sample({ temperature: 0, tokenMask: only })).token, forced);
    for (const random of [0, 0.5, 0.999]) {
      const draw = await model.sample({ temperature: 0.8, topK: 40, topP: 0.9, random, tokenMask: only });
      assert.equal(draw.token, forced);
    }
    assert.equal((await model.step(greedyToken, { temperature: 1, random: 0.7, tokenMask: only })).token, forced);
    assert.equal((await model.step(forced, { temperature: 0, tokenMask: only })).token, forced);
  });

  test('logprobs under a token mask are those of the masked distribution', async () => {
    model.truncate(0);
    await model.prefill(llama.prompt_ids);
    model.resetPenalties(llama.prompt_ids);
    const logits = await model.logits();
    const allowed = [5, 77, 200, 383];
    const byLogit = [...allowed].sort((a, b) => logits[b] - logits[a] || a - b);
    const top = Math.max(...allowed.map((t) => logits[t]));
    const logTotal = top + Math.log(allowed.reduce((sum, t) => sum + Math.exp(logits[t] - top), 0));
    const result = await model.sample({ temperature: 0, logprobs: true, topLogprobs: 4,
      tokenMask: maskOf(model.vocabSize, allowed) });
    assert.equal(result.token, byLogit[0]);
    assert.ok(Math.abs(result.logprob - (logits[byLogit[0]] - logTotal)) < 1e-4);
    assert.deepEqual(result.topLogprobs.map((entry) => entry.token), byLogit);
    result.topLogprobs.forEach(({ token, logprob }) => assert.ok(Math.abs(logprob - (logits[token] - logTotal)) < 1e-4));
    // asking for more alternatives than the mask allows lists only the allowed ones
    const more = await model.sample({ temperature: 0, logprobs: true, topLogprobs: 10, tokenMask: maskOf(model.vocabSize, allowed) });
    assert.deepEqual(more.topLogprobs.map((entry) => entry.token), byLogit);
  });

  test('without a mask (or with one allowing every token) results are unchanged', async () => {
    const draws = async (tokenMask) => {
      model.truncate(0);
      await model.prefill(llama.prompt_ids);
      model.resetPenalties(llama.prompt_ids);
      const options = { temperature: 0.8, topK: 40, topP: 0.9, logprobs: true, topLogprobs: 3, tokenMask };
      const results = [await model.sample({ ...options, random: 0.3 })];
      for (let i = 0; i < 4; i++) results.push(await model.step(results.at(-1).token, { ...options, random: 0.2 * i }));
      return results;
    };
    const plain = await draws(undefined);
    assert.deepEqual(await draws(null), plain);
    assert.deepEqual(await draws(new Uint32Array(Math.ceil(model.vocabSize / 32)).fill(~0)), plain);
    // a masked call leaves no trace on the next unmasked one
    model.truncate(0);
    await model.prefill(llama.prompt_ids);
    await model.sample({ temperature: 0, tokenMask: maskOf(model.vocabSize, [77]) });
    assert.equal((await model.sample({ temperature: 0 })).token, llama.greedy_ids[0]);
  });

  test('50 generations in a row allocate no GPU memory', async () => {
    const generate = async (i) => {
      model.truncate(0);
      await model.prefill(llama.prompt_ids);
      model.resetPenalties(llama.prompt_ids);
      let result = await model.sample({ temperature: 0.7, random: (i * 0.13) % 1, logprobs: i % 2 === 1, topLogprobs: i % 3 });
      for (let t = 0; t < 3; t++) {
        result = await model.step(result.token, { temperature: 0, logitBias: { [i]: 1 },
          tokenMask: t === 1 ? maskOf(model.vocabSize, [i, i + 1]) : null });
      }
      await model.logits();
    };
    await generate(0);
    const start = model.gpu.memory();
    for (let i = 1; i <= 50; i++) await generate(i);
    assert.deepEqual(model.gpu.memory(), start);
  });
});

// Decode attention split over the context (flash-decoding), forced at short lengths by a low
// threshold (loadModel's attentionSplit): the prompt runs unsplit (prefill), the first decode steps
// too, the later ones in splits of `span` positions. Greedy decoding must give the reference's
// tokens (all of them on the f32 path, the first 8 on the f16 path), and the same run ahead (each
// step queued before the last draw is read back, its splits chosen from its own position); the
// last step's logits must match those of the same tokens through the unsplit prefill kernel.
// tiny-gemma2: grouped-query heads, soft-capped scores, sliding layers (window 8, never split)
// between global ones; tiny-phi3-head24: head_dim 24, grouped-query heads.
describe(`attention split over the context on ${ADAPTER}`, () => {
  for (const [name, attentionSplit] of [['tiny-gemma2', { threshold: 30, span: 7 }],
    ['tiny-phi3-head24', { threshold: 100, span: 8 }]]) {
    test(`${name}: greedy decoding across a split threshold of ${attentionSplit.threshold} positions matches the reference`, async () => {
      const expected = fixture(name);
      const { prompt_ids: prompt, greedy_ids: reference } = expected;
      assert.ok(prompt.length < attentionSplit.threshold && attentionSplit.threshold < prompt.length + reference.length - 8,
        'the first decode steps run unsplit, 8 or more split');
      const model = await load(expected, { maxContext: MAX_CONTEXT, attentionSplit });
      try {
        const ids = await greedy(model, prompt, reference.length);
        if (model.features.f16) assert.deepEqual(ids.slice(0, 8), reference.slice(0, 8));
        else assert.deepEqual(ids, reference);
        const decoded = await model.logits();
        model.truncate(0);
        await model.prefill([...prompt, ...ids.slice(0, -1)]);
        const prefilled = await model.logits();
        assert.ok(maxDifference(decoded, prefilled) < (model.features.f16 ? 0.05 * rms(prefilled) : 1e-3));

        model.truncate(0);
        await model.prefill(prompt);
        model.resetPenalties(prompt);
        const ahead = [];
        let pending = model.sample({ temperature: 0 });
        while (ahead.length < reference.length - 1) {
          const next = model.stepAhead({ temperature: 0 });
          ahead.push((await pending).token);
          pending = next;
        }
        ahead.push((await pending).token);
        assert.deepEqual(ahead, ids);
      } finally {
        await model.destroy();
      }
    });
  }
});

describe(`row-block splitting on ${ADAPTER}`, () => {
  for (const name of ['tiny-qwen2', 'tiny-llama']) { // tied head (the embedding), separate lm_head
    test(`${name}: an LM head split into row blocks gives identical results`, async () => {
      const expected = fixture(name);
      const whole = await load(expected, { maxContext: 64 });
      // 8 KiB: the 12 KiB head splits, every other weight and the KV cache still fit
      const split = await load(expected, { maxContext: 64, maxBindingBytes: 8192 });
      try {
        assert.equal(whole.lmHeadBlocks, 1);
        assert.equal(split.lmHeadBlocks, 2);
        for (const model of [whole, split]) await model.prefill(expected.prompt_ids.slice(0, 20));
        assert.deepEqual(await split.logits(), await whole.logits());
        const [a, b] = [await whole.sample({ temperature: 0 }), await split.sample({ temperature: 0 })];
        assert.deepEqual(await split.step(b.token, { temperature: 0 }), await whole.step(a.token, { temperature: 0 }));
      } finally {
        await whole.destroy();
        await split.destroy();
      }
    });
  }

  test('destroy frees every buffer and ends the model; lost stays pending', async () => {
    const model = await load(fixture('tiny-qwen2'), { maxContext: 64 });
    assert.ok(model.gpu.memory().buffers > 0);
    await model.destroy();
    assert.deepEqual(model.gpu.memory(), { buffers: 0, bytes: 0 });
    await assert.rejects(model.prefill([1]), ModelNotLoadedError);
    const later = new Promise((resolve) => { setTimeout(resolve, 200, 'pending'); });
    assert.equal(await Promise.race([model.lost, later]), 'pending');
  });

  test('a lost device settles lost with DeviceLostError, and later calls reject with it', async () => {
    const model = await load(fixture('tiny-qwen2'), { maxContext: 64 });
    try {
      model.gpu.device.destroy(); // as a driver reset would
      const error = await model.lost;
      assert.ok(error instanceof DeviceLostError, String(error));
      await assert.rejects(model.prefill([1]), DeviceLostError);
    } finally {
      await model.destroy();
    }
  });
});

describe('loading failures', () => {
  test('a missing file is an error naming it', async () => {
    await assert.rejects(readBytes('/nonexistent/shard-00000.bin'), /nonexistent\/shard-00000\.bin: no such file/);
    assert.equal(resolveUrl('shard.bin', 'site/models/m/manifest.json'), 'site/models/m/shard.bin');
    assert.equal(resolveUrl('shard.bin', 'https://x.org/models/m/manifest.json'), 'https://x.org/models/m/shard.bin');
  });

  test('no adapter is WebGPUNotAvailableError', async () => {
    await assert.rejects(requestDevice({ gpu: { requestAdapter: async () => null } }), WebGPUNotAvailableError);
  });

  // Refusals that need no GPU, and none that need no shard: asked for, they fail the test.
  const noGpu = { requestAdapter: () => assert.fail('the GPU was asked for') };
  const noShards = () => assert.fail('a shard was read');
  const refused = (pattern) => (error) => error instanceof UnsupportedModelError && pattern.test(error.message);

  test('a manifest past kernels/limits.json is refused before any GPU work, naming every broken rule', async () => {
    const { manifest } = await modelFiles(fixture('tiny-llama').url);
    const past = (changes) => ({ ...manifest, architecture: { ...manifest.architecture, ...changes } });
    await assert.rejects(loadModel(past({ head_dim: 18, hidden_size: 72 }), { readShard: noShards, gpu: noGpu }),
      refused(/head_dim is 18, but the kernels need a multiple of 4 from 16 to 256; hidden_size is 72, but the kernels need a multiple of 32/));
    await assert.rejects(loadModel(past({ head_dim: 512 }), { readShard: noShards, gpu: noGpu }), refused(/head_dim is 512/));
    await assert.rejects(loadModel(past({ head_dim: 8 }), { readShard: noShards, gpu: noGpu }), refused(/head_dim is 8, but/));
    await assert.rejects(loadModel(past({ ffn_size: 100 }), { readShard: noShards, gpu: noGpu }), refused(/ffn_size is 100/));
    await assert.rejects(loadModel(past({ qk_norm: 'yes', hidden_activation: 'gelu' }),
      { readShard: noShards, gpu: noGpu }),
      refused(/qk_norm is "yes", but the kernels run only false or true; hidden_activation is "gelu", but the kernels run only "silu" or "gelu_pytorch_tanh"/));
    await assert.rejects(loadModel({ ...manifest, format_version: 1 }, { readShard: noShards, gpu: noGpu }),
      refused(/version 1; it reads sitegen-model version 3/));
  });

  test('a runtime tensor the forward pass needs but the manifest lacks, or one it does not use, is refused '
    + 'before any shard is read', async () => {
    const { manifest } = await modelFiles(fixture('tiny-qwen2').url);
    const lacking = manifest.runtime_tensors.filter((tensor) => tensor.name !== 'layers.1.qkv_bias');
    await assert.rejects(loadModel({ ...manifest, runtime_tensors: lacking }, { readShard: noShards }),
      refused(/no runtime tensor layers\.1\.qkv_bias/));
    const extra = { name: 'layers.0.q_norm', tensors: ['model.layers.0.input_layernorm.weight'], split: false };
    await assert.rejects(loadModel({ ...manifest, runtime_tensors: [...manifest.runtime_tensors, extra] },
      { readShard: noShards }), refused(/does not use the manifest's runtime tensors layers\.0\.q_norm/));
  });

  test('a shard that does not match its sha256 is IntegrityError naming it', async () => {
    const expected = fixture('tiny-qwen2');
    const manifestPath = fileURLToPath(expected.url);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const folder = mkdtempSync(join(tmpdir(), 'sitegen-'));
    try {
      manifest.shards = manifest.shards.map((shard) => ({ ...shard, file: join(manifestPath, '..', shard.file),
        sha256: '0'.repeat(64) }));
      writeFileSync(join(folder, 'manifest.json'), JSON.stringify(manifest));
      const files = new ModelFiles(join(folder, 'manifest.json'));
      await assert.rejects(loadModel(await files.manifest(), { readShard: (shard, onBytes) => files.shard(shard, onBytes) }),
        (error) => error instanceof IntegrityError && /shard-00000\.bin/.test(error.message));
    } finally {
      rmSync(folder, { recursive: true });
    }
  });
});
