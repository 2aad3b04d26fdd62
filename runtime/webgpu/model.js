// The model executor: loads a sitegen model (manifest + shards) onto the GPU and runs it.
//
// Everything the GPU needs is made at load: weights, activations, KV cache, pipelines and one
// bind group per dispatch. A step then writes one small uniform, encodes every dispatch into one
// compute pass, submits once and reads back only the sampled token (plus log-probabilities when
// asked). Prefill runs the prompt in chunks with tiled matrix-matrix kernels; decoding uses
// matrix-vector kernels. forward() below is the whole network, layer by layer.

import { requestDevice } from './gpu.js';
import { Kernels, StepParams } from './kernels.js';
import { loadWeights } from './weights.js';
import { ModelFiles } from './model_cache.js';
import { Sampler, checkToken } from './sampler.js';
import { ContextWindowExceededError, ModelNotLoadedError, UnsupportedModelError } from './errors.js';

const DEFAULT_MAX_CONTEXT = 4096;
const PREFILL_CHUNK = 128;      // rows per prefill submit: the activation buffers hold this many
const GEMV_WG = 64;             // matrix-vector: invocations per workgroup (one subgroup where fixed)
const GEMV_TALL = 8192;         // weights with this many rows: 8 rows per matrix-vector workgroup
const GEMM = { WG: 64, TOKENS: 8 };  // matrix-matrix: invocations per workgroup; TOKENS as in gemm.wgsl
const SMALL_WG = 64;            // element-wise kernels

// loadModel(manifestUrl | manifest object, options) -> Model
//   onProgress({ stage: 'manifest' | 'weights' | 'pipelines', loaded, total }) (weights: see weights.js)
//   gpu: a GPU (navigator.gpu-like) or a GPUDevice to use; default: navigator.gpu / npm webgpu
//   maxContext: KV-cache cap in tokens (also capped by the model and the device's binding limit)
//   maxBindingBytes: a lower binding limit than the device's (tests force row-block splitting)
//   f16: false to use the f32 path where shader-f16 exists
//   readShard(shard, onBytes) -> Uint8Array: where the shards come from (weights.js); by default
//     the manifest URL's ModelFiles (model_cache.js), which verifies them. Required with a manifest
//     object (the engine's cached files, benchmarks' synthetic weights).
export async function loadModel(source, {
  onProgress = () => {}, gpu: gpuOption, maxContext = DEFAULT_MAX_CONTEXT, maxBindingBytes = Infinity, f16 = true,
  readShard,
} = {}) {
  onProgress({ stage: 'manifest', loaded: 0, total: 1 });
  let manifest = source;
  if (typeof source === 'string' || source instanceof URL) {
    const files = new ModelFiles(source);
    manifest = await files.manifest();
    readShard ??= (shard, onBytes) => files.shard(shard, onBytes);
  }
  if (!readShard) throw new TypeError('loadModel(manifest object) needs the readShard option.');
  const arch = checkArchitecture(manifest);
  onProgress({ stage: 'manifest', loaded: 1, total: 1 });
  const gpu = await requestDevice({ gpu: gpuOption, f16 });
  try {
    const bindingLimit = Math.min(maxBindingBytes, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
    const weights = await loadWeights(gpu, manifest, weightPlan(arch), { readShard, maxBindingBytes: bindingLimit, onProgress });
    for (const tensor of weights.values()) {
      const bytes = Math.max(...Object.values(tensor.rowBytes)) * tensor.blocks[0].rows;
      if (bytes > bindingLimit) {
        throw new UnsupportedModelError(`${tensor.key} (${bytes} bytes) exceeds this GPU's storage binding limit `
          + `(${bindingLimit} bytes); only the embedding and LM head are split into row blocks.`);
      }
    }
    const model = new Model(gpu, manifest, weights, { maxContext, bindingLimit });
    await model.build(onProgress);
    return model;
  } catch (error) {
    gpu.destroy();
    throw error;
  }
}

function checkArchitecture(manifest) {
  if (manifest.format !== 'sitegen-model' || manifest.format_version !== 1) {
    throw new UnsupportedModelError(`Not a sitegen model manifest (format ${manifest.format} version `
      + `${manifest.format_version}); this runtime reads sitegen-model version 1. Rebuild the site.`);
  }
  const a = manifest.architecture;
  const problems = [];
  if (!['llama', 'qwen2'].includes(a.arch)) problems.push(`architecture ${a.arch}`);
  for (const [name, value] of [['hidden_size', a.hidden_size], ['ffn_size', a.ffn_size],
    ['num_heads * head_dim', a.num_heads * a.head_dim]]) {
    if (value % 32) problems.push(`${name} ${value} (must be a multiple of 32)`);
  }
  if (!(a.head_dim >= 16 && a.head_dim <= 256 && (a.head_dim & (a.head_dim - 1)) === 0)) {
    problems.push(`head_dim ${a.head_dim} (a power of two from 16 to 256)`);
  }
  if (a.num_heads % a.num_kv_heads) problems.push(`${a.num_heads} heads over ${a.num_kv_heads} KV heads`);
  if (problems.length) throw new UnsupportedModelError(`This runtime cannot run ${manifest.model_id}: ${problems.join('; ')}.`);
  return a;
}

// The GPU tensors: q/k/v and gate/up stacked into one weight each; the vocabulary-sized ones may
// be split into row blocks (the embedding lookup and the LM head run once per block).
function weightPlan(a) {
  const plan = [{ key: 'embed', tensors: ['model.embed_tokens.weight'], split: true },
    { key: 'final_norm', tensors: ['model.norm.weight'] }];
  if (!a.tie_word_embeddings) plan.push({ key: 'lm_head', tensors: ['lm_head.weight'], split: true });
  for (let i = 0; i < a.num_layers; i++) {
    const p = `model.layers.${i}.`;
    const qkv = ['q', 'k', 'v'].map((n) => `${p}self_attn.${n}_proj`);
    plan.push(
      { key: `${i}.attn_norm`, tensors: [`${p}input_layernorm.weight`] },
      { key: `${i}.qkv`, tensors: qkv.map((n) => `${n}.weight`) },
      { key: `${i}.o`, tensors: [`${p}self_attn.o_proj.weight`] },
      { key: `${i}.ffn_norm`, tensors: [`${p}post_attention_layernorm.weight`] },
      { key: `${i}.gate_up`, tensors: [`${p}mlp.gate_proj.weight`, `${p}mlp.up_proj.weight`] },
      { key: `${i}.down`, tensors: [`${p}mlp.down_proj.weight`] },
    );
    if (a.attention_bias) plan.push({ key: `${i}.qkv_bias`, tensors: qkv.map((n) => `${n}.bias`) });
  }
  return plan;
}

// Per-pair rotation speeds with the model's rope_scaling, as HF transformers computes them
// (float64, then float32); sitegen/reference.py is the same computation.
function ropeInverseFrequencies(a) {
  const d = a.head_dim;
  const scaling = a.rope_scaling;
  const result = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) {
    let inv = 1 / a.rope_theta ** ((2 * i) / d);
    if (scaling?.type === 'linear') inv /= scaling.factor;
    if (scaling?.type === 'llama3') {
      const { factor, low_freq_factor: low, high_freq_factor: high,
        original_max_position_embeddings: old } = scaling;
      const wavelength = (2 * Math.PI) / inv;
      const smooth = (old / wavelength - low) / (high - low);
      if (wavelength > old / low) inv /= factor;          // long waves: slowed down
      else if (wavelength >= old / high) inv = (1 - smooth) * (inv / factor) + smooth * inv;
    }
    result[i] = inv;
  }
  return result;
}

// cos and sin of pos * inv_freq for every cached position, in float32 as the reference has them.
function ropeTable(inverseFrequencies, positions) {
  const half = inverseFrequencies.length;
  const table = new Float32Array(positions * half * 2);
  for (let pos = 0; pos < positions; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inverseFrequencies[i]);
      table[2 * (pos * half + i)] = Math.cos(angle);
      table[2 * (pos * half + i) + 1] = Math.sin(angle);
    }
  }
  return table;
}

class Model {
  #length = 0;
  #tokenOnGpu = null;  // what tokens[0] holds: the last sampled token, so step() need not write it
  #buffers;
  #kernels;
  #params;
  #sampler;
  #weights;
  #embed;              // steps, made in build()
  #layers;
  #lmHead;
  #tokenWords = new Uint32Array(PREFILL_CHUNK);
  #dims;

  constructor(gpu, manifest, weights, { maxContext, bindingLimit }) {
    const a = manifest.architecture;
    this.gpu = gpu;
    this.manifest = manifest;
    this.features = { ...gpu.features };
    this.vocabSize = a.vocab_size;
    this.#dims = {
      hidden: a.hidden_size, heads: a.num_heads, kvHeads: a.num_kv_heads, headDim: a.head_dim, ffn: a.ffn_size,
      layers: a.num_layers, vocab: a.vocab_size, eps: a.rms_norm_eps,
      q: a.num_heads * a.head_dim, kv: a.num_kv_heads * a.head_dim,
    };
    const d = this.#dims;
    const elementBytes = this.features.f16 ? 2 : 4;
    // the KV cache of a layer and the RoPE table must each fit one binding
    const fits = Math.floor(Math.min(bindingLimit / (d.kv * elementBytes), bindingLimit / (d.headDim * 4)));
    this.contextLength = Math.min(a.context_length, maxContext, fits);
    this.#weights = weights;

    const storage = (label, bytes) => gpu.buffer({ label, size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    const rows = PREFILL_CHUNK;
    this.#buffers = {
      tokens: storage('tokens', 4 * rows),
      x: storage('x (residual stream)', 4 * rows * d.hidden),
      normed: storage('x ⊙ norm weight', elementBytes * rows * d.hidden),
      qkv: storage('qkv', 4 * rows * (d.q + 2 * d.kv)),
      q: storage('q (rotated)', 4 * rows * d.q),
      attn: storage('attention output', elementBytes * rows * d.q),
      hidden: storage('ffn hidden', elementBytes * rows * d.ffn),
      logits: storage('logits', 4 * d.vocab),
      rope: storage('rope cos/sin', 4 * this.contextLength * d.headDim),
      none: storage('no bias', 16),
      kCache: Array.from({ length: d.layers }, (_, i) => storage(`k cache ${i}`, elementBytes * this.contextLength * d.kv)),
      vCache: Array.from({ length: d.layers }, (_, i) => storage(`v cache ${i}`, elementBytes * this.contextLength * d.kv)),
    };
    gpu.device.queue.writeBuffer(this.#buffers.rope, 0, ropeTable(ropeInverseFrequencies(a), this.contextLength));
    this.#params = new StepParams(gpu);
    this.#kernels = new Kernels(gpu, { params: this.#params.buffer });
    this.#sampler = new Sampler(gpu, { vocabSize: d.vocab, logits: this.#buffers.logits, tokens: this.#buffers.tokens });
  }

  // Pipelines and bind groups for every dispatch of forward().
  async build(onProgress = () => {}) {
    const a = this.manifest.architecture;
    const d = this.#dims;
    const b = this.#buffers;
    const w = (key) => this.#weights.get(key);
    const one = (key) => w(key).blocks[0].buffers.data;
    const gain = (layer) => (layer < d.layers ? one(`${layer}.attn_norm`) : one('final_norm'));

    this.#embed = await Promise.all(w('embed').blocks.map(async (block) => {
      const kernel = await this.#kernels.kernel('embed', { parts: [weightPart(w('embed'))],
        constants: { WG: SMALL_WG, ROW0: block.row0, ROWS: block.rows } });
      return kernel.step({ ...block.buffers, tokens: b.tokens, x: b.x, gain: gain(0), normed: b.normed },
        (rows) => [Math.ceil(d.hidden / 8 / SMALL_WG), rows]);
    }));

    const cache = { HEADS: d.heads, KV_HEADS: d.kvHeads, HEAD_DIM: d.headDim, CONTEXT: this.contextLength };
    // attention walks the cache one workgroup-wide tile at a time: wide tiles on GPUs; CPU adapters
    // (small fixed subgroups) pay for every barrier per subgroup, so narrow ones there
    const cpuLike = this.#kernels.subgroupSize > 0 && this.#kernels.subgroupSize < 16;
    const attentionWG = Math.max(cpuLike ? 64 : Math.min(256, this.gpu.limits.maxComputeInvocationsPerWorkgroup),
      d.headDim); // a power of two, a multiple of headDim / 4
    const ropeKv = await this.#kernels.kernel('rope_kv', { constants: { WG: SMALL_WG, ...cache } });
    const attention = await this.#kernels.kernel('attention', { constants: { WG: attentionWG, ...cache } });
    this.#layers = [];
    for (let i = 0; i < d.layers; i++) {
      const bias = a.attention_bias ? one(`${i}.qkv_bias`) : null;
      this.#layers.push({
        qkv: await this.#matmul(w(`${i}.qkv`), { normed: true },
          { store: { out: b.qkv, bias, stride: d.q + 2 * d.kv } }),
        ropeKv: ropeKv.step({ qkv: b.qkv, rope: b.rope, q: b.q, k_cache: b.kCache[i], v_cache: b.vCache[i] },
          (rows) => Math.ceil((rows * (d.heads + d.kvHeads) * d.headDim) / 2 / SMALL_WG)),
        attention: attention.step({ q: b.q, k_cache: b.kCache[i], v_cache: b.vCache[i], out: b.attn },
          (rows) => [d.heads, rows]),
        outProj: await this.#matmul(w(`${i}.o`), { act: b.attn }, { residual: one(`${i}.ffn_norm`) }),
        gateUp: await this.#matmul(w(`${i}.gate_up`), { normed: true }, { swiglu: true }),
        down: await this.#matmul(w(`${i}.down`), { act: b.hidden }, { residual: gain(i + 1) }),
      });
    }
    const head = a.tie_word_embeddings ? w('embed') : w('lm_head');
    this.lmHeadBlocks = head.blocks.length;  // > 1 where the head exceeds one binding
    this.#lmHead = await Promise.all(head.blocks.map((block) => this.#matmul(head, { normed: true },
      { store: { out: b.logits, stride: 0, offset: block.row0 } }, block).then((matmul) => matmul.gemv)));
    await this.#sampler.build(this.#kernels);
    await this.#kernels.ready((loaded, total) => onProgress({ stage: 'pipelines', loaded, total }));
  }

  // y = W · input as a decode matrix-vector step and a prefill matrix-matrix step (same parts and
  // bindings). input: { normed: true } (RMSNorm(x), fused) or { act: buffer }; output: { store:
  // { out, bias, stride, offset } } | { residual: next norm's weight } | { swiglu: true }.
  async #matmul(tensor, input, output, block = tensor.blocks[0]) {
    const d = this.#dims;
    const b = this.#buffers;
    const parts = [weightPart(tensor)];
    const resources = { ...block.buffers, act: input.normed ? b.normed : input.act };
    if (input.normed) {
      parts.push({ file: 'in_norm', constants: { EPS: d.eps } });
      resources.norm_x = b.x;
    } else {
      parts.push({ file: 'in_plain' });
    }
    let outputs = block.rows;
    if (output.store) {
      const { out, bias, stride, offset = 0 } = output.store;
      parts.push({ file: 'out_store', constants: { N: outputs, HAS_BIAS: !!bias, OUT_STRIDE: stride, OUT_OFFSET: offset } });
      Object.assign(resources, { out, bias: bias ?? b.none });
    } else if (output.residual) {
      parts.push({ file: 'out_residual', constants: { N: outputs } });
      Object.assign(resources, { x: b.x, gain: output.residual, normed: b.normed });
    } else {
      outputs = block.rows / 2;
      parts.push({ file: 'out_swiglu', constants: { N: outputs } });
      resources.hidden = b.hidden;
    }
    const tiles = Math.ceil(outputs / (output.swiglu ? 2 : 4));  // a tile: 4 weight rows
    const gemvTiles = block.rows >= GEMV_TALL ? 2 : 1;
    const gemv = await this.#kernels.kernel('gemv', { parts,
      constants: { WG: this.#kernels.subgroupSize || GEMV_WG, TILES: gemvTiles } });
    const gemm = await this.#kernels.kernel('gemm', { parts, constants: { WG: GEMM.WG } });
    return {
      gemv: gemv.step(resources, () => Math.ceil(tiles / gemvTiles)),
      gemm: gemm.step(resources, (rows) => [Math.ceil(tiles / GEMM.WG), Math.ceil(rows / GEMM.TOKENS)]),
    };
  }

  // The network over one chunk of `rows` tokens at positions length.. (rows = 1: decoding, with
  // matrix-vector kernels). `logits`: also compute the last row's logits.
  #forward(pass, rows, logits) {
    const run = (step) => step.encode(pass, rows);
    const matmul = (pair) => run(rows === 1 ? pair.gemv : pair.gemm);
    for (const block of this.#embed) run(block);  // x = E[token]; normed = x ⊙ g (layer 0 attention norm)
    for (const layer of this.#layers) {
      matmul(layer.qkv);       // qkv = RMSNorm(x) · [Wq; Wk; Wv] (+ bias)
      run(layer.ropeKv);       // q, k rotated; k, v appended to the layer's cache
      run(layer.attention);    // attn = softmax(q · kᵀ / √d) · v over the cache, causal, GQA
      matmul(layer.outProj);   // x += attn · Wo; normed = x ⊙ g (FFN norm)
      matmul(layer.gateUp);    // hidden = silu(RMSNorm(x) · Wgate) * (RMSNorm(x) · Wup)
      matmul(layer.down);      // x += hidden · Wdown; normed = x ⊙ g (next layer's / final norm)
    }
    if (logits) for (const block of this.#lmHead) run(block);  // logits = RMSNorm(x[last]) · Eᵀ
  }

  get length() {
    return this.#length;
  }

  truncate(n) {
    if (!Number.isInteger(n) || n < 0 || n > this.#length) throw new RangeError(`truncate(${n}): 0..${this.#length} cached`);
    this.#length = n;
  }

  // Runs ids at positions length..; leaves the last position's logits on the GPU.
  async prefill(ids) {
    this.#usable();
    this.#room(ids.length);
    for (const id of ids) checkToken(id, this.vocabSize, 'prompt');
    const { device } = this.gpu;
    for (let start = 0; start < ids.length; start += PREFILL_CHUNK) {
      const chunk = ids.slice(start, start + PREFILL_CHUNK);
      this.#tokenWords.set(chunk);
      device.queue.writeBuffer(this.#buffers.tokens, 0, this.#tokenWords, 0, chunk.length);
      this.#params.set({ rows: chunk.length, pos: this.#length + start });
      this.#params.write();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      this.#forward(pass, chunk.length, start + PREFILL_CHUNK >= ids.length);
      pass.end();
      device.queue.submit([encoder.finish()]);
    }
    this.#length += ids.length;
    this.#tokenOnGpu = null;
    await device.queue.onSubmittedWorkDone();
    this.#usable();
  }

  resetPenalties(promptIds = []) {
    this.#usable();
    this.#sampler.reset(promptIds);
  }

  // Samples from the current logits (and counts the token for the penalties).
  async sample(opts = {}) {
    this.#usable();
    const want = this.#sampler.configure(opts, this.#params);
    this.#params.write();
    return this.#submit(want, () => {});
  }

  // Runs `token` at position length (appending it to the cache), then samples: one submit.
  async step(token, opts = {}) {
    this.#usable();
    this.#room(1);
    checkToken(token, this.vocabSize, 'token');
    const want = this.#sampler.configure(opts, this.#params);
    this.#params.set({ rows: 1, pos: this.#length });
    this.#params.write();
    if (token !== this.#tokenOnGpu) {
      this.#tokenWords[0] = token;
      this.gpu.device.queue.writeBuffer(this.#buffers.tokens, 0, this.#tokenWords, 0, 1);
    }
    this.#length += 1;
    return this.#submit(want, (pass) => this.#forward(pass, 1, true));
  }

  async #submit(want, encodeBefore) {
    const { device } = this.gpu;
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    encodeBefore(pass);
    this.#sampler.encode(pass);
    pass.end();
    this.#sampler.copyResult(encoder, want);
    device.queue.submit([encoder.finish()]);
    let result;
    try {
      result = await this.#sampler.read(want);
    } catch (error) {
      this.#usable();
      throw await this.gpu.causeOf(error);
    }
    this.#tokenOnGpu = result.token;
    return result;
  }

  // The current logits, read back: for tests and diagnostics, not the decode path.
  async logits() {
    this.#usable();
    const { device } = this.gpu;
    const source = this.#buffers.logits;
    const staging = this.gpu.buffer({ label: 'logits readback', size: source.size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    try {
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(source, 0, staging, 0, source.size);
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(GPUMapMode.READ);
      return new Float32Array(staging.getMappedRange().slice(0, 4 * this.vocabSize));
    } finally {
      this.gpu.release(staging);
    }
  }

  async destroy() {
    this.gpu.destroy();
    this.#length = 0;
  }

  #usable() {
    if (this.gpu.destroyed) throw new ModelNotLoadedError('The model was destroyed; load it again.');
    this.gpu.throwIfFailed();
  }

  #room(count) {
    if (this.#length + count > this.contextLength) {
      throw new ContextWindowExceededError(`${this.#length} cached + ${count} new tokens exceed the context window `
        + `of ${this.contextLength} tokens.`, { length: this.#length, requested: count, contextLength: this.contextLength });
    }
  }
}

function weightPart(tensor) {
  return { file: tensor.scheme, constants: { K: tensor.cols } };
}
