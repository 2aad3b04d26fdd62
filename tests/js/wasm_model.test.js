// The WASM CPU backend's model (runtime/wasm/model.js) against the numpy reference's outputs in
// build/js-fixtures (make them with `.venv/bin/python tests/js/fixtures/make_model_fixtures.py`),
// and its sampler against direct computations from the logits. Plain Node: no GPU.
//
// The greedy tokens must match the reference's token for token (32 for the tiny models; SmolLM2's
// reference stops at its end-of-turn token, 7). The logits: the reference is f32 throughout; the
// CPU's matrix products round each token's activations to int16 per group of 32 first
// (runtime/wasm/matmul.c: at most 1/65534 of the group's largest value per element), an error
// compounded over every layer's four products: within 3e-3 of the logits' RMS (measured at most
// 1.4e-3 of it, tiny-phi3-head24; int8 activations, llama.cpp's, give 8e-2 and change tokens).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixture, loadFixture, modelFiles } from './helpers/model_files.js';
import { greedy, maskOf, maxDifference, rms } from './helpers/decoding.js';
import { recordWorkers } from './helpers/workers.js';
import { random as seeded } from './helpers/reference.js';
import { CPU_FEATURES, loadModel } from '../../runtime/wasm/model.js';
import { Sampler } from '../../runtime/wasm/sampler.js';
import { loadBackend } from '../../runtime/backend.js';
import { Tokenizer } from '../../runtime/tokenizer.js';
import {
  ContextWindowExceededError, DeviceLostError, ModelNotLoadedError, UnsupportedModelError, WebGPUNotAvailableError,
} from '../../runtime/errors.js';

const MAX_CONTEXT = 512;
const load = (expected, options) => loadFixture(loadModel, expected, options);

// log Σ exp over `tokens`' scores, in float64.
function logSumExp(scores, tokens) {
  const top = Math.max(...tokens.map((t) => scores[t]));
  return top + Math.log(tokens.reduce((sum, t) => sum + Math.exp(scores[t] - top), 0));
}

// The token a temperature draw picks, computed directly (float64, sorting): the top-k best scores
// and those tied with the k-th, then the fewest best scores reaching top_p of their softmax mass
// (ties kept), then the token whose interval, in id order, holds random * their mass.
function directDraw(scores, { temperature, topK = 0, topP = 1, random }) {
  let kept = [...scores.keys()].filter((t) => scores[t] > -Infinity).sort((a, b) => scores[b] - scores[a] || a - b);
  if (topK > 0 && topK < kept.length) kept = kept.filter((t) => scores[t] >= scores[kept[topK - 1]]);
  const top = scores[kept[0]];
  const weight = (t) => Math.exp((scores[t] - top) / temperature);
  if (topP < 1) {
    const goal = topP * kept.reduce((sum, t) => sum + weight(t), 0);
    let mass = 0;
    const last = kept.findIndex((t) => (mass += weight(t)) >= goal);
    kept = kept.filter((t) => scores[t] >= scores[kept[last]]);
  }
  kept.sort((a, b) => a - b);
  const goal = random * kept.reduce((sum, t) => sum + weight(t), 0);
  let mass = 0;
  return kept.find((t) => (mass += weight(t)) > goal);
}

// The same fixtures as tests/js/model.test.js (which says what each exercises): every architecture
// feature the GPU backend runs.
for (const name of ['tiny-llama', 'tiny-qwen2', 'tiny-qwen3', 'tiny-gemma2', 'tiny-gemma3', 'tiny-phi3',
  'tiny-phi4-mini', 'tiny-phi3-head24', 'smollm2', 'tiny-limit-low', 'tiny-limit-high', 'tiny-gguf-q8_0', 'tiny-gguf-q4_1']) {
  describe(`${name} on the WASM CPU backend`, () => {
    const expected = fixture(name);
    let model;
    before(async () => {
      model = await load(expected, { maxContext: MAX_CONTEXT });
    });
    after(() => model?.destroy());

    test('prefill logits match the reference', async () => {
      model.truncate(0);
      await model.prefill(expected.prompt_ids);
      const difference = maxDifference(await model.logits(), expected.last_logits);
      const tolerance = 3e-3 * rms(expected.last_logits);
      assert.ok(difference <= tolerance, `max |Δlogit| ${difference} > ${tolerance}`);
    });

    test('greedy decoding matches the reference token for token', async () => {
      assert.deepEqual(await greedy(model, expected.prompt_ids, expected.greedy_ids.length), expected.greedy_ids);
      if (name === 'smollm2') {
        const tokenizer = Tokenizer.fromJSON(JSON.parse(readFileSync(new URL('tokenizer.json', expected.url), 'utf8')));
        assert.match(tokenizer.decode(await greedy(model, expected.prompt_ids, 7)), /Paris/);
      }
    });
  });
}

describe('WASM model on two threads (worker_threads on one shared memory)', () => {
  for (const name of ['smollm2', 'tiny-gemma2', 'tiny-phi3-head24']) {
    test(`${name}: the same logits as one thread, bit for bit, and the reference's greedy tokens`, async () => {
      const expected = fixture(name);
      const [one, two] = [await load(expected, { maxContext: MAX_CONTEXT }),
        await load(expected, { maxContext: MAX_CONTEXT, threads: 2 })];
      try {
        assert.equal(two.threads, 2);
        await one.prefill(expected.prompt_ids);
        await two.prefill(expected.prompt_ids);
        assert.deepEqual(await two.logits(), await one.logits());  // rows and heads split, each summed alike
        assert.deepEqual(await greedy(two, expected.prompt_ids, expected.greedy_ids.length), expected.greedy_ids);
      } finally {
        await one.destroy();
        await two.destroy();
      }
    });
  }

  test('a worker thread that dies mid-prefill rejects it with DeviceLostError, settles lost and ends the model', async () => {
    const expected = fixture('tiny-llama');
    const recorder = recordWorkers();
    let model;
    try {
      model = await load(expected, { maxContext: MAX_CONTEXT, threads: 2 });
    } finally {
      recorder.restore();
    }
    const dead = (error) => error instanceof DeviceLostError && /CPU backend thread 1 stopped \(exit code 1\)/.test(error.message);
    try {
      assert.equal(recorder.workers.length, 1);
      const prefill = model.prefill(expected.prompt_ids);  // runs until its first wait: the first job
      recorder.workers[0].terminate();  // as a crash would end it
      await assert.rejects(prefill, dead);
      assert.ok(dead(await model.lost));  // what the engine reports (engine.js lost)
      await assert.rejects(model.step(1), dead);
      await assert.rejects(model.sample(), dead);
      assert.throws(() => model.resetPenalties([]), dead);
    } finally {
      await model.destroy();
    }
    await assert.rejects(model.prefill([1]), ModelNotLoadedError);
  });

  test('a thread count that is not a whole number >= 1 is refused', async () => {
    const expected = fixture('tiny-llama');
    await assert.rejects(load(expected, { threads: 0 }), /threads = 0: a whole number >= 1/);
    await assert.rejects(load(expected, { threads: 1.5 }), /threads = 1.5: a whole number >= 1/);
  });
});

test('the CPU sampler\'s top-p cut, which sorts only the best candidates, draws what sorting them all draws', () => {
  // logits of 5000 tokens: peaked (the cut within the first few), flat (most of them), and in
  // steps of ties (cuts that fall inside a run of equal scores)
  const rand = seeded(7);
  const V = 5000;
  const shapes = {
    peaked: Float32Array.from({ length: V }, (_, t) => (t === 17 ? 12 : 0) + 3 * rand()),
    flat: Float32Array.from({ length: V }, () => 0.5 * rand()),
    ties: Float32Array.from({ length: V }, () => Math.floor(8 * rand())),
    spread: Float32Array.from({ length: V }, () => 20 * rand() ** 3),
  };
  const sampler = new Sampler(V);
  for (const [shape, logits] of Object.entries(shapes)) {
    for (const options of [{ temperature: 1, topP: 0.9 }, { temperature: 0.3, topP: 0.5 }, { temperature: 2, topP: 0.99 },
      { temperature: 1, topK: 300, topP: 0.7 }]) {
      for (let i = 0; i < 25; i++) {
        const random = (i + 0.5) / 25;
        sampler.reset();
        assert.equal(sampler.sample(logits, { ...options, random }).token, directDraw(logits, { ...options, random }),
          `${shape} ${JSON.stringify(options)}, random ${random}`);
      }
    }
  }
});

describe('WASM model behaviour', () => {
  const llama = fixture('tiny-llama');
  let model;
  let logits;  // after the prompt
  before(async () => {
    model = await load(llama, { maxContext: MAX_CONTEXT });
    await model.prefill(llama.prompt_ids);
    logits = await model.logits();
  });
  after(() => model?.destroy());

  // The model at the end of the prompt, penalties reset to it.
  const atPrompt = async () => {
    model.truncate(0);
    await model.prefill(llama.prompt_ids);
    model.resetPenalties(llama.prompt_ids);
  };

  test('it says which backend runs it; lost stays pending', async () => {
    assert.equal(model.backend, 'wasm');
    assert.equal(model.contextLength, 256);  // tiny-llama's context_length, under maxContext's 512
    const later = new Promise((resolve) => { setTimeout(resolve, 50, 'pending'); });
    assert.equal(await Promise.race([model.lost, later]), 'pending');
  });

  test('a prompt run in pieces, the last token by step(), equals one run', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => (i * 37 + 11) % model.vocabSize);
    model.truncate(0);
    await model.prefill(ids);
    const whole = await model.logits();
    model.truncate(0);
    const reports = [];
    await model.prefill(ids.slice(0, 100), { onProgress: (done) => reports.push(done) });
    await model.prefill(ids.slice(100, 149));
    await model.step(ids[149], { temperature: 0 });
    assert.equal(model.length, 150);
    assert.deepEqual(await model.logits(), whole);
    assert.deepEqual(reports, [16, 32, 48, 64, 80, 96, 100]);
  });

  test('truncate keeps a prefix of the cache', async () => {
    const first = await greedy(model, llama.prompt_ids, 6);
    model.truncate(llama.prompt_ids.length - 3);
    await model.prefill(llama.prompt_ids.slice(-3));
    model.resetPenalties(llama.prompt_ids);
    assert.equal((await model.sample({ temperature: 0 })).token, first[0]);
    assert.throws(() => model.truncate(model.length + 1), RangeError);
  });

  test('top-k and top-p draws are the tokens a direct computation picks, for draws across [0, 1)', async () => {
    await atPrompt();
    // (temperature 30: a flat distribution, whose top-p cut takes most of the vocabulary)
    for (const options of [{ temperature: 0.7, topK: 5 }, { temperature: 1.3, topP: 0.8 },
      { temperature: 1, topK: 40, topP: 0.5 }, { temperature: 2 }, { temperature: 30, topP: 0.95 }]) {
      const drawn = new Set();
      for (let i = 0; i < 40; i++) {
        const random = (i + 0.5) / 40;
        const { token } = await model.sample({ ...options, random });
        assert.equal(token, directDraw(logits, { ...options, random }), `${JSON.stringify(options)}, random ${random}`);
        drawn.add(token);
        model.resetPenalties(llama.prompt_ids);  // each draw from the same distribution
      }
      assert.ok(drawn.size > 1, `${JSON.stringify(options)} drew more than one token`);
      if (options.topK) assert.ok(drawn.size <= options.topK);
    }
    assert.deepEqual((await model.sample({ temperature: 1, topK: 1, random: 0.99 })).token, llama.greedy_ids[0]);
  });

  test('logprobs and topLogprobs are the log-softmax of the logits', async () => {
    await atPrompt();
    const result = await model.sample({ temperature: 0, logprobs: true, topLogprobs: 5 });
    const every = [...logits.keys()];
    const logTotal = logSumExp(logits, every);
    const best = [...every].sort((a, b) => logits[b] - logits[a] || a - b).slice(0, 5);
    assert.equal(result.token, best[0]);
    assert.ok(Math.abs(result.logprob - (logits[best[0]] - logTotal)) < 1e-4);
    assert.deepEqual(result.topLogprobs.map((entry) => entry.token), best);
    result.topLogprobs.forEach(({ token, logprob }) => assert.ok(Math.abs(logprob - (logits[token] - logTotal)) < 1e-4));
    const plain = await model.sample({ temperature: 0 });
    assert.deepEqual(plain, { token: best[0], logprob: null, topLogprobs: null });
  });

  test('penalties, then bias, then the mask, as a direct computation of the scores', async () => {
    await atPrompt();
    const [repetitionPenalty, frequencyPenalty, presencePenalty] = [1.3, 0.4, 0.25];
    const generated = 42;
    await model.step(generated, { temperature: 0, logitBias: { [generated]: 100 } });  // counts 42 once
    const stepLogits = await model.logits();
    const seen = new Set([...llama.prompt_ids, generated]);
    const scores = Array.from(stepLogits, (logit, t) => {
      if (!seen.has(t)) return logit;
      const s = logit > 0 ? logit / repetitionPenalty : logit * repetitionPenalty;
      return t === generated ? s - frequencyPenalty - presencePenalty : s;
    });
    scores[7] += 3;
    const allowed = [...scores.keys()].filter((t) => t % 3 !== 0 || t === 7);
    const logTotal = logSumExp(scores, allowed);
    const result = await model.sample({ temperature: 0, repetitionPenalty, frequencyPenalty, presencePenalty,
      logitBias: { 7: 3, 9: 100 }, tokenMask: maskOf(model.vocabSize, allowed), logprobs: true, topLogprobs: 3 });
    const best = [...allowed].sort((a, b) => scores[b] - scores[a] || a - b);
    assert.equal(result.token, best[0]);
    assert.deepEqual(result.topLogprobs.map((entry) => entry.token), best.slice(0, 3));
    result.topLogprobs.forEach(({ token, logprob }) => assert.ok(Math.abs(logprob - (scores[token] - logTotal)) < 1e-4));
  });

  test('a token mask bans and forces tokens in greedy and sampled draws; topLogprobs lists only allowed ones', async () => {
    await atPrompt();
    const greedyToken = llama.greedy_ids[0];
    const everyToken = [...logits.keys()];
    const allBut = maskOf(model.vocabSize, everyToken.filter((t) => t !== greedyToken));
    const secondBest = everyToken.filter((t) => t !== greedyToken).reduce((b, t) => (logits[t] > logits[b] ? t : b));
    assert.equal((await model.sample({ temperature: 0, tokenMask: allBut, logitBias: { [greedyToken]: 100 } })).token,
      secondBest);
    const only = maskOf(model.vocabSize, [77]);
    for (const random of [0, 0.5, 0.999]) {
      assert.equal((await model.sample({ temperature: 0.8, topK: 40, topP: 0.9, random, tokenMask: only })).token, 77);
    }
    const allowed = [5, 77, 200, 383];
    const result = await model.sample({ temperature: 0, logprobs: true, topLogprobs: 10,
      tokenMask: maskOf(model.vocabSize, allowed) });
    const logTotal = logSumExp(logits, allowed);
    assert.deepEqual(result.topLogprobs.map((entry) => entry.token), [...allowed].sort((a, b) => logits[b] - logits[a]));
    assert.ok(Math.abs(result.logprob - (logits[result.token] - logTotal)) < 1e-4);
    // a masked call leaves no trace on the next unmasked one
    assert.equal((await model.sample({ temperature: 0 })).token, greedyToken);
  });

  test('seeded draws repeat', async () => {
    const draw = async () => {
      await atPrompt();
      const ids = [];
      let result = await model.sample({ temperature: 0.9, topP: 0.95, random: 0.25 });
      for (let i = 0; i < 6; i++) {
        ids.push(result.token);
        result = await model.step(result.token, { temperature: 0.9, frequencyPenalty: 0.5, random: (0.37 * (i + 1)) % 1 });
      }
      return ids;
    };
    assert.deepEqual(await draw(), await draw());
  });

  test('token ids out of range, bad token masks and a full context are refused', async () => {
    const words = Math.ceil(model.vocabSize / 32);
    model.truncate(0);
    await assert.rejects(model.prefill([1, model.vocabSize]), /token id 384 is not in 0\.\.383/);
    await assert.rejects(model.step(-1), /token id -1/);
    assert.equal(model.length, 0);
    assert.throws(() => model.resetPenalties([0.5]), /token id 0.5/);
    await assert.rejects(model.sample({ logitBias: { [model.vocabSize]: 1 } }), /token id/);
    await assert.rejects(model.sample({ tokenMask: new Uint32Array(words + 1).fill(~0) }), /Uint32Array of 12 words/);
    await assert.rejects(model.sample({ tokenMask: new Uint32Array(words) }), /allows none/);
    await assert.rejects(model.prefill(new Array(model.contextLength + 1).fill(1)), ContextWindowExceededError);
    assert.equal(model.length, 0);
  });
});

describe('WASM model loading', () => {
  const noShards = () => assert.fail('a shard was read');
  const refused = (pattern) => (error) => error instanceof UnsupportedModelError && pattern.test(error.message);

  test('a model past wasm32\'s 4 GiB is refused before any shard is read, with its sizes', async () => {
    const { manifest } = await modelFiles(fixture('smollm2').url);
    const long = { ...manifest, architecture: { ...manifest.architecture, context_length: 200000 } };
    // SmolLM2's f32 KV cache: 30 layers x 2 x 192 values x 4 bytes = 45 KiB a token
    await assert.rejects(loadModel(long, { readShard: noShards, maxContext: 200000 }),
      refused(/smollm2-135m needs 8\.\d\d GiB of memory on the CPU backend \(weights 0\.09 GiB, KV cache for 200000 tokens 8\.\d\d GiB, .*memory holds at most 4\.00 GiB\. A context of at most 9\d\d\d\d tokens \(maxContext\) fits/));
    const tensors = structuredClone(manifest.tensors);
    tensors['model.embed_tokens.weight'].parts.codes.pieces[0].bytes = 5 * 2 ** 30;
    await assert.rejects(loadModel({ ...manifest, tensors }, { readShard: noShards }),
      refused(/needs 5\.\d\d GiB .*weights 5\.\d\d GiB.*Choose a smaller model, or a device with WebGPU/));
  });

  test('weights without a CPU kernel, features it does not run and unused runtime tensors are refused', async () => {
    const { manifest } = await modelFiles(fixture('tiny-qwen2').url);
    const tensors = structuredClone(manifest.tensors);
    tensors['model.layers.0.self_attn.o_proj.weight'].scheme = 'f16';
    await assert.rejects(loadModel({ ...manifest, tensors }, { readShard: noShards }),
      refused(/o_proj\.weight is stored as f16, which the CPU backend has no kernel for/));
    await assert.rejects(loadModel({ ...manifest, architecture: { ...manifest.architecture, qk_norm: 'yes' } },
      { readShard: noShards }), refused(/qk_norm is "yes", which the CPU backend does not run yet/));
    const extra = { name: 'layers.0.q_norm', tensors: ['model.layers.0.input_layernorm.weight'], split: false };
    await assert.rejects(loadModel({ ...manifest, runtime_tensors: [...manifest.runtime_tensors, extra] },
      { readShard: noShards }), refused(/does not use the manifest's runtime tensors layers\.0\.q_norm/));
  });

  test('every feature kernels/limits.json lists runs on the CPU, at every value the GPU runs', () => {
    const limits = JSON.parse(readFileSync(new URL('../../kernels/limits.json', import.meta.url), 'utf8'));
    for (const { feature, runs } of limits.features) {
      const cpu = CPU_FEATURES[feature];
      assert.ok(cpu, `runtime/wasm/model.js CPU_FEATURES lacks ${feature}`);
      if (cpu !== 'any') assert.ok(runs !== 'any' && runs.every((value) => cpu.includes(value)), `${feature}: ${runs} vs ${cpu}`);
    }
  });

  test('destroy ends the model', async () => {
    const model = await load(fixture('tiny-qwen2'), { maxContext: 64 });
    await model.destroy();
    await assert.rejects(model.prefill([1]), ModelNotLoadedError);
    await assert.rejects(model.sample(), ModelNotLoadedError);
  });

  test('loadBackend: backend "wasm", or "auto" without a WebGPU adapter, loads the CPU backend; the default stays WebGPU', async () => {
    const { manifest, readShard } = await modelFiles(fixture('tiny-qwen2').url);
    const noAdapter = { requestAdapter: async () => null };
    for (const options of [{ backend: 'wasm' }, { backend: 'auto', gpu: noAdapter }]) {
      const model = await loadBackend(manifest, { readShard, maxContext: 64, ...options });
      assert.equal(model.backend, 'wasm');
      await model.destroy();
    }
    for (const backend of ['webgpu', undefined]) {
      await assert.rejects(loadBackend(manifest, { readShard, backend, gpu: noAdapter }), WebGPUNotAvailableError);
    }
    await assert.rejects(loadBackend(manifest, { readShard, backend: 'cuda' }),
      { name: 'RangeError', message: /backend "cuda" does not exist: one of webgpu, wasm/ });
  });
});
