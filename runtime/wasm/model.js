// The WASM CPU backend's model: a sitegen model (manifest + shards) in WebAssembly memory, run by
// the kernels of runtime/wasm/*.c, behind the interface of runtime/backend.js (which documents
// every member the engine uses). For browsers without a usable WebGPU adapter, or when asked for.
//
// Weights stay in the shards' encoding (weights.js); the KV cache and activations are f32, and so
// is every sum. Everything is allocated at load, sized by the manifest and the context, and the
// total is checked against wasm32's 4 GiB before any shard is read. #forward() runs one token
// through the network, step by step in the order the model computes them (llama2.c's shape); the
// manifest's architecture features (sitegen/arch.py) decide the optional steps, as they do for
// runtime/webgpu/model.js. Prefill runs the prompt token by token with the matrix-vector kernels
// (matrix-matrix kernels for prefill are the next step). One thread.

import { MAX_MEMORY_BYTES, WasmKernels } from './kernels.js';
import { Sampler } from './sampler.js';
import { Weights, aligned, planWeights } from './weights.js';
import { brokenLimits } from '../webgpu/limits.js';
import { ropeInverseFrequencies, ropeTable, rotaryDim } from '../webgpu/rope.js';
import { assertToken } from '../webgpu/sampler.js';
import { readJSON } from '../io.js';
import { ContextWindowExceededError, ModelNotLoadedError, UnsupportedModelError } from '../errors.js';

const FORMAT = 'sitegen-model';  // the manifest format runtime/webgpu/model.js reads too
const FORMAT_VERSION = 3;
const DEFAULT_MAX_CONTEXT = 4096;
const PROGRESS_TOKENS = 16;  // prefill reports its progress every this many tokens
const LIMITS = new URL('../../kernels/limits.json', import.meta.url).href;
/**
 * kernels/limits.json's architecture features and the values this forward pass runs ('any': every
 * value), in the file's form. A feature the file lists and this does not is refused at load
 * (tests/js/wasm_model.test.js fails first, when the file learns a feature the CPU has not).
 */
export const CPU_FEATURES = Object.freeze({
  qk_norm: [false, true],
  hidden_activation: ['silu', 'gelu_pytorch_tanh'],
  embedding_multiplier: 'any',
  sandwich_norms: [false, true],
  query_pre_attn_scalar: 'any',
  attn_logit_softcapping: 'any',
  final_logit_softcapping: 'any',
  sliding_window: 'any',
  layer_types: 'any',
  rope_local_base_freq: 'any',
  f32_activations: [false, true],  // the CPU's activations are f32 either way
  partial_rotary_factor: 'any',
});

/**
 * Loads `manifest`'s model (a sitegen-model manifest object, format 3) into WebAssembly memory.
 * options:
 *   readShard(shard, onBytes(count, fromCache)) -> Promise<Uint8Array>: a manifest shard's bytes
 *     (required; the engine passes model_cache.js's verified ones)
 *   onProgress({ stage: 'manifest' | 'weights', loaded, total, fromCache }) (weights: bytes)
 *   maxContext: KV-cache cap in tokens (default 4096; also capped by the model's context_length)
 *   kernels: the kernels module (WasmKernels.create's source), default runtime/wasm/kernels.wasm
 * Resolves to a Model (runtime/backend.js) whose backend is 'wasm'. Rejects, before any shard is
 * read, with UnsupportedModelError for a manifest this backend cannot run (format,
 * kernels/limits.json's rules, a feature or weight scheme without a CPU kernel, runtime tensors
 * the forward pass does not match) or a model that needs more than wasm32's 4 GiB (the sizes
 * said); with WebAssembly.CompileError where the engine lacks WebAssembly SIMD; OutOfMemoryError
 * when the engine cannot grow the memory that far; whatever readShard rejects with.
 */
export async function loadModel(manifest, {
  readShard, onProgress = () => {}, maxContext = DEFAULT_MAX_CONTEXT, kernels: source,
} = {}) {
  if (typeof readShard !== 'function') throw new TypeError('loadModel(manifest, { readShard }): readShard is required.');
  onProgress({ stage: 'manifest', loaded: 0, total: 1 });
  await assertRunnable(manifest);
  const plan = planWeights(manifest);
  const contextLength = Math.min(manifest.architecture.context_length, maxContext);
  const wasm = await WasmKernels.create(source);
  assertFits(manifest, wasm.mark(), plan.bytes, contextLength);
  onProgress({ stage: 'manifest', loaded: 1, total: 1 });
  const weights = new Weights(wasm, manifest, plan);
  const model = new Model(wasm, manifest, weights, contextLength);
  weights.assertAllUsed();  // the forward pass asked for every runtime tensor, and only those exist
  await weights.load({ readShard, onProgress });
  return model;
}

// Throws UnsupportedModelError naming every reason this backend cannot run the manifest's model.
async function assertRunnable(manifest) {
  if (manifest.format !== FORMAT || manifest.format_version !== FORMAT_VERSION) {
    throw new UnsupportedModelError(`Not a sitegen model manifest this runtime reads (format ${manifest.format} `
      + `version ${manifest.format_version}; it reads ${FORMAT} version ${FORMAT_VERSION}). Rebuild the site.`);
  }
  const a = manifest.architecture;
  const problems = [];
  if (a.num_heads % a.num_kv_heads) problems.push(`${a.num_heads} heads over ${a.num_kv_heads} KV heads`);
  problems.push(...await brokenLimits(a));
  for (const { feature } of (await readJSON(LIMITS)).features) {
    const runs = CPU_FEATURES[feature];
    if (!runs || (runs !== 'any' && !runs.includes(a[feature]))) {
      problems.push(`${feature} is ${JSON.stringify(a[feature])}, which the CPU backend does not run yet`);
    }
  }
  if (problems.length) {
    throw new UnsupportedModelError(`The CPU backend cannot run ${manifest.model_id}: ${problems.join('; ')}.`);
  }
}

// The model's sizes the forward pass works with.
function dimensionsOf(a) {
  return {
    hidden: a.hidden_size, heads: a.num_heads, kvHeads: a.num_kv_heads, headDim: a.head_dim, ffn: a.ffn_size,
    layers: a.num_layers, vocab: a.vocab_size, eps: a.rms_norm_eps,
    q: a.num_heads * a.head_dim, kv: a.num_kv_heads * a.head_dim, rotary: rotaryDim(a),
  };
}

// Bytes of every buffer besides the weights, by name (kCache, vCache: one per layer): the one list
// the memory check and the allocation both use. f32 throughout.
function bufferBytes(a, d, contextLength) {
  const cache = Array.from({ length: d.layers }, () => 4 * contextLength * d.kv);
  return {
    x: 4 * d.hidden,                                   // the residual stream
    normed: 4 * d.hidden,                              // RMSNorm(x) ⊙ g
    qkv: 4 * (d.q + 2 * d.kv),                         // q, k, v of this token
    attn: 4 * d.q,                                     // attention output
    proj: 4 * d.hidden,                                // an output or down projection
    gateUp: 8 * d.ffn,                                 // gate then up; the gated activation into gate
    logits: 4 * d.vocab,
    scores: 4 * contextLength,                         // attention's scratch
    scratch: WasmKernels.matvecScratchBytes(Math.max(d.hidden, d.ffn, d.q)),
    rope: 4 * contextLength * d.rotary,                // (cos, sin) [positions, R/2, 2]
    ropeLocal: a.rope_local_base_freq ? 4 * contextLength * d.rotary : 0,  // sliding layers' (Gemma 3)
    kCache: cache,                                     // per layer [kv_heads, context, head_dim]
    vCache: cache,
  };
}

// Bytes of WebAssembly memory the model takes: { total, cache (the KV cache's) }. base: the bytes
// below the allocator's start (stack and static data); weightBytes: planWeights()'s.
function memoryBytes(a, base, weightBytes, contextLength) {
  const { kCache, vCache, ...rest } = bufferBytes(a, dimensionsOf(a), contextLength);
  const sum = (sizes) => sizes.reduce((total, bytes) => total + aligned(bytes), 0);
  const cache = sum([...kCache, ...vCache]);
  return { total: base + weightBytes + cache + sum(Object.values(rest)), cache };
}

// Throws UnsupportedModelError, with the sizes and the context that would fit, when the model's
// memory would pass wasm32's 4 GiB.
function assertFits(manifest, base, weightBytes, contextLength) {
  const a = manifest.architecture;
  const { total, cache } = memoryBytes(a, base, weightBytes, contextLength);
  if (total <= MAX_MEMORY_BYTES) return;
  let [fits, over] = [0, contextLength];  // the longest context that fits, by bisection
  while (over - fits > 1) {
    const middle = Math.floor((fits + over) / 2);
    if (memoryBytes(a, base, weightBytes, middle).total <= MAX_MEMORY_BYTES) fits = middle;
    else over = middle;
  }
  const gib = (bytes) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  throw new UnsupportedModelError(`${manifest.model_id} needs ${gib(total)} of memory on the CPU backend (weights `
    + `${gib(weightBytes)}, KV cache for ${contextLength} tokens ${gib(cache)}, the rest ${gib(total - weightBytes - cache)}); `
    + `WebAssembly (wasm32) holds at most 4 GiB. ${fits > 0 ? `A context of at most ${fits} tokens (maxContext) fits; `
      + 'or choose' : 'Choose'} a smaller model, or a device with WebGPU.`, { needed: total, available: MAX_MEMORY_BYTES });
}

// Whether layer i attends through the sliding window: sitegen/arch.py's Architecture.sliding.
function slidingLayer(a, i) {
  return a.sliding_window !== null && (a.layer_types === null || a.layer_types[i] === 'sliding_attention');
}

class Model {
  backend = 'wasm';
  lost = new Promise(() => {});  // pending: a CPU backend has no device to lose
  #wasm;
  #length = 0;
  #dims;
  #buffers;  // pointers, as bufferBytes() names them
  #layers;   // per layer: its weights and settings, from build()
  #embed;
  #finalNorm;
  #lmHead;
  #settings;  // attention's scale and soft cap, the FFN's activation, the logits' soft cap
  #sampler;

  // wasm: the WasmKernels; weights: the manifest's Weights in it (allocated, not yet loaded).
  constructor(wasm, manifest, weights, contextLength) {
    const a = manifest.architecture;
    this.manifest = manifest;
    this.vocabSize = a.vocab_size;
    this.contextLength = contextLength;
    this.#wasm = wasm;
    this.#dims = dimensionsOf(a);
    this.#buffers = Object.fromEntries(Object.entries(bufferBytes(a, this.#dims, contextLength)).map(([name, bytes]) => [
      name, Array.isArray(bytes) ? bytes.map((size) => wasm.alloc(size)) : bytes && wasm.alloc(bytes)]));
    // LongRoPE picks its factors by the context this model runs: the KV cache's length
    wasm.f32(this.#buffers.rope, contextLength * this.#dims.rotary)
      .set(ropeTable(ropeInverseFrequencies(a, contextLength), contextLength, a));
    if (a.rope_local_base_freq) {  // unscaled: Gemma3TextConfig scales full-attention layers only
      const local = ropeInverseFrequencies({ ...a, rope_theta: a.rope_local_base_freq, rope_scaling: null });
      wasm.f32(this.#buffers.ropeLocal, contextLength * this.#dims.rotary).set(ropeTable(local, contextLength));
    }
    this.#sampler = new Sampler(a.vocab_size);
    this.#build(a, weights);
  }

  // Each layer's weights (by the manifest's runtime tensor names) and settings.
  #build(a, weights) {
    const d = this.#dims;
    const w = (name) => weights.get(name);
    const gain = (name) => w(name).parts.data;
    this.#embed = { tensor: w('embed'), scale: a.embedding_multiplier };
    this.#layers = Array.from({ length: d.layers }, (_, i) => {
      const layer = `layers.${i}`;
      const sliding = slidingLayer(a, i);
      return {
        attnNorm: gain(`${layer}.attn_norm`),
        qkv: w(`${layer}.qkv`),
        qkvBias: a.attention_bias ? gain(`${layer}.qkv_bias`) : null,
        qkNorm: a.qk_norm ? gain(`${layer}.qk_norm`) : null,  // [2, head_dim]: q's gain, then k's
        rope: sliding && a.rope_local_base_freq ? this.#buffers.ropeLocal : this.#buffers.rope,
        window: sliding ? a.sliding_window : 0,
        o: w(`${layer}.o`),
        postAttnNorm: a.sandwich_norms ? gain(`${layer}.post_attn_norm`) : null,
        ffnNorm: gain(`${layer}.ffn_norm`),
        gateUp: w(`${layer}.gate_up`),
        down: w(`${layer}.down`),
        postFfnNorm: a.sandwich_norms ? gain(`${layer}.post_ffn_norm`) : null,
        kCache: this.#buffers.kCache[i],
        vCache: this.#buffers.vCache[i],
      };
    });
    this.#finalNorm = gain('final_norm');
    this.#lmHead = a.tie_word_embeddings ? this.#embed.tensor : w('lm_head');
    this.#settings = { scale: (a.query_pre_attn_scalar ?? d.headDim) ** -0.5, softcap: a.attn_logit_softcapping ?? 0,
      activation: a.hidden_activation, finalSoftcap: a.final_logit_softcapping ?? 0 };
  }

  // One token at position `pos` through the network, its keys and values cached at pos;
  // `logits`: then the logits of this position into the logits buffer.
  #forward(token, pos, logits) {
    const k = this.#wasm;
    const d = this.#dims;
    const b = this.#buffers;
    const { scale, softcap, activation, finalSoftcap } = this.#settings;
    const [q, key] = [b.qkv, b.qkv + 4 * d.q];
    const embed = this.#embed;
    k.dequantizeRow(embed.tensor.scheme, embed.tensor.parts, token, b.x, { K: d.hidden, scale: embed.scale });  // x = E[token] × multiplier
    for (const layer of this.#layers) {
      k.rmsNorm(b.x, layer.attnNorm, b.normed, d.hidden, d.eps);        // normed = RMSNorm(x) ⊙ g
      this.#matvec(layer.qkv, b.normed, b.qkv);                          // qkv = normed · [Wq; Wk; Wv]ᵀ
      if (layer.qkvBias) k.add(b.qkv, layer.qkvBias, d.q + 2 * d.kv);    //   + bias (attention_bias)
      if (layer.qkNorm) this.#normalizeHeads(layer.qkNorm);             // q, k RMS-normalised per head (qk_norm)
      const turn = layer.rope + 4 * pos * d.rotary;                      // (cos, sin) row of this position
      k.rope(q, turn, { heads: d.heads, headDim: d.headDim, rotaryDim: d.rotary });      // q, k rotated
      k.rope(key, turn, { heads: d.kvHeads, headDim: d.headDim, rotaryDim: d.rotary });
      this.#cache(layer, pos);                                           // k, v appended to the cache
      k.attention({ q, kCache: layer.kCache, vCache: layer.vCache, out: b.attn, scores: b.scores }, {
        heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, context: this.contextLength, scale, softcap,
        first: layer.window ? Math.max(0, pos + 1 - layer.window) : 0, length: pos + 1,
      });                                                                // attn = softmax(q kᵀ scale) v, GQA (a window)
      this.#matvec(layer.o, b.attn, b.proj);                             // proj = attn · Woᵀ
      this.#residual(layer.postAttnNorm);                                // x += proj (sandwich_norms: RMSNorm(proj) ⊙ g)
      k.rmsNorm(b.x, layer.ffnNorm, b.normed, d.hidden, d.eps);          // normed = RMSNorm(x) ⊙ g
      this.#matvec(layer.gateUp, b.normed, b.gateUp);                    // gate, up = normed · [Wgate; Wup]ᵀ
      k.gated(activation, b.gateUp, b.gateUp + 4 * d.ffn, b.gateUp, d.ffn);  // hidden = act(gate) ⊙ up
      this.#matvec(layer.down, b.gateUp, b.proj);                        // proj = hidden · Wdownᵀ
      this.#residual(layer.postFfnNorm);                                 // x += proj (sandwich_norms: normalised)
    }
    if (!logits) return;
    k.rmsNorm(b.x, this.#finalNorm, b.normed, d.hidden, d.eps);          // normed = RMSNorm(x) ⊙ g
    this.#matvec(this.#lmHead, b.normed, b.logits);                      // logits = normed · Eᵀ (or the LM head's)
    if (finalSoftcap) k.softCap(b.logits, d.vocab, finalSoftcap);        // soft-capped (final_logit_softcapping)
  }

  // y = W x over all rows of the runtime tensor W.
  #matvec(tensor, x, y) {
    this.#wasm.matvec(tensor.scheme, tensor.parts, x, y, { K: tensor.cols, row1: tensor.rows, scratch: this.#buffers.scratch });
  }

  // qk_norm: each head of q (gain [0, head_dim)) and of k (gain [head_dim, 2 head_dim)) RMS-normalised.
  #normalizeHeads(gains) {
    const d = this.#dims;
    for (let h = 0; h < d.heads + d.kvHeads; h++) {
      const head = this.#buffers.qkv + 4 * h * d.headDim;
      this.#wasm.rmsNorm(head, gains + (h < d.heads ? 0 : 4 * d.headDim), head, d.headDim, d.eps);
    }
  }

  // x += proj; with sandwich norms proj is first RMS-normalised with the post-norm gain.
  #residual(postGain) {
    const { x, proj } = this.#buffers;
    const d = this.#dims;
    if (postGain) this.#wasm.rmsNorm(proj, postGain, proj, d.hidden, d.eps);
    this.#wasm.add(x, proj, d.hidden);
  }

  // This token's k and v heads into the layer's cache at pos ([kv_heads, context, head_dim]).
  #cache(layer, pos) {
    const d = this.#dims;
    const memory = this.#wasm.f32(0, this.#wasm.memory.buffer.byteLength / 4);
    const [k, v] = [(this.#buffers.qkv >> 2) + d.q, (this.#buffers.qkv >> 2) + d.q + d.kv];
    for (let h = 0; h < d.kvHeads; h++) {
      const at = (h * this.contextLength + pos) * d.headDim;
      memory.copyWithin((layer.kCache >> 2) + at, k + h * d.headDim, k + (h + 1) * d.headDim);
      memory.copyWithin((layer.vCache >> 2) + at, v + h * d.headDim, v + (h + 1) * d.headDim);
    }
  }

  get length() {
    return this.#length;
  }

  // Forgets every cached position from n on; RangeError unless 0 <= n <= length.
  truncate(n) {
    if (!Number.isInteger(n) || n < 0 || n > this.#length) throw new RangeError(`truncate(${n}): 0..${this.#length} cached`);
    this.#length = n;
  }

  // Runs ids at positions length.., token by token; leaves the last one's logits. onProgress(done)
  // every PROGRESS_TOKENS tokens and at the end. Rejects with ContextWindowExceededError when the
  // cache cannot hold them, ModelNotLoadedError after destroy(); a plain Error for an id out of
  // range (a caller's bug), before any runs.
  async prefill(ids, { onProgress } = {}) {
    this.#assertUsable();
    this.#assertRoom(ids.length);
    for (const id of ids) assertToken(id, this.vocabSize);
    for (const [i, id] of ids.entries()) {
      this.#forward(id, this.#length, i === ids.length - 1);
      this.#length += 1;
      if (onProgress && ((i + 1) % PROGRESS_TOKENS === 0 || i === ids.length - 1)) onProgress(i + 1);
    }
  }

  // Start of a generation: no tokens generated, promptIds (token ids) seen.
  resetPenalties(promptIds = []) {
    this.#assertUsable();
    this.#sampler.reset(promptIds);
  }

  // Samples from the current logits (and counts the token for the penalties). options: see
  // runtime/backend.js; resolves to { token, logprob, topLogprobs }.
  async sample(options = {}) {
    this.#assertUsable();
    return this.#sampler.sample(this.#wasm.f32(this.#buffers.logits, this.vocabSize), options);
  }

  // Runs `token` at position length (appending it to the cache), then samples.
  async step(token, options = {}) {
    this.#assertUsable();
    this.#assertRoom(1);
    assertToken(token, this.vocabSize);
    this.#forward(token, this.#length, true);
    this.#length += 1;
    return this.sample(options);
  }

  // A copy of the current logits (Float32Array [vocabSize]).
  async logits() {
    this.#assertUsable();
    return this.#wasm.f32(this.#buffers.logits, this.vocabSize).slice();
  }

  // Drops the WebAssembly instance and its memory (garbage-collected); later calls throw.
  async destroy() {
    this.#wasm = null;
    this.#length = 0;
  }

  #assertUsable() {
    if (!this.#wasm) throw new ModelNotLoadedError('The model was destroyed; load it again.');
  }

  // Throws ContextWindowExceededError unless `count` more tokens fit the cache.
  #assertRoom(count) {
    if (this.#length + count > this.contextLength) {
      throw new ContextWindowExceededError(`${this.#length} cached + ${count} new tokens exceed the context window `
        + `of ${this.contextLength} tokens.`, { length: this.#length, requested: count, contextLength: this.contextLength });
    }
  }
}
