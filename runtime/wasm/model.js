// The WASM CPU backend's model: a sitegen model (manifest + shards) in WebAssembly memory, run by
// the kernels of runtime/wasm/*.c, behind the interface of runtime/backend.js (which documents
// every member the engine uses). For browsers without a usable WebGPU adapter, or when asked for.
//
// Weights stay in the shards' encoding (weights.js); the KV cache and activations are f32, and so
// is every sum but the matrix products' integer dot products per group of 32 (their inputs rounded
// to int16 per group: runtime/wasm/matmul.c). Everything is allocated at load, sized by the
// manifest and the context, and the total is checked against the memory's maximum (wasm32's 4 GiB;
// the threads build's, a page less) before any shard is read. #forward() runs a block of tokens
// through the network, step by step in the order the model computes them (llama2.c's shape); the
// manifest's architecture features (sitegen/arch.py) decide the optional steps, as they do for
// runtime/webgpu/model.js. Prefill runs the prompt in blocks of PREFILL_BLOCK tokens, so each
// weight matrix is read once per block (matmul.c's matrix-matrix product); decode is a block of one.
// With threads (threads.js), the matrix products' rows and attention's heads are split over workers.

import { WasmKernels, gib } from './kernels.js';
import { Threads, defaultThreads, threadsAvailable } from './threads.js';
import { Sampler } from './sampler.js';
import { Weights, aligned, planWeights } from './weights.js';
import { CachePositions } from '../cache_positions.js';
import { readLimits } from '../limits.js';
import { DEFAULT_MAX_CONTEXT, assertRunnable, dimensionsOf, slidingLayer } from '../model_format.js';
import { ropeTables } from '../rope.js';
import { ModelNotLoadedError, UnsupportedModelError } from '../errors.js';

const PREFILL_BLOCK = 16;    // tokens per forward pass in prefill; also its progress reports' step
// Prompt tokens the engine hands each prefill call (backend.js Model.prefillChunk), a stop being
// honoured between calls: 8 blocks, about a second at the 1-thread prefill speed of SmolLM2-135M
// (README, "The CPU backend"), longer for larger models.
const PREFILL_CHUNK = 8 * PREFILL_BLOCK;
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
 * Loads `manifest`'s model (a sitegen-model manifest object: model_format.js) into WebAssembly memory.
 * options:
 *   readShard(shard, onBytes(count, fromCache)) -> Promise<Uint8Array>: a manifest shard's bytes
 *     (required; the engine passes model_cache.js's verified ones)
 *   onProgress({ stage: 'manifest' | 'weights', loaded, total, fromCache }) (weights: bytes)
 *   maxContext: KV-cache cap in tokens (default model_format.js DEFAULT_MAX_CONTEXT; also capped by
 *     the model's context_length)
 *   kernels: the kernels module (WasmKernels.create's source), default runtime/wasm/kernels.wasm
 *     (kernels-threads.wasm with threads)
 *   threads: how many threads run the matrix products and attention (default: threads.js
 *     defaultThreads(), the cores of a cross-origin isolated browser context, up to 4, else 1); more
 *     than 1 only where threadsAvailable() (a cross-origin isolated page, or Node), else 1
 *     (model.threads says)
 * Resolves to a Model (runtime/backend.js) whose backend is 'wasm'; its `lost` settles with a
 * DeviceLostError when a worker thread dies (threads.js), after which every call rejects with it.
 * Rejects, before any shard is read, with UnsupportedModelError for a manifest this backend cannot
 * run (format, kernels/limits.json's rules, a feature or weight scheme without a CPU kernel,
 * runtime tensors the forward pass does not match) or a model that needs more than the memory's
 * maximum (wasm32's 4 GiB; the sizes said); with WebAssembly.CompileError where the engine lacks
 * WebAssembly SIMD; OutOfMemoryError when the engine cannot grow the memory that far; a RangeError
 * for `threads` not a whole number >= 1; an Error when a worker thread fails to start; whatever
 * readShard rejects with.
 */
export async function loadModel(manifest, {
  readShard, onProgress = () => {}, maxContext = DEFAULT_MAX_CONTEXT, kernels: source, threads = defaultThreads(),
} = {}) {
  if (typeof readShard !== 'function') throw new TypeError('loadModel(manifest, { readShard }): readShard is required.');
  onProgress({ stage: 'manifest', loaded: 0, total: 1 });
  await assertRunnable(manifest, { runner: 'The CPU backend', moreProblems: featuresNotRun });
  const plan = planWeights(manifest);
  const contextLength = Math.min(manifest.architecture.context_length, maxContext);
  if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`threads = ${threads}: a whole number >= 1.`);
  const count = threadsAvailable() ? threads : 1;
  const wasm = await WasmKernels.create(source, { shared: count > 1 });
  assertFits(manifest, wasm, plan.bytes, contextLength, count);
  onProgress({ stage: 'manifest', loaded: 1, total: 1 });
  const weights = new Weights(wasm, manifest, plan);
  const model = new Model(wasm, manifest, weights, contextLength, await Threads.create(wasm, count));
  try {
    weights.assertAllUsed();  // the forward pass asked for every runtime tensor, and only those exist
    await weights.load({ readShard, onProgress });
  } catch (error) {
    await model.destroy();  // its thread workers would otherwise keep the memory (up to 4 GiB) alive
    throw error;
  }
  return model;
}

// Lets the thread's queued events (a Stop, a closed tab, a model switch: worker messages) run
// between blocks of work: the kernels compute synchronously, so without it a whole reply would
// hold the thread. A message-channel round trip, not setTimeout (clamped to 4 ms when nested).
function yieldToEvents() {
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}

// One line for each feature of kernels/limits.json that `a` (the manifest's architecture) has at a
// value CPU_FEATURES does not run.
async function featuresNotRun(a) {
  return (await readLimits()).features.filter(({ feature }) => {
    const runs = CPU_FEATURES[feature];
    return !runs || (runs !== 'any' && !runs.includes(a[feature]));
  }).map(({ feature }) => `${feature} is ${JSON.stringify(a[feature])}, which the CPU backend does not run yet`);
}

// Bytes of each thread's scratch: attention's scores and the matrix products' quantised activations.
function perThreadBytes(d, contextLength) {
  return { scores: aligned(4 * contextLength),
    scratch: WasmKernels.matmulScratchBytes(Math.max(d.hidden, d.ffn, d.q), PREFILL_BLOCK) };
}

// Bytes of every buffer besides the weights, by name (kCache, vCache: one per layer): the one list
// the memory check and the allocation both use. f32 throughout; the activations hold a block of
// PREFILL_BLOCK tokens, token-major ([tokens, width]); scores and scratch one per thread.
function bufferBytes(a, d, contextLength, threads) {
  const own = perThreadBytes(d, contextLength);
  const cache = Array.from({ length: d.layers }, () => 4 * contextLength * d.kv);
  const block = PREFILL_BLOCK;
  return {
    x: 4 * block * d.hidden,                           // the residual stream
    normed: 4 * block * d.hidden,                      // RMSNorm(x) ⊙ g
    qkv: 4 * block * (d.q + 2 * d.kv),                 // q, k, v of each token
    attn: 4 * block * d.q,                             // attention output
    proj: 4 * block * d.hidden,                        // an output or down projection
    gateUp: 8 * block * d.ffn,                         // gate then up, per token
    hidden: 4 * block * d.ffn,                         // act(gate) ⊙ up
    logits: 4 * d.vocab,                               // the block's last token's
    scores: threads * own.scores,                      // attention's scratch
    scratch: threads * own.scratch,                    // the matrix products'
    rope: 4 * contextLength * d.rotary,                // (cos, sin) [positions, R/2, 2]
    ropeLocal: a.rope_local_base_freq ? 4 * contextLength * d.rotary : 0,  // sliding layers' (Gemma 3)
    kCache: cache,                                     // per layer [kv_heads, context, head_dim]
    vCache: cache,
  };
}

// Bytes of WebAssembly memory the model takes: { total, cache (the KV cache's) }. base: the bytes
// below the allocator's start (stack, static data, and what was allocated before); weightBytes:
// planWeights()'s.
function memoryBytes(a, base, weightBytes, contextLength, threads) {
  const { kCache, vCache, ...rest } = bufferBytes(a, dimensionsOf(a), contextLength, threads);
  const sum = (sizes) => sizes.reduce((total, bytes) => total + aligned(bytes), 0);
  const cache = sum([...kCache, ...vCache]);
  return { total: base + weightBytes + cache + sum(Object.values(rest)), cache };
}

// Throws UnsupportedModelError, with the sizes and the context that would fit, when the model's
// memory would pass what `wasm`'s memory can grow to (WasmKernels maxBytes: wasm32's 4 GiB, or the
// threads build's maximum, a page less).
function assertFits(manifest, wasm, weightBytes, contextLength, threads) {
  const a = manifest.architecture;
  const [base, limit] = [wasm.mark(), wasm.maxBytes];
  const { total, cache } = memoryBytes(a, base, weightBytes, contextLength, threads);
  if (total <= limit) return;
  let [fits, over] = [0, contextLength];  // the longest context that fits, by bisection
  while (over - fits > 1) {
    const middle = Math.floor((fits + over) / 2);
    if (memoryBytes(a, base, weightBytes, middle, threads).total <= limit) fits = middle;
    else over = middle;
  }
  throw new UnsupportedModelError(`${manifest.model_id} needs ${gib(total)} of memory on the CPU backend (weights `
    + `${gib(weightBytes)}, KV cache for ${contextLength} tokens ${gib(cache)}, the rest ${gib(total - weightBytes - cache)}); `
    + `its WebAssembly memory holds at most ${gib(limit)}. ${fits > 0 ? `A context of at most ${fits} tokens (maxContext) fits; `
      + 'or choose' : 'Choose'} a smaller model, or a device with WebGPU.`, { needed: total, available: limit });
}

class Model {
  backend = 'wasm';
  prefillChunk = PREFILL_CHUNK;
  #wasm;
  #positions;  // the KV cache's: CachePositions
  #dims;
  #buffers;  // pointers, as bufferBytes() names them
  #threads;  // the Threads running matrix products and attention
  #strides;  // bytes between threads' scores and scratch: perThreadBytes()
  #layers;   // per layer: its weights and settings, from build()
  #embed;
  #finalNorm;
  #lmHead;
  #settings;  // attention's scale and soft cap, the FFN's activation, the logits' soft cap
  #sampler;

  // wasm: the WasmKernels; weights: the manifest's Weights in it (allocated, not yet loaded);
  // threads: the Threads over wasm.
  constructor(wasm, manifest, weights, contextLength, threads) {
    const a = manifest.architecture;
    this.manifest = manifest;
    this.vocabSize = a.vocab_size;
    this.contextLength = contextLength;
    this.#positions = new CachePositions(this);
    this.#wasm = wasm;
    this.#dims = dimensionsOf(a);
    this.#threads = threads;
    this.threads = threads.count;
    this.lost = threads.lost;  // a worker thread's death; pending while they run
    this.#strides = perThreadBytes(this.#dims, contextLength);
    this.#buffers = Object.fromEntries(Object.entries(bufferBytes(a, this.#dims, contextLength, threads.count)).map(([name, bytes]) => [
      name, Array.isArray(bytes) ? bytes.map((size) => wasm.alloc(size)) : bytes && wasm.alloc(bytes)]));
    const tables = ropeTables(a, contextLength);
    wasm.f32(this.#buffers.rope, tables.global.length).set(tables.global);
    if (tables.local) wasm.f32(this.#buffers.ropeLocal, tables.local.length).set(tables.local);
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

  // Tokens `ids` (at most PREFILL_BLOCK) at positions pos.. through the network, their keys and
  // values cached; `logits`: then the last one's logits into the logits buffer. Rejects as
  // threads.js's jobs do (a worker's DeviceLostError).
  async #forward(ids, pos, logits) {
    const k = this.#wasm;
    const d = this.#dims;
    const b = this.#buffers;
    const T = ids.length;
    const { scale, softcap, activation, finalSoftcap } = this.#settings;
    const width = d.q + 2 * d.kv;                                      // a token's row of qkv
    const embed = this.#embed;
    ids.forEach((id, t) => k.dequantizeRow(embed.tensor.scheme, embed.tensor.parts, id, b.x + 4 * t * d.hidden,
      { K: d.hidden, scale: embed.scale }));                             // x = E[token] × multiplier
    for (const layer of this.#layers) {
      this.#rmsNorm(b.x, layer.attnNorm, b.normed, d.hidden, T);         // normed = RMSNorm(x) ⊙ g
      await this.#matmul(layer.qkv, b.normed, b.qkv, T);                       // qkv = normed · [Wq; Wk; Wv]ᵀ
      for (let t = 0; t < T; t++) {
        const [q, key] = [b.qkv + 4 * t * width, b.qkv + 4 * (t * width + d.q)];
        if (layer.qkvBias) k.add(q, layer.qkvBias, width);               //   + bias (attention_bias)
        if (layer.qkNorm) this.#normalizeHeads(q, layer.qkNorm);          // q, k RMS-normalised per head (qk_norm)
        const turn = layer.rope + 4 * (pos + t) * d.rotary;             // (cos, sin) row of this position
        k.rope(q, turn, { heads: d.heads, headDim: d.headDim, rotaryDim: d.rotary });      // q, k rotated
        k.rope(key, turn, { heads: d.kvHeads, headDim: d.headDim, rotaryDim: d.rotary });
        this.#cache(layer, key, pos + t);                                // k, v appended to the cache
      }
      await this.#threads.attention({ q: b.qkv, qStride: 4 * width, kCache: layer.kCache, vCache: layer.vCache,
        out: b.attn, outStride: 4 * d.q, scores: b.scores, scoresStride: this.#strides.scores }, {
        heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, context: this.contextLength, pos, tokens: T,
        window: layer.window, scale, softcap });                         // attn = softmax(q kᵀ scale) v, GQA (a window)
      await this.#matmul(layer.o, b.attn, b.proj, T);                          // proj = attn · Woᵀ
      this.#residual(layer.postAttnNorm, T);                             // x += proj (sandwich_norms: RMSNorm(proj) ⊙ g)
      this.#rmsNorm(b.x, layer.ffnNorm, b.normed, d.hidden, T);          // normed = RMSNorm(x) ⊙ g
      await this.#matmul(layer.gateUp, b.normed, b.gateUp, T);                 // gate, up = normed · [Wgate; Wup]ᵀ
      for (let t = 0; t < T; t++) {                                      // hidden = act(gate) ⊙ up
        const gate = b.gateUp + 8 * t * d.ffn;
        k.gated(activation, gate, gate + 4 * d.ffn, b.hidden + 4 * t * d.ffn, d.ffn);
      }
      await this.#matmul(layer.down, b.hidden, b.proj, T);                     // proj = hidden · Wdownᵀ
      this.#residual(layer.postFfnNorm, T);                              // x += proj (sandwich_norms: normalised)
    }
    if (!logits) return;
    const last = b.x + 4 * (T - 1) * d.hidden;
    k.rmsNorm(last, this.#finalNorm, b.normed, d.hidden, d.eps);         // normed = RMSNorm(x) ⊙ g, last token
    await this.#matmul(this.#lmHead, b.normed, b.logits, 1);                   // logits = normed · Eᵀ (or the LM head's)
    if (finalSoftcap) k.softCap(b.logits, d.vocab, finalSoftcap);        // soft-capped (final_logit_softcapping)
  }

  // Y [T, rows] = X [T, cols] · Wᵀ over the runtime tensor W; resolves once written.
  #matmul(tensor, x, y, T) {
    return this.#threads.matmul(tensor.scheme, tensor.parts, x, y, { K: tensor.cols, rows: tensor.rows, tokens: T,
      scratch: this.#buffers.scratch, scratchStride: this.#strides.scratch });
  }

  // out = RMSNorm(x) ⊙ gain for each of T rows of `width` floats (out may be x).
  #rmsNorm(x, gain, out, width, T) {
    for (let t = 0; t < T; t++) this.#wasm.rmsNorm(x + 4 * t * width, gain, out + 4 * t * width, width, this.#dims.eps);
  }

  // qk_norm: each head of a token's q (gain [0, head_dim)) and k (gain [head_dim, 2 head_dim)) at
  // `q` (its qkv row) RMS-normalised.
  #normalizeHeads(q, gains) {
    const d = this.#dims;
    for (let h = 0; h < d.heads + d.kvHeads; h++) {
      const head = q + 4 * h * d.headDim;
      this.#wasm.rmsNorm(head, gains + (h < d.heads ? 0 : 4 * d.headDim), head, d.headDim, d.eps);
    }
  }

  // x += proj for T tokens; with sandwich norms proj is first RMS-normalised with the post-norm gain.
  #residual(postGain, T) {
    const { x, proj } = this.#buffers;
    const d = this.#dims;
    if (postGain) this.#rmsNorm(proj, postGain, proj, d.hidden, T);
    this.#wasm.add(x, proj, T * d.hidden);
  }

  // A token's k and v heads (at `key` in its qkv row, v after it) into the layer's cache at pos
  // ([kv_heads, context, head_dim]).
  #cache(layer, key, pos) {
    const d = this.#dims;
    const memory = this.#wasm.f32(0, this.#wasm.memory.buffer.byteLength / 4);
    const [k, v] = [key >> 2, (key >> 2) + d.kv];
    for (let h = 0; h < d.kvHeads; h++) {
      const at = (h * this.contextLength + pos) * d.headDim;
      memory.copyWithin((layer.kCache >> 2) + at, k + h * d.headDim, k + (h + 1) * d.headDim);
      memory.copyWithin((layer.vCache >> 2) + at, v + h * d.headDim, v + (h + 1) * d.headDim);
    }
  }

  get length() {
    return this.#positions.length;
  }

  // Forgets every cached position from n on; RangeError unless 0 <= n <= length.
  truncate(n) {
    this.#positions.truncate(n);
  }

  // Runs ids at positions length.., PREFILL_BLOCK tokens a pass; leaves the last one's logits.
  // onProgress(done) after each block. Rejects with ContextWindowExceededError when the
  // cache cannot hold them, ModelNotLoadedError after destroy(), a worker's DeviceLostError; a
  // plain Error for an id out of range (a caller's bug), before any runs.
  async prefill(ids, { onProgress } = {}) {
    this.#assertUsable();
    this.#positions.assertAppendable(ids);
    for (let done = 0; done < ids.length;) {
      const block = ids.slice(done, done + PREFILL_BLOCK);
      done += block.length;
      await this.#forward(block, this.#positions.length, done === ids.length);
      this.#positions.advance(block.length);
      onProgress?.(done);
      await yieldToEvents();
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
    this.#positions.assertAppendable([token]);
    await this.#forward([token], this.#positions.length, true);
    this.#positions.advance(1);
    await yieldToEvents();
    return this.sample(options);
  }

  // A copy of the current logits (Float32Array [vocabSize]).
  async logits() {
    this.#assertUsable();
    return this.#wasm.f32(this.#buffers.logits, this.vocabSize).slice();
  }

  // Drops the WebAssembly instance and its memory (garbage-collected); later calls throw.
  async destroy() {
    this.#threads?.destroy();
    this.#threads = null;
    this.#wasm = null;
    this.#positions.truncate(0);
  }

  // Throws ModelNotLoadedError after destroy(), the DeviceLostError once a worker thread died.
  #assertUsable() {
    if (!this.#wasm) throw new ModelNotLoadedError('The model was destroyed; load it again.');
    this.#threads.assertAlive();
  }
}
