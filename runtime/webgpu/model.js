// The WebGPU backend's model: loads a sitegen model (manifest + shards) onto the GPU and runs it,
// behind the interface of runtime/backend.js (which documents every member the engine uses).
//
// Everything the GPU needs is made at load: weights, activations, KV cache, pipelines and one
// bind group per dispatch. A step then writes one small uniform, encodes every dispatch into one
// compute pass, submits once and reads back only the sampled token (plus log-probabilities when
// asked). stepAhead() queues the next step before that token is read back: the step's embedding
// lookup reads the token where the sampler wrote it, so the GPU runs step t+1 while the host
// reads token t and encodes step t+2; forwardAhead() queues only the next step's forward pass, for
// a draw whose options need token t (a grammar's mask), which sample() makes once they are known.
// Prefill runs the prompt in chunks with tiled matrix-matrix kernels; decoding uses matrix-vector
// kernels. build() binds the whole network, #forward() runs it, layer by layer.
//
// What a model computes beyond the Llama decoder block is told by the manifest's architecture
// features (sitegen/arch.py; qk_norm, ...), never by its family's name: kernels/limits.json lists
// the feature values this runtime runs, and each one it runs is set up in one place in build().

import { requestDevice } from './device.js';
import { DispatchSequence, Kernels } from './kernels.js';
import { Sampler } from './sampler.js';
import { Weights } from './weights.js';
import {
  ACT_INT16_GROUP_BYTES, ACT_INT16_WRITE, EARLY_VALUES, GEMMS, GEMV_DOTS, KEYS_AHEAD, defaultAttentionVariant,
  defaultGemmVariant, defaultGemvVariant, gemmLayout, gemmTunedRows, gemvInputs, isGemvVariant, queriesPerWorkgroup,
  tuneKernels, tuningSettings,
} from './tuning.js';
import { CachePositions } from '../cache_positions.js';
import { DEFAULT_MAX_CONTEXT, assertRunnable, dimensionsOf, slidingLayer } from '../model_format.js';
import { ropeTables } from '../rope.js';
import { assertToken } from '../token_ids.js';
import { ModelNotLoadedError } from '../errors.js';

// Rows per prefill submit (the activation buffers hold this many; loadModel's prefillChunk). GPUs:
// 512, where the prefill matmul's tiles have tokens enough to reuse each staged weight block:
// 1024-token prefill on one H200 (issue 13, 2026-12-01, runtime_bench, 32 by 32 tiles) rose from 6429
// to 14065 tok/s (Qwen2-0.5B), 3067 -> 4793 (Qwen2-1.5B), 944 -> 1079 (Qwen2-7B) against 128-row
// chunks; 1024 rows gained little more and double the buffers (Qwen2-7B's FFN hidden: 512 x 18944
// f32 = 39 MB). CPU adapters: 128, where a chunk of a small model already takes seconds, and the
// engine honours a stop between chunks.
const PREFILL_CHUNKS = { gpu: 512, cpuLike: 128 };
const GEMV_WG = 64;             // matrix-vector: invocations per subgroup of a workgroup where the size is not
                                // fixed; rows, subgroups per workgroup, group dots: tuning.js (its default, or tuned per device)
const SMALL_WG = 64;            // element-wise kernels
// attention.wgsl's and attention_combine.wgsl's output parts, by what their consumer reads: the
// values (`out`), or a decode step's int16 groups for a GEMV that reads its activations so (`act_int16`)
export const ATTENTION_OUTPUTS = {
  out: [{ file: 'attention_out' }],
  int16: [{ file: 'act_int16' }, { file: 'attention_out_int16' }],
};
// A decode step splits a layer's attention over the context (flash-decoding: attention.wgsl with
// SPLIT, then attention_combine.wgsl) once it walks more than this many tiles of the attention
// workgroup (256 positions on GPUs). One H200 (2026-12-03, runtime_bench.js --profile, the profiled
// step's prompt made 250, 400 and 500 tokens; keys loaded ahead, tuning.js KEYS_AHEAD): the step's
// attention over Qwen2-7B's 28 layers split 416, 419, 424 µs against 425, 471, 615 in one pass (the
// GPU step 2741, 2760, 2756 against 2772, 2809, 2985 µs); over Qwen2-0.5B's 24 243, 243, 244 against
// 244, 265, 340. The split's cost hardly grows with the length, the single pass's does, and below
// one tile the single pass wins (Qwen2-7B after 120 tokens: 266 µs).
const SPLIT_AFTER_TILES = 1;
// Positions a decode step's split attention is tuned at (tuning.js; at most the model's context):
// long conversations are where the split runs and where its variants differ.
const TUNED_ATTENTION_POSITIONS = 4096;
const SERIAL_QUERIES = 4;  // attention_serial.wgsl's query heads per invocation at most (a vec4's lanes)
// A chunk's attention (every prefill chunk; decode steps unsplit): attention.wgsl on GPUs, its
// workgroups walking tiles of positions together; attention_serial.wgsl on CPU adapters, an
// invocation per (row, up to 4 query heads of a KV head's group) walking alone, without barriers.
export const ATTENTIONS = ['attention', 'attention_serial'];

/**
 * Loads `manifest`'s model (a sitegen-model manifest object: model_format.js) onto a WebGPU device.
 * options:
 *   readShard(shard, onBytes(count, fromCache)) -> Promise<Uint8Array>: a manifest shard's bytes
 *     (required; the engine passes model_cache.js's verified ones, tests and benchmarks their own)
 *   onProgress({ stage: 'manifest' | 'weights' | 'pipelines' | 'tuning', loaded, total }) (weights: see
 *     weights.js; tuning: GEMV shapes decided)
 *   gpu: a GPU (navigator.gpu-like) or a GPUDevice to use; default: navigator.gpu / npm webgpu
 *   maxContext: KV-cache cap in tokens (default model_format.js DEFAULT_MAX_CONTEXT; also capped by
 *     the model and the device's binding limit)
 *   maxBindingBytes: a lower binding limit than the device's (tests force row-block splitting)
 *   f16: false to use the f32 path where shader-f16 exists
 *   attentionSplit: { threshold, span }: a decode step splits the attention of a layer that walks
 *     more than `threshold` positions over workgroups of `span` positions each (flash-decoding);
 *     default: threshold SPLIT_AFTER_TILES tiles of the attention workgroup, span one tile. Tests
 *     force the split at short lengths with small values
 *   gemm: the prefill matmul kernel, a key of tuning.js GEMMS: 'gemm_tiled' (default on GPUs) or
 *     'gemm' (default on CPU adapters, which run its lack of barriers faster), in the variant the
 *     device's limits hold first unless tuned; tests run both everywhere
 *   attention: a chunk's attention kernel, one of ATTENTIONS: 'attention' (default on GPUs) or
 *     'attention_serial' (default on CPU adapters, where decode steps are then never split unless
 *     attentionSplit says so); tests run both everywhere
 *   gemv: a GEMV variant of tuning.js's space ({ rows, dot, subgroups }) for every decode matmul whose weights
 *     it runs (the others keep the default); tests run each group-dot part through a model
 *   prefillChunk: rows per prefill submit, the activation buffers' rows (default PREFILL_CHUNKS: 512
 *     on GPUs, 128 on CPU adapters); the model's `prefillChunk`
 *   tune: the GEMV, split attention and GEMM variants tuned on this device once the pipelines have
 *     compiled (tuning.js tuningSettings: by default on in browsers (IndexedDB keeps the choice) on a
 *     GPU adapter; false: off; true; { store, budgetMs, spaces }); the outcome is the model's
 *     `tuning` (null when off)
 * Resolves to a Model (runtime/backend.js). Rejects with UnsupportedModelError (a manifest this
 * runtime cannot run: format, kernels/limits.json's rules and features, runtime tensors), before any GPU work
 * when the manifest alone says so and before any shard is read when its runtime tensors do;
 * WebGPUNotAvailableError; whatever readShard rejects with (IntegrityError, ...).
 */
export async function loadModel(manifest, {
  readShard, onProgress = () => {}, gpu: gpuOption, maxContext = DEFAULT_MAX_CONTEXT, maxBindingBytes = Infinity,
  f16 = true, tune, attentionSplit, gemm, attention, gemv, prefillChunk,
} = {}) {
  if (typeof readShard !== 'function') throw new TypeError('loadModel(manifest, { readShard }): readShard is required.');
  for (const [option, value, choices] of [['gemm', gemm, Object.keys(GEMMS)], ['attention', attention, ATTENTIONS]]) {
    if (value !== undefined && !choices.includes(value)) {
      throw new TypeError(`loadModel: ${option} '${value}' is none of ${choices.join(', ')}; leave it out for the adapter's default.`);
    }
  }
  if (gemv !== undefined && !isGemvVariant(gemv)) {
    throw new TypeError(`loadModel: gemv ${JSON.stringify(gemv)} is not a GEMV variant ({ rows, dot, subgroups }: runtime/webgpu/tuning.js gemvVariants); leave it out for the defaults.`);
  }
  if (prefillChunk !== undefined && !(Number.isInteger(prefillChunk) && prefillChunk >= 1)) {
    throw new TypeError(`loadModel: prefillChunk ${prefillChunk} is not a positive whole number of rows; leave it out for the adapter's default.`);
  }
  onProgress({ stage: 'manifest', loaded: 0, total: 1 });
  await assertRunnable(manifest, { runner: 'This runtime' });
  onProgress({ stage: 'manifest', loaded: 1, total: 1 });
  // f32_activations (sitegen/arch.py): a model whose activations outgrow f16 takes the f32 path
  const gpu = await requestDevice({ gpu: gpuOption, f16: f16 && !manifest.architecture.f32_activations });
  try {
    const bindingLimit = Math.min(maxBindingBytes, gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
    const weights = new Weights(gpu, manifest, { maxBindingBytes: bindingLimit });
    const kernels = await Kernels.create(gpu);
    const model = new Model(gpu, kernels, manifest, weights, { maxContext, bindingLimit, attentionSplit, gemm, attention, gemv, prefillChunk });
    // build() asks for every runtime tensor the forward pass binds: the manifest must list those
    // and no others (the test that the build's tensor table and this forward pass agree)
    await model.build();
    weights.assertAllUsed();
    await weights.upload({ readShard, onProgress });  // while the pipelines compile
    await kernels.ready((loaded, total) => onProgress({ stage: 'pipelines', loaded, total }));
    const tuning = tuningSettings(tune, gpu);
    if (tuning) await model.tune(tuning, (loaded, total) => onProgress({ stage: 'tuning', loaded, total }));
    return model;
  } catch (error) {
    gpu.destroy();
    throw error;
  }
}

class Model {
  backend = 'webgpu';
  #positions;          // the KV cache's: CachePositions
  #tokenOnGpu = null;  // what tokens[0] holds once every submit has run: the last draw read back
                       // while no later one is queued (so step() need not write it); null: unknown
  #drawn = false;      // whether the last submit drew a token (into tokens[0]) that no step has run
                       // yet, for stepAhead() and forwardAhead()
  #submits = 0;        // submits so far, to tell whether a draw read back is the latest
  #buffers;
  #kernels;
  #uniform;
  #sampler;
  #weights;
  #embed;              // dispatches, made in build()
  #layers;
  #lmHead;
  #tuned = [];         // the sites of the dispatches tuning.js tunes (tuneKernels): GEMVs, split attentions, GEMMs
  #attentionWG;        // invocations of an attention workgroup, its tile of positions
  #split;              // { threshold, span } of decode attention split over the context (loadModel's attentionSplit)
  #tokenWords;         // a chunk's token ids, staged for writeBuffer
  #gemv;               // loadModel's gemv: the GEMV variant asked for where it runs, or undefined
  #dims;
  tuning = null;       // tuneKernels's report, once tuned

  // gpu: a device.js Gpu; kernels: its Kernels; weights: the manifest's Weights (allocated).
  constructor(gpu, kernels, manifest, weights, { maxContext, bindingLimit, attentionSplit, gemm, attention, gemv, prefillChunk }) {
    const a = manifest.architecture;
    this.gpu = gpu;  // for this backend's tests (memory checks); the engine uses `lost`
    // pending unless the device is lost: destroy() resolves gpu.lost with null
    this.lost = gpu.lost.then((error) => error ?? new Promise(() => {}));
    this.manifest = manifest;
    this.features = { ...gpu.features };
    this.vocabSize = a.vocab_size;
    this.#dims = dimensionsOf(a);
    const d = this.#dims;
    const elementBytes = this.features.f16 ? 2 : 4;
    // the KV cache of a layer and the RoPE table must each fit one binding
    const fits = Math.floor(Math.min(bindingLimit / (d.kv * elementBytes), bindingLimit / (d.headDim * 4)));
    this.contextLength = Math.min(a.context_length, maxContext, fits);
    this.#positions = new CachePositions(this);
    this.#weights = weights;
    // attention walks the cache one workgroup-wide tile at a time: wide tiles on GPUs; CPU adapters
    // pay for every barrier per subgroup, so narrow ones there
    // (a power of two, for the reductions, and at least head_dim: 4 or more planes of head_dim / 4
    // lanes; head_dim need not be one: the lanes past attention.wgsl's last whole plane are dropped)
    this.#attentionWG = Math.max(kernels.cpuLike ? 64 : Math.min(256, gpu.limits.maxComputeInvocationsPerWorkgroup),
      2 ** Math.ceil(Math.log2(d.headDim)));
    this.gemm = gemm ?? (kernels.cpuLike ? 'gemm' : 'gemm_tiled');  // the prefill matmul's file: a key of GEMMS
    this.#gemv = gemv;
    this.attention = attention ?? (kernels.cpuLike ? 'attention_serial' : 'attention');  // a chunk's: of ATTENTIONS
    // attention_serial walks a decode step's positions without barriers: splitting it would add some
    const threshold = this.attention === 'attention_serial' ? Infinity : SPLIT_AFTER_TILES * this.#attentionWG;
    this.#split = { threshold, span: this.#attentionWG, ...attentionSplit };
    // rows per prefill submit (backend.js Model.prefillChunk); by default no more than the widest
    // activation buffer's binding holds (the spec's least limit, 128 MiB, holds 512 rows of 65536 f32)
    const widest = 4 * Math.max(d.hidden, d.q + 2 * d.kv, d.ffn);
    this.prefillChunk = prefillChunk
      ?? Math.min(kernels.cpuLike ? PREFILL_CHUNKS.cpuLike : PREFILL_CHUNKS.gpu, Math.floor(bindingLimit / widest));
    this.#tokenWords = new Uint32Array(this.prefillChunk);

    const storage = (label, bytes) => this.#storage(label, bytes);
    const rows = this.prefillChunk;
    this.#buffers = {
      tokens: storage('tokens', 4 * rows),
      x: storage('x (residual stream)', 4 * rows * d.hidden),
      normed: storage('x ⊙ norm weight', elementBytes * rows * d.hidden),
      qkv: null,  // the QKV matmul's output where rope_kv reads it (build())
      q: storage('q (rotated)', 4 * rows * d.q),
      attn: storage('attention output', elementBytes * rows * d.q),
      hidden: storage('ffn hidden', elementBytes * rows * d.ffn),
      // a decode row's GEMV input as int16 groups (kernels/act_int16.wgsl), for the widest input
      actInt16: storage('GEMV input as int16', ACT_INT16_GROUP_BYTES * Math.max(d.hidden, d.q, d.ffn) / 32),
      logits: storage('logits', 4 * d.vocab),
      rope: storage('rope cos/sin', 4 * this.contextLength * d.rotary),
      // rope_local_base_freq: the sliding layers' own table (Gemma 3)
      ropeLocal: a.rope_local_base_freq ? storage('rope cos/sin of sliding layers', 4 * this.contextLength * d.rotary) : null,
      // sandwich_norms: a projection's output, normalised before it is added to x
      proj: a.sandwich_norms ? storage('projection output', 4 * rows * d.hidden) : null,
      // bound where a kernel's switch leaves a buffer unread (rope_kv's qk_gain without qk_norm,
      // attention's partials unsplit)
      none: storage('unread binding', 16),
      // a split decode step's partial softmax states, [splits, heads, head_dim + 4] (attention.wgsl)
      partials: storage('attention partials', 4 * Math.ceil(this.contextLength / this.#split.span) * d.heads * (d.headDim + 4)),
      kCache: Array.from({ length: d.layers }, (_, i) => storage(`k cache ${i}`, elementBytes * this.contextLength * d.kv)),
      vCache: Array.from({ length: d.layers }, (_, i) => storage(`v cache ${i}`, elementBytes * this.contextLength * d.kv)),
    };
    const tables = ropeTables(a, this.contextLength);
    gpu.device.queue.writeBuffer(this.#buffers.rope, 0, tables.global);
    if (tables.local) gpu.device.queue.writeBuffer(this.#buffers.ropeLocal, 0, tables.local);
    this.#kernels = kernels;
    this.#uniform = kernels.uniform;
    this.#sampler = new Sampler(gpu, { vocabSize: d.vocab, logits: this.#buffers.logits, tokens: this.#buffers.tokens });
  }

  // A GPU buffer the kernels read and write (and tests copy in and out).
  #storage(label, bytes) {
    return this.gpu.buffer({ label, size: bytes,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  }

  // Pipelines (compiling in the background) and bind groups for every dispatch of #forward(),
  // binding the runtime tensors by their manifest names.
  async build() {
    const a = this.manifest.architecture;
    const d = this.#dims;
    const b = this.#buffers;
    const w = (name) => this.#weights.get(name);
    const one = (name) => w(name).blocks[0].buffers.data;
    const gain = (layer) => (layer < d.layers ? one(`layers.${layer}.attn_norm`) : one('final_norm'));

    this.#embed = await Promise.all(w('embed').blocks.map(async (block) => {
      const kernel = await this.#kernels.kernel('embed', { parts: [weightPart(w('embed'))],
        constants: { WG: SMALL_WG, ROW0: block.row0, ROWS: block.rows, SCALE: a.embedding_multiplier } });
      return kernel.dispatch({ ...block.buffers, tokens: b.tokens, x: b.x, gain: gain(0), normed: b.normed },
        (rows) => [Math.ceil(d.hidden / 8 / SMALL_WG), rows]);
    }));

    const cache = { HEADS: d.heads, KV_HEADS: d.kvHeads, HEAD_DIM: d.headDim, CONTEXT: this.contextLength };
    // RoPE and the KV-cache append: in the QKV matmul's epilogue (out_rope_kv), a dispatch less per
    // layer, unless q and k are RMS-normalised per head first (qk_norm: a sum over the whole head,
    // which the epilogue's pairs of rows do not see) or the device binds too few storage buffers for
    // that matmul (three more than out_store's: 8 with q4g32 weights, 9 with a QKV bias, where
    // WebGPU's default limit is 8); else rope_kv after an out_store epilogue. The GEMVs whose input
    // is quantised before them bind act_int16 in place of in_norm's norm_x: as many.
    const ropeConstants = { ...cache, ROTARY_DIM: d.rotary };
    const qkvParts = [weightPart(w('layers.0.qkv')), { file: 'in_norm' },
      { file: 'out_rope_kv', constants: ropeConstants }, biasPart(a.attention_bias)];
    const qkvStorage = await Promise.all([this.gemm, 'gemv'].map((file) => this.#kernels.storageBuffers(file, { parts: qkvParts })));
    this.ropeInEpilogue = !a.qk_norm && Math.max(...qkvStorage) <= this.gpu.limits.maxStorageBuffersPerShaderStage;
    if (!this.ropeInEpilogue) b.qkv = this.#storage('qkv', 4 * this.prefillChunk * (d.q + 2 * d.kv));
    // rope_kv: one workgroup per (head, row); q/k norms (qk_norm) reduce over the head's D values; the
    // first ROTARY_DIM of them turn (partial_rotary_factor). WG: at most 64 and head_dim / 2, and a
    // power of two dividing head_dim (headDim & -headDim is the largest), as rope_kv.wgsl needs
    const ropeKv = !this.ropeInEpilogue && await this.#kernels.kernel('rope_kv', { constants: {
      WG: Math.min(SMALL_WG, d.headDim / 2, d.headDim & -d.headDim),
      QK_NORM: a.qk_norm, EPS: d.eps, ROTARY_DIM: d.rotary, ...cache } });
    // scores scaled by query_pre_attn_scalar ** -0.5 (Gemma) or head_dim's; soft-capped (Gemma 2);
    // a sliding layer's window (sliding_window, layer_types); `constants`: the file's own (SPLIT and
    // QUERIES for a decode step's split, attention_serial's WG and QUERIES); `output`: a key of
    // ATTENTION_OUTPUTS (attention.wgsl's; attention_serial.wgsl stores its own)
    const attention = (file, window, constants, output = 'out') => this.#kernels.kernel(file, {
      parts: file === 'attention' ? ATTENTION_OUTPUTS[output] : [],
      constants: { WG: this.#attentionWG, ...cache, SCALE: (a.query_pre_attn_scalar ?? d.headDim) ** -0.5,
        SOFTCAP: a.attn_logit_softcapping ?? 0, WINDOW: window, ...constants } });
    // A decode step's attention may store its output as the int16 groups that the output projection's
    // GEMV reads where that GEMV's variant takes its activations quantised (tuning.js GEMV_DOTS): no
    // quantising dispatch between them then. Where attention.wgsl runs decode steps (GPUs) and each
    // group of 32 lies within a head; per layer, where its output projection's weights can run so.
    const int16Attention = (layer) => this.attention === 'attention' && d.headDim % 32 === 0
      && GEMV_DOTS.dot_q4g32_int16_quantised.runs(w(`layers.${layer}.o`).scheme, this.features);
    // a KV head's group of query heads in parts of QUERIES (tuning.js queriesPerWorkgroup)
    const group = d.heads / d.kvHeads;
    const partsOf = (queries) => Math.ceil(group / queries);
    // attention_serial: an invocation per row, a workgroup one subgroup (the CPU's vector of lanes)
    const serialWG = this.#kernels.subgroupSize || SMALL_WG;
    const serialQueries = queriesPerWorkgroup(group, SERIAL_QUERIES);
    const whole = this.attention === 'attention_serial'
      ? { constants: { WG: serialWG, QUERIES: serialQueries }, bindings: {},
        grid: (rows) => [d.kvHeads * partsOf(serialQueries), Math.ceil(rows / serialWG)] }
      : { constants: {}, bindings: { partials: b.none }, grid: (rows) => [d.heads, rows] };
    const combineOf = (output) => this.#kernels.kernel('attention_combine', { parts: ATTENTION_OUTPUTS[output],
      constants: { HEADS: d.heads, HEAD_DIM: d.headDim } });
    const combine = await combineOf('out');
    const combineInt16 = Array.from({ length: d.layers }, (_, i) => int16Attention(i)).some(Boolean)
      && await combineOf('int16');
    // the decode split's tuned length: a site where the split runs there
    const tunedEnd = Math.min(this.contextLength, TUNED_ATTENTION_POSITIONS);
    const splitVariant = defaultAttentionVariant(group, d.headDim);
    const attentionOf = async (layer, sliding) => {
      const input = { q: b.q, k_cache: b.kCache[layer], v_cache: b.vCache[layer] };
      const resources = { ...input, out: b.attn };
      const window = sliding ? a.sliding_window : 0;
      // the decode split in a variant of tuning.js's space ({ queries, early }: QUERIES, EARLY)
      const split = async ({ queries, early }) => (await attention('attention', window,
        { SPLIT: this.#split.span, QUERIES: queries, EARLY: early, KEYS_AHEAD }))
        .dispatch({ ...resources, partials: b.partials }, (splits) => [d.kvHeads * partsOf(queries), splits]);
      const wholeOf = async (constants) => (await attention(this.attention, window, { ...whole.constants, ...constants }))
        .dispatch({ ...resources, ...whole.bindings }, whole.grid);
      const wholeAttention = await wholeOf({});
      const layerAttention = {
        window,
        whole: wholeAttention,
        // a decode step's below the split: attention.wgsl's with values and key quads loaded ahead
        step: this.attention === 'attention' ? await wholeOf({ EARLY: EARLY_VALUES, KEYS_AHEAD }) : wholeAttention,
        split: await split(splitVariant),
        combine: combine.dispatch({ partials: b.partials, out: b.attn }, () => [d.heads]),
        // the decode step's two ends storing int16 groups (int16Attention), or null
        int16: int16Attention(layer) ? {
          step: (await attention('attention', window, { EARLY: EARLY_VALUES, KEYS_AHEAD }, 'int16'))
            .dispatch({ ...input, act_int16: b.actInt16, ...whole.bindings }, whole.grid),
          combine: combineInt16.dispatch({ partials: b.partials, act_int16: b.actInt16 }, () => [d.heads]),
        } : null,
      };
      const walked = window ? Math.min(tunedEnd, window) : tunedEnd;
      if (walked > this.#split.threshold) {
        this.#tuned.push({ kernel: 'attention', shape: { heads: d.heads, kvHeads: d.kvHeads, headDim: d.headDim, window },
          files: ['attention'], timing: { uniform: { rows: 1, pos: tunedEnd - 1 }, count: Math.ceil(walked / this.#split.span) },
          variant: splitVariant, dispatch: split, use: (dispatch) => { layerAttention.split = dispatch; } });
      }
      return layerAttention;
    };
    // sandwich_norms: the projection is stored whole, then normalised and added to x by rms_norm_add
    const normAdd = a.sandwich_norms
      && await this.#kernels.kernel('rms_norm_add', { constants: { WG: SMALL_WG, HIDDEN: d.hidden, EPS: d.eps } });
    const residual = (postGain, nextGain) => (normAdd
      ? normAdd.dispatch({ y: b.proj, post_gain: postGain, x: b.x, gain: nextGain, normed: b.normed }, (rows) => [rows])
      : null);
    // the output and down projections' epilogue: into x directly, or into proj for rms_norm_add
    const projection = (nextGain) => (normAdd ? { store: { out: b.proj, stride: d.hidden } } : { residual: nextGain });
    this.#layers = [];
    for (let i = 0; i < d.layers; i++) {
      const layer = `layers.${i}`;
      const bias = a.attention_bias ? one(`${layer}.qkv_bias`) : null;
      const sliding = slidingLayer(a, i);
      const layerAttention = await attentionOf(i, sliding);
      const turned = { rope: sliding && b.ropeLocal ? b.ropeLocal : b.rope, q: b.q, k_cache: b.kCache[i], v_cache: b.vCache[i] };
      this.#layers.push({
        qkv: await this.#matmul(w(`${layer}.qkv`), { normed: true }, this.ropeInEpilogue
          ? { rope: { constants: ropeConstants, bias, resources: turned } }
          : { store: { out: b.qkv, bias, stride: d.q + 2 * d.kv } }),
        ropeKv: ropeKv ? ropeKv.dispatch({ qkv: b.qkv, ...turned, qk_gain: a.qk_norm ? one(`${layer}.qk_norm`) : b.none },
          (rows) => [d.heads + d.kvHeads, rows]) : null,
        attention: layerAttention,
        outProj: await this.#matmul(w(`${layer}.o`), { act: b.attn, int16Written: Boolean(layerAttention.int16) },
          projection(one(`${layer}.ffn_norm`))),
        attnResidual: residual(normAdd && one(`${layer}.post_attn_norm`), one(`${layer}.ffn_norm`)),
        gateUp: await this.#matmul(w(`${layer}.gate_up`), { normed: true },
          { gated: a.hidden_activation === 'gelu_pytorch_tanh' ? 'gelu' : 'silu' }),
        down: await this.#matmul(w(`${layer}.down`), { act: b.hidden }, projection(gain(i + 1))),
        ffnResidual: residual(normAdd && one(`${layer}.post_ffn_norm`), gain(i + 1)),
      });
    }
    const head = a.tie_word_embeddings ? w('embed') : w('lm_head');
    this.lmHeadBlocks = head.blocks.length;  // > 1 where the head exceeds one binding
    this.#lmHead = await Promise.all(head.blocks.map((block) => this.#matmul(head, { normed: true },
      { store: { out: b.logits, stride: 0, offset: block.row0, softcap: a.final_logit_softcapping ?? 0 } },
      { block, chunks: false })));
    await this.#sampler.build(this.#kernels);
  }

  // y = W · input as a decode matrix-vector dispatch and a prefill matrix-matrix one (same parts and
  // bindings). input: { normed: true } (RMSNorm(x), fused) or { act: buffer, int16Written } (int16Written:
  // its producer stores the decode row's int16 groups in actInt16 too, so a GEMV variant that reads
  // them quantised runs alone, its dispatch marked int16Input); output: { store:
  // { out, bias, stride, offset, softcap } } | { residual: next norm's weight } | { gated: 'silu' |
  // 'gelu' } (the gate/up projection: SwiGLU or GeGLU) | { rope: { constants (out_rope_kv's, N
  // aside), bias, resources: { rope, q, k_cache, v_cache } } } (the QKV projection, RoPE and the
  // cache append). A bias: a buffer, or null (none). chunks: false for a matmul only ever run on
  // one row (the LM head: the chunk's last row's logits), which then has no matrix-matrix dispatch.
  async #matmul(tensor, input, output, { block = tensor.blocks[0], chunks = true } = {}) {
    const d = this.#dims;
    const b = this.#buffers;
    const inputPart = (file) => ({ file, constants: file === 'in_plain' ? {} : { EPS: d.eps } });
    const inputFile = input.normed ? 'in_norm' : 'in_plain';
    const scheme = weightPart(tensor);
    const resources = { ...block.buffers, act: input.normed ? b.normed : input.act };
    const inputResources = input.normed ? { norm_x: b.x } : {};
    let outputs = block.rows;
    let epilogue;  // its parts
    if (output.store) {
      const { out, bias, stride, offset = 0, softcap = 0 } = output.store;
      epilogue = [{ file: 'out_store', constants: { N: outputs, OUT_STRIDE: stride, OUT_OFFSET: offset, SOFTCAP: softcap } },
        biasPart(bias)];
      Object.assign(resources, { out }, bias && { bias });
    } else if (output.residual) {
      epilogue = [{ file: 'out_residual', constants: { N: outputs } }];
      Object.assign(resources, { x: b.x, gain: output.residual, normed: b.normed });
    } else if (output.rope) {
      const { constants, bias, resources: turned } = output.rope;
      outputs = block.rows / 2;
      epilogue = [{ file: 'out_rope_kv', constants: { ...constants, N: outputs } }, biasPart(bias)];
      Object.assign(resources, turned, bias && { bias });
    } else {
      outputs = block.rows / 2;
      epilogue = [{ file: 'out_swiglu', constants: { N: outputs, GELU: output.gated === 'gelu' } }];
      resources.hidden = b.hidden;
    }
    const tiles = Math.ceil(outputs / (outputs < block.rows ? 2 : 4));  // a tile: 4 weight rows, 2 outputs where paired
    // a GEMV workgroup's invocations: `subgroups` subgroups
    const gemvInvocations = (subgroups) => (this.#kernels.subgroupSize || GEMV_WG) * subgroups;
    // the GEMV in a variant of tuning.js's space: { rows } weight rows per workgroup of `subgroups`
    // subgroups, group dots `dot` (after the dispatch that quantises its input, where the dots read
    // it quantised: gemvInputs)
    const gemv = async ({ rows, dot, subgroups }) => {
      const inputs = gemvInputs(dot, inputFile, input);
      const product = (await this.#kernels.kernel('gemv', {
        parts: [scheme, inputPart(inputs.gemv), ...epilogue, ...GEMV_DOTS[dot].parts.map((file) => ({ file }))],
        constants: { WG: gemvInvocations(subgroups), ROWS: rows },
      })).dispatch({ ...resources, ...(inputs.int16 ? { act_int16: b.actInt16 } : inputResources) },
        () => Math.ceil(tiles / (rows / 4)));
      // int16 groups its input's producer (a decode step's attention) stores itself: #attend
      if (!inputs.write) return inputs.int16 ? Object.assign(product, { int16Input: true }) : product;
      const quantise = await this.#kernels.kernel(ACT_INT16_WRITE.file, {
        parts: [...ACT_INT16_WRITE.parts.map((file) => ({ file })), inputPart(inputs.write)],
        constants: { WG: SMALL_WG, K: tensor.cols } });
      return new DispatchSequence([quantise.dispatch({ act: resources.act, act_int16: b.actInt16, ...inputResources },
        () => Math.ceil(tensor.cols / 32 / SMALL_WG)), product]);
    };
    // the GEMM in a variant of tuning.js's GEMMS[this.gemm] (its constants)
    const gemm = async (constants) => {
      const { grid } = gemmLayout(this.gemm, constants);
      const kernel = await this.#kernels.kernel(this.gemm, { parts: [scheme, inputPart(inputFile), ...epilogue], constants });
      return kernel.dispatch({ ...resources, ...inputResources }, (rows) => grid(tiles, rows));
    };
    const { features, limits } = this.#kernels.gpu;
    const chosenGemv = this.#gemv && GEMV_DOTS[this.#gemv.dot].runs(tensor.scheme, features) ? this.#gemv
      : defaultGemvVariant(block.rows, tensor.cols, tensor.scheme, features);
    // one subgroup where the device's workgroups hold fewer invocations than the variant's (a fixed
    // subgroup size of 128; WebGPU's least limit is 256); the tuner skips such candidates as failing
    const gemvVariant = gemvInvocations(chosenGemv.subgroups) <= Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX)
      ? chosenGemv : { ...chosenGemv, subgroups: 1 };
    const gemmVariant = defaultGemmVariant(this.gemm, limits);  // every file has one within WebGPU's least limits
    const untunedGemm = chunks ? await gemm(gemmVariant) : null;
    // matmul.gemm: [{ tokens, dispatch }], a chunk of up to `tokens` rows running `dispatch` (tuned
    // apart: gemmTunedRows, within the context, whose chunks a smaller maxContext shortens)
    const gemmRows = chunks ? gemmTunedRows(Math.min(this.prefillChunk, this.contextLength)) : [];
    const matmul = { gemv: await gemv(gemvVariant), gemm: gemmRows.map((tokens) => ({ tokens, dispatch: untunedGemm })) };
    const shape = { rows: block.rows, cols: tensor.cols, scheme: tensor.scheme };
    const site = { input: inputFile, int16Written: Boolean(input.int16Written),
      files: [scheme.file, inputFile, ...epilogue.map((part) => part.file)] };
    this.#tuned.push({ ...site, shape, kernel: 'gemv', timing: { uniform: { rows: 1, pos: 0 }, count: 1 }, variant: gemvVariant,
      dispatch: gemv, use: (dispatch) => { matmul.gemv = dispatch; } });
    for (const rowsClass of matmul.gemm) {
      const { tokens } = rowsClass;
      this.#tuned.push({ ...site, shape: { ...shape, tokens }, kernel: 'gemm', file: this.gemm,
        timing: { uniform: { rows: tokens, pos: 0 }, count: tokens }, variant: gemmVariant, dispatch: gemm,
        use: (dispatch) => { rowsClass.dispatch = dispatch; } });
    }
    return matmul;
  }

  // Times tuning.js's variants of this model's shapes on its device (or takes the choice its store
  // kept) and runs the fastest from now on; `settings`: tuningSettings()'s, onProgress(loaded,
  // total) in shapes. Sets `tuning` to tuneKernels's report. For loadModel, before any prefill (the
  // timed dispatches write the activation buffers and the KV cache).
  async tune(settings, onProgress) {
    const setUniform = (fields) => {
      this.#uniform.set(fields);
      this.#uniform.write();
    };
    this.tuning = await tuneKernels(this.gpu, this.#kernels, this.manifest, this.#tuned, settings, setUniform, onProgress);
  }

  // The network over one chunk of `rows` tokens at positions end - rows ..= end - 1 (rows = 1:
  // decoding, with matrix-vector kernels). `logits`: also compute the last row's logits.
  #forward(pass, rows, end, logits) {
    const run = (dispatch) => dispatch.encode(pass, rows);
    const matmul = ({ gemv, gemm }) => run(rows === 1 ? gemv : gemm.find(({ tokens }) => rows <= tokens).dispatch);
    const runIf = (dispatch) => dispatch && run(dispatch);
    for (const block of this.#embed) run(block);  // x = E[token] (× √hidden: embedding_multiplier); normed = x ⊙ g
    for (const layer of this.#layers) {
      matmul(layer.qkv);          // [q; k; v] = RMSNorm(x) · [Wq; Wk; Wv] (+ bias); q, k rotated (sliding layers: their own base), k, v cached
      runIf(layer.ropeKv);        // qk_norm: that rotation and caching here, q and k RMS-normalised per head first
      this.#attend(pass, layer.attention, rows, end, layer.outProj.gemv.int16Input);  // attn = softmax(q · kᵀ · scale) · v over the cache (a sliding layer's window), GQA
      matmul(layer.outProj);      // x += attn · Wo; normed = x ⊙ g (FFN norm) — or, sandwich_norms: proj = attn · Wo
      runIf(layer.attnResidual);  // sandwich_norms: x += RMSNorm(proj) ⊙ g_post; normed = x ⊙ g (FFN norm)
      matmul(layer.gateUp);       // hidden = act(RMSNorm(x) · Wgate) * (RMSNorm(x) · Wup), act silu or tanh GELU
      matmul(layer.down);         // x += hidden · Wdown; normed = x ⊙ g (next norm) — or, sandwich_norms: proj = ...
      runIf(layer.ffnResidual);   // sandwich_norms: x += RMSNorm(proj) ⊙ g_post; normed = x ⊙ g (next norm)
    }
    if (logits) for (const block of this.#lmHead) run(block.gemv);  // logits = RMSNorm(x[last]) · Eᵀ (soft-capped)
  }

  // A layer's attention (attentionOf's) for a chunk of `rows` ending at position end - 1: one
  // workgroup per (head, row) walking all of a row's positions (a decode step's: `step`, its values
  // loaded early where the kernel has that), or for a decode step that walks more than the
  // threshold, splits of `span` positions (the host knows each step's position, also when it
  // queues the step ahead of the last draw's readback) and their merge. int16: the decode step's
  // output as the output projection's GEMV reads it (attentionOf's `int16` dispatches).
  #attend(pass, attention, rows, end, int16) {
    const walked = attention.window ? Math.min(end, attention.window) : end;
    const step = int16 ? attention.int16 : attention;
    if (rows > 1) {
      attention.whole.encode(pass, rows);
    } else if (walked <= this.#split.threshold) {
      step.step.encode(pass, 1);
    } else {
      attention.split.encode(pass, Math.ceil(walked / this.#split.span));
      step.combine.encode(pass, 1);
    }
  }

  get length() {
    return this.#positions.length;
  }

  // Forgets every cached position from n on; RangeError unless 0 <= n <= length.
  truncate(n) {
    this.#positions.truncate(n);
  }

  // Runs ids (token ids) at positions length..; leaves the last position's logits on the GPU.
  // onProgress(done) is called as each chunk finishes on the GPU: every chunk is submitted at once
  // either way, so the reports cost the GPU no idle time, only one onSubmittedWorkDone per chunk.
  // Rejects with ContextWindowExceededError when the cache cannot hold them, ModelNotLoadedError
  // after destroy(), DeviceLostError; a plain Error for an id out of range (a caller's bug).
  async prefill(ids, { onProgress } = {}) {
    this.#assertUsable();
    this.#positions.assertAppendable(ids);
    const { device } = this.gpu;
    let reported = null; // with onProgress: settles once every chunk submitted so far has run and been reported
    const chunkRows = this.prefillChunk;
    for (let start = 0; start < ids.length; start += chunkRows) {
      const chunk = ids.slice(start, start + chunkRows);
      this.#tokenWords.set(chunk);
      device.queue.writeBuffer(this.#buffers.tokens, 0, this.#tokenWords, 0, chunk.length);
      this.#uniform.set({ rows: chunk.length, pos: this.#positions.length + start });
      this.#uniform.write();
      const end = this.#positions.length + start + chunk.length;
      this.#run((pass) => this.#forward(pass, chunk.length, end, start + chunkRows >= ids.length));
      if (onProgress) {
        const done = start + chunk.length;
        reported = Promise.all([reported, device.queue.onSubmittedWorkDone()]).then(() => onProgress(done));
      }
    }
    this.#positions.advance(ids.length);
    this.#tokenOnGpu = null;
    this.#drawn = false;
    this.#submits++;  // a draw still being read back no longer says what tokens[0] holds
    await (reported ?? device.queue.onSubmittedWorkDone());
    this.#assertUsable();
  }

  // Start of a generation: no tokens generated, promptIds (token ids) seen.
  resetPenalties(promptIds = []) {
    this.#assertUsable();
    for (const id of promptIds) assertToken(id, this.vocabSize);
    this.#sampler.reset(promptIds);
  }

  // Samples from the current logits (and counts the token for the penalties). options: see
  // runtime/backend.js; resolves to { token, logprob, topLogprobs }.
  async sample(options = {}) {
    this.#assertUsable();
    this.#sampler.assertRoomForDraw();
    const want = this.#sampler.configure(options, this.#uniform);
    this.#uniform.write();
    return this.#submit(want, () => {});
  }

  // Runs `token` at position length (appending it to the cache), then samples: one submit.
  async step(token, options = {}) {
    this.#assertUsable();
    this.#positions.assertAppendable([token]);
    this.#sampler.assertRoomForDraw();
    if (token !== this.#tokenOnGpu) {
      this.#tokenWords[0] = token;
      this.gpu.device.queue.writeBuffer(this.#buffers.tokens, 0, this.#tokenWords, 0, 1);
    }
    return this.#decode(options);
  }

  // step() of the token the last sample()/step()/stepAhead() drew, read from where the sampler
  // wrote it: the caller may call it before that draw is read back (one draw ahead at most), so the
  // GPU need not wait for the host. Throws a plain Error (a caller's bug) when no draw came last.
  async stepAhead(options = {}) {
    this.#assertUsable();
    this.#positions.assertRoom(1);
    this.#sampler.assertRoomForDraw();
    if (!this.#drawn) throw new Error('stepAhead() runs the last draw: call sample() or step() first');
    return this.#decode(options);
  }

  // The forward pass of the token the last sample()/step()/stepAhead() drew, read from where the
  // sampler wrote it, at position length, leaving its logits for sample(); no draw. The caller may
  // call it before that draw is read back, so the GPU runs the pass while the host reads the token
  // and computes the next token mask from it. Throws a plain Error (a caller's bug) when no draw
  // came last (a second forwardAhead() would run the same token again).
  forwardAhead() {
    this.#assertUsable();
    this.#positions.assertRoom(1);
    if (!this.#drawn) throw new Error('forwardAhead() runs the last draw: call sample() or step() first');
    const end = this.#placeStep();
    this.#run((pass) => this.#forward(pass, 1, end, true));
    // that draw has run (another forwardAhead() or stepAhead() would run it again); tokens[0] still
    // holds it, so #tokenOnGpu and #submits stay
    this.#drawn = false;
  }

  // Undoes the last step run ahead, which the caller will not use: its cache position, and for a
  // stepAhead() its draw's token's count for the penalties (`sampled`: its result; null after a
  // forwardAhead(), which drew nothing). For a step run ahead past the end of a reply.
  discard(sampled) {
    this.#assertUsable();
    this.truncate(this.#positions.length - 1);
    if (sampled) this.#sampler.uncount(sampled.token);
    this.#drawn = false;  // the discarded draw is no token to run ahead from
  }

  // One decode step of the token in tokens[0] at position length, then a draw.
  #decode(options) {
    const want = this.#sampler.configure(options, this.#uniform);
    const end = this.#placeStep();
    return this.#submit(want, (pass) => this.#forward(pass, 1, end, true));
  }

  // The step uniform of one decode row at position length (written to the queue before the submit
  // that reads it), and that position taken; returns the length after it.
  #placeStep() {
    this.#uniform.set({ rows: 1, pos: this.#positions.length });
    this.#uniform.write();
    this.#positions.advance(1);
    return this.#positions.length;
  }

  // One submit of what encodePass(pass) encodes into one compute pass, then encodeAfter(encoder)
  // (copies after the pass); returns what encodeAfter returns.
  #run(encodePass, encodeAfter = () => {}) {
    const { device } = this.gpu;
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    encodePass(pass);
    pass.end();
    const after = encodeAfter(encoder);
    device.queue.submit([encoder.finish()]);
    return after;
  }

  // One submit of encodeBefore(pass) (a forward pass, or nothing) and a draw; resolves to the draw.
  async #submit(want, encodeBefore) {
    const readback = this.#run((pass) => {
      encodeBefore(pass);
      this.#sampler.encode(pass);
    }, (encoder) => this.#sampler.copyResult(encoder, want));
    const submit = ++this.#submits;
    this.#drawn = true;
    this.#tokenOnGpu = null;
    let result;
    try {
      result = await this.#sampler.read(want, readback);
    } catch (error) {
      this.#assertUsable();
      throw await this.gpu.causeOf(error);
    }
    if (submit === this.#submits) this.#tokenOnGpu = result.token;  // else a later draw overwrites it
    return result;
  }

  // The current logits, read back (Float32Array [vocabSize]): for tests and diagnostics, not the
  // decode path.
  async logits() {
    this.#assertUsable();
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
    this.#positions.truncate(0);
  }

  // Throws ModelNotLoadedError after destroy(), the DeviceLostError (or GPU error) once one happened.
  #assertUsable() {
    if (this.gpu.destroyed) throw new ModelNotLoadedError('The model was destroyed; load it again.');
    this.gpu.throwIfFailed();
  }
}

// A store's bias: bias_add.wgsl (binding `bias`) where there is one, else bias_none.wgsl (no binding).
function biasPart(bias) {
  return { file: bias ? 'bias_add' : 'bias_none' };
}

function weightPart(tensor) {
  return { file: tensor.scheme, constants: { K: tensor.cols } };
}
