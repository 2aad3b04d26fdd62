// Kernel variants tuned per device (issue 13, "tuned per device"; MetaSchedule's idea, at load
// time in the browser): a small space of variants of a kernel that compute the same thing; at the
// first load of a model on an adapter its own shapes are timed there, within a fixed budget, the
// fastest variant of each shape is kept, and the choice is cached per adapter, model and kernel
// source (IndexedDB in browsers), so that later loads skip the search. A shape whose search the
// budget cut short (a first load's pipelines compiling slowly: on a fresh H200 machine none was
// timed within the 2 s budget of then) is not kept, and the next load searches it again. Tuned: the decode
// matrix-vector kernel (GEMV, kernels/gemv.wgsl), among the variants that run at most as many
// dispatches per step as its default (gemvDispatches); a decode step's attention split over the context
// (kernels/attention.wgsl: query heads per workgroup), timed at a long context; then the prefill
// matrix-matrix kernel's tiles (GEMM, kernels/gemm_tiled.wgsl), timed on a whole prefill chunk
// (TUNED_KERNELS).
//
// Timing: a candidate's dispatches of every site of its shape (the model's layers, each with its
// own weights), run in turn in one compute pass (its steady state; the pass's fixed cost spread
// thin; the weights streamed from memory as in a decode step, not from a cache that holds one
// layer's: on an H200, timing one site's dispatch again and again picked variants that made
// Qwen2-7B's decode 12% slower; a run that fills a pass alone, a large model's GEMM over a prefill
// chunk, which computing rather than memory binds, is timed on the first sites only), once every
// candidate has compiled and the GPU has warmed up (warmUp: its clocks start low after a load),
// measured with GPU timestamps where the device has 'timestamp-query', else by the wall clock from
// submit to onSubmittedWorkDone. A variant that goes wrong (its pipeline does not compile, the
// device reports an error for it, its timing is not done within the budget) is dropped; at worst
// every shape keeps its default variant.

import { readText } from '../io.js';

/**
 * Time (ms) one load may spend tuning: compiling the candidates, warming the GPU up (warmUp: up to
 * 1.5 s where its clocks start low) and timing them, all shapes together.
 */
export const TUNING_BUDGET_MS = 3000;
const PASS_MS = 3;               // GPU time of a timed pass: repeats sized to it (browsers quantise timestamps to 0.1 ms)
const CALIBRATION_REPEATS = 8;   // runs of the default in the passes that size the repeats
const MAX_REPEATS = 512;
const ROUNDS = 2;                // timed passes per candidate, each between two of the default's (timeShape)
const MARGIN = 0.03;             // a candidate replaces the default only when this much faster (timing noise)
// Before the first timed pass, the GPU is warmed up (warmUp): passes of about WARM_UP_PASS_MS until
// none has run faster (by MARGIN) than the fastest for WARM_UP_STEADY_MS, for WARM_UP_MS at most.
const WARM_UP_PASS_MS = 5;
const WARM_UP_STEADY_MS = 250;
const WARM_UP_MS = 1500;

// --- the GEMV's variant space -----------------------------------------------------------------

// gemv.wgsl's workgroup shapes tried: ROWS weight rows per workgroup (multiples of 4, at most its
// MAX_ROWS) and subgroups per workgroup (its WG: that many times the subgroup size, or model.js's
// GEMV_WG where the size is not fixed), which split each row's groups among them: more of a row's
// loads in flight, for long rows. More subgroups only with 4 rows: on one H200 (2026-12-02,
// runtime_bench --tune) 8 and 16 rows with 2 or 4 subgroups never beat the best of these, while
// 4 subgroups of 4 rows made rows of 4864 to 18944 values 1.13-1.24x as fast (defaultGemvVariant).
const GEMV_WORKGROUPS = [{ rows: 4, subgroups: 1 }, { rows: 8, subgroups: 1 }, { rows: 16, subgroups: 1 },
  { rows: 4, subgroups: 2 }, { rows: 4, subgroups: 4 }];
const integerDots = (scheme, { integerDot }) => scheme === 'q4g32' && integerDot;
/**
 * gemv.wgsl's group dot products, by name: `parts`, the files composed for them (in order);
 * `runs(scheme, features)`, which weights (manifest scheme) and devices (device.js Gpu features)
 * they run; `quantised`, where the GEMV reads its activations quantised before it: a dispatch of
 * kernels/act_int16_write.wgsl then runs first, once per step, into a buffer of
 * ACT_INT16_GROUP_BYTES per 32 values (gemvInputs says which input parts each takes).
 */
export const GEMV_DOTS = {
  dot_float: { parts: ['dot_float'], runs: () => true },
  // int16 activations quantised in each workgroup (worth it where a workgroup has many rows)
  dot_q4g32_int16: { parts: ['act_int16', 'act_int16_here', 'dot_q4g32_int16'], runs: integerDots },
  // int16 activations quantised once before the GEMV (a dispatch more per GEMV, no repeated work)
  dot_q4g32_int16_quantised: { parts: ['act_int16', 'act_int16_read', 'dot_q4g32_int16'], runs: integerDots,
    quantised: true },
};

/**
 * The GEMV variants that run weights in `scheme` (a manifest weight scheme: 'q4g32', 'f16', ...)
 * on a device with `features` (a device.js Gpu's): [{ rows, dot, subgroups }], rows: weight rows
 * per workgroup (gemv.wgsl's ROWS), dot: a key of GEMV_DOTS, subgroups: subgroups per workgroup.
 */
export function gemvVariants(scheme, features) {
  return Object.entries(GEMV_DOTS).filter(([, { runs }]) => runs(scheme, features))
    .flatMap(([dot]) => GEMV_WORKGROUPS.map(({ rows, subgroups }) => ({ rows, dot, subgroups })));
}

/**
 * The dispatch that quantises a quantised GEMV's input first: main file `file` with `parts` (file
 * names), then gemvInputs()'s `write` input part.
 */
export const ACT_INT16_WRITE = { file: 'act_int16_write', parts: ['act_int16'] };

/** Bytes of a group of 32 activations as act_int16_write.wgsl stores it (act_int16.wgsl's STORED_VEC4S vec4<u32>). */
export const ACT_INT16_GROUP_BYTES = 80;

/**
 * The input parts of a GEMV in group dots `dot` (a key of GEMV_DOTS) whose matmul input part is
 * `input` ('in_plain' | 'in_norm'): { gemv: the GEMV's input part, int16: whether it reads the
 * int16 groups (quantised dots: binding act_int16), write: null, or where it reads them and the
 * input's producer does not store them itself (`int16Written`: a decode step's attention,
 * runtime/webgpu/model.js) the input part of the act_int16_write.wgsl dispatch before it (composed
 * with act_int16.wgsl; bindings act, act_int16, and the input's: in_norm's norm_x) }. A normalised
 * input's sums of squares are then stored with the int16 groups, so the GEMV takes
 * in_norm_read.wgsl (no norm_x).
 */
export function gemvInputs(dot, input, { int16Written = false } = {}) {
  if (!GEMV_DOTS[dot].quantised) return { gemv: input, int16: false, write: null };
  return { gemv: input === 'in_norm' ? 'in_norm_read' : input, int16: true, write: int16Written ? null : input };
}

/** Whether `variant` is one of the space's ({ rows, dot, subgroups }: a key of GEMV_DOTS, a shape of GEMV_WORKGROUPS). */
export function isGemvVariant(variant) {
  return Object.hasOwn(GEMV_DOTS, variant?.dot)
    && GEMV_WORKGROUPS.some(({ rows, subgroups }) => rows === variant.rows && subgroups === variant.subgroups);
}

const GEMV_TALL = 8192;          // weights of this many rows and more get more rows per workgroup
const GEMV_HEAD = 65536;         // ... and of this many (LM heads), on integer dots quantising in the GEMV, more still
// q4g32 weights of this many values and more, in rows this long and longer, read their activations quantised before
const GEMV_QUANTISED = { values: 12 << 20, cols: 2048 };
const GEMV_LONG = 4096;          // rows this long (K) and longer, at 4 rows per workgroup, take 4 subgroups

/**
 * The GEMV variant ({ rows, dot, subgroups }) that runs a weight of `weightRows` rows by `cols` (K) in
 * `scheme` without a tuned choice (a weight split over bindings: each block by its own rows). On
 * a device with WGSL's packed integer dot products, q4g32 weights of GEMV_QUANTISED values and
 * more take the integer dots on activations quantised once before them, 4 rows per workgroup; other tall q4g32 weights the integer dots quantising in each
 * workgroup, 8 rows (their activations serve that many rows), 16 for LM heads of GEMV_HEAD rows and
 * more; the rest the float path, 8 rows for tall weights, else 4. The tuner's times on one H200
 * (2026-12-02, runtime_bench --tune, 4 / 8 / 16 rows on those integer dots, µs per run): Qwen2-0.5B's
 * gate/up 9728 x 896 9.0 / 9.2 / 12.6, its LM head 151936 x 896 100.6 / 66.9 / 49.4; Qwen2-1.5B's
 * gate/up 17920 x 1536 at 8 / 16 rows 16.6 / 23.7 (run-ahead decode with 16 / tuned 484.6 / 537.5
 * tok/s), its LM head 151936 x 1536 at 16 rows the fastest. Measured there (runtime_bench.js --profile): in
 * Qwen2-7B's decode step the output and down projections (56 dispatches) took 1223 us on floats
 * and 688 quantised before, the gate/up projections 1293 us quantising in each workgroup and 764
 * quantised before, plus 395 us for the 113 quantising dispatches (about 3.5 us each): the step
 * 3886 -> 3052 us. Each of those dispatches also costs the host about 7 us to encode and submit,
 * which models of 1B and less, whose run-ahead decode the host already nearly bounds, could not
 * hide (Qwen2-0.5B 688-758 -> 500-544 tok/s with every weight of 4 Mi values and more quantised
 * before): hence the threshold. A workgroup of 4 rows is 4 subgroups where rows hold GEMV_LONG
 * values or more, else one: the tuner's times there (1 / 2 / 4 subgroups, µs per run): Qwen2-0.5B's
 * down projection 896 x 4864 on floats 10.2 / 9.5 / 9.0, Qwen2-1.5B's 1536 x 8960 quantised before
 * 15.8 / 15.8 / 13.5, Qwen2-7B's 3584 x 18944 29.2 / 27.7 / 23.6 (its run-ahead decode tuned 1.03x
 * as fast), while rows of 3584 values ran slower with more (3584 x 3584: 11.0 / 11.6 / 11.5).
 */
export function defaultGemvVariant(weightRows, cols, scheme, features) {
  const integer = integerDots(scheme, features);
  const rowsOf4 = (dot) => ({ rows: 4, dot, subgroups: cols >= GEMV_LONG ? 4 : 1 });
  if (integer && weightRows * cols >= GEMV_QUANTISED.values && cols >= GEMV_QUANTISED.cols) {
    return rowsOf4('dot_q4g32_int16_quantised');
  }
  if (weightRows < GEMV_TALL) return rowsOf4('dot_float');
  if (!integer) return { rows: 8, dot: 'dot_float', subgroups: 1 };
  return { rows: weightRows < GEMV_HEAD ? 8 : 16, dot: 'dot_q4g32_int16', subgroups: 1 };
}

/** A GEMV variant in words, for reports: '16 rows, 2 subgroups, dot_q4g32_int16'. */
export function gemvVariantName({ rows, dot, subgroups }) {
  return `${rows} rows, ${subgroups} subgroup${subgroups === 1 ? '' : 's'}, ${dot}`;
}

// The dispatches a GEMV variant runs per step at a site: a quantising one first where gemvInputs
// says so (its dots read the input quantised before, and the input's producer does not store the
// int16 groups itself: site.int16Written). The tuner times the GPU only, which cannot see the
// host's encoding and submit of a dispatch more (4-7 us each on an H200's host): on one H200
// (2026-12-02, runtime_bench --tune) the tuner's switch of Qwen2-0.5B's gate/up and LM head to
// quantising before them, each timed 1.4x faster alone, made run-ahead decode 0.88x as fast, as
// that threshold had (defaultGemvVariant). So a shape's candidates are the variants with at most
// its default's dispatches: one whose dots read the input as it is, where the default quantises it
// first, is timed against the pair, and saves the host a dispatch besides.
const gemvDispatches = (site, { dot }) => (gemvInputs(dot, site.input, site).write ? 2 : 1);

// --- the GEMM's variant space ---------------------------------------------------------------------

/**
 * The prefill matmul's kernels (loadModel's `gemm`), each a list of variants: the constants of
 * its overrides, the first one a device's limits hold its default (defaultGemmVariant; every file
 * has one within WebGPU's least limits), the rest candidates for the tuner. gemm_tiled.wgsl (GPUs):
 * workgroup-memory tiles of 4 TILE_X weight-row slots by 8 WG / TILE_X tokens; gemm.wgsl (CPU
 * adapters, which run barriers slowly): register tiles of 4 slots by 8 tokens per invocation.
 * gemm_tiled's 64 slots by 64 tokens (WG 128, TILE_X 16) against 32 by 64 (64, 8), 512-row chunks,
 * one H200 (2026-12-01, runtime_bench, two runs each): 1024-token prefill 13925 / 10909 -> 15347 /
 * 15285 tok/s (Qwen2-0.5B), 1094 / 1074 -> 1299 / 1316 (Qwen2-7B); 128 tokens within 5% either way;
 * 64 slots by 32 tokens within 14% of 32 by 64 either way (faster on Qwen2-7B's largest matrices,
 * slower on some small ones). 64 by 64 takes 16 KiB of workgroup memory, WebGPU's least limit; the
 * 256 bytes it took beyond that until 2026-12-02 (the sums of squares in an array of their own)
 * made it 1.2x as slow (one H200, runtime_bench --tune, 512-row chunks: Qwen2-7B's gate/up
 * projection 8125 -> 6695 us without them), and since then 256 invocations (128 slots by 64
 * tokens, 64 by 128, 24 KiB) beat it on the large matrices: Qwen2-7B's gate/up 6695 / 5230 / 5724
 * us (64 by 64 / 128 by 64 / 64 by 128), down 3541 / 2875 / 2896, output 664 / 551 / 554, QKV 893 /
 * 942 / 1026; Qwen2-1.5B's gate/up 1376 / 1135 / 1259, down 813 / 894 / 904; Qwen2-0.5B's gate/up
 * 442 / 382 / 422, down 312 / 453 / 456. Short chunks are tuned apart (GEMM_SHORT_ROWS).
 */
export const GEMMS = {
  gemm_tiled: [{ WG: 128, TILE_X: 16 }, { WG: 64, TILE_X: 8 }, { WG: 64, TILE_X: 16 }, { WG: 128, TILE_X: 32 },
    { WG: 256, TILE_X: 32 }, { WG: 256, TILE_X: 16 }],
  gemm: [{ WG: 64 }],
};

/**
 * What a GEMM variant (`constants`, one of GEMMS[file]) needs: { workgroupBytes: the workgroup
 * memory it declares, grid(slot tiles of 4 weight rows, chunk rows) -> workgroups }.
 */
export function gemmLayout(file, constants) {
  if (file === 'gemm') {
    return { workgroupBytes: 0, grid: (tiles, rows) => [Math.ceil(tiles / constants.WG), Math.ceil(rows / 8)] };
  }
  // gemm_tiled.wgsl's weight_tile and act_tile: vec4<f32> x 32 TILE_X, x 8 tokens
  const tokensPerBlock = 8 * (constants.WG / constants.TILE_X);
  return { workgroupBytes: 16 * 32 * constants.TILE_X + 16 * 8 * tokensPerBlock,
    grid: (tiles, rows) => [Math.ceil(tiles / constants.TILE_X), Math.ceil(rows / tokensPerBlock)] };
}

/**
 * The variants of the prefill matmul `file` (a key of GEMMS) that a device with `limits` (a
 * GPUSupportedLimits) runs, in GEMMS's order: the workgroup within maxComputeInvocationsPerWorkgroup
 * and maxComputeWorkgroupSizeX, its workgroup memory within maxComputeWorkgroupStorageSize.
 */
export function gemmVariants(file, limits) {
  return GEMMS[file].filter((constants) => constants.WG <= limits.maxComputeInvocationsPerWorkgroup
    && constants.WG <= limits.maxComputeWorkgroupSizeX
    && gemmLayout(file, constants).workgroupBytes <= limits.maxComputeWorkgroupStorageSize);
}

/**
 * Prefill chunks of at most this many rows (tokens) run the GEMM variant tuned on a chunk of this
 * many; longer ones the variant tuned on a whole chunk (model.js prefillChunk), where that is
 * longer. Wider tiles leave a short chunk few workgroups: on one H200 (2026-12-02, runtime_bench
 * --tune) the variants timed fastest on 512-row chunks made 128-token prefills 0.89x (Qwen2-7B),
 * 1.01x and 0.95x as fast as the default, 1024-token ones 1.20x, 1.09x and 1.05x.
 */
export const GEMM_SHORT_ROWS = 128;

/**
 * The chunk rows at which a model whose prefill chunks hold `chunkRows` rows (at most) tunes its
 * GEMM variants, ascending: a chunk runs the variant of the first that holds it.
 */
export function gemmTunedRows(chunkRows) {
  return chunkRows > GEMM_SHORT_ROWS ? [GEMM_SHORT_ROWS, chunkRows] : [chunkRows];
}

/** The variant of the prefill matmul `file` a device with `limits` runs untuned: gemmVariants' first (undefined if none). */
export function defaultGemmVariant(file, limits) {
  return gemmVariants(file, limits)[0];
}

/** A GEMM variant in words, for reports: '64 slots by 64 tokens' (gemm_tiled), '64 invocations' (gemm). */
export function gemmVariantName({ WG, TILE_X }) {
  return TILE_X ? `${4 * TILE_X} slots by ${(8 * WG) / TILE_X} tokens` : `${WG} invocations`;
}

// --- the split attention's variant space ----------------------------------------------------------

/**
 * Query heads of a KV head's group of `group` per workgroup where each takes at most `most`: the
 * group in the fewest parts of at most `most`, as even as can be (attention.wgsl's QUERIES; its
 * workgroups per KV head are ceil(group / QUERIES)).
 */
export function queriesPerWorkgroup(group, most) {
  return Math.ceil(group / Math.ceil(group / most));
}

// attention.wgsl's QUERIES tried for a decode step's split attention: at most 1, 2 or 4 query heads
// per workgroup (a vec4's lanes at most).
const SPLIT_QUERIES = [1, 2, 4];

/**
 * Values per invocation that a decode step's attention loads with a tile's keys where it does
 * (attention.wgsl's EARLY, at most its MAX_EARLY): a short step's always (model.js: one workgroup
 * per head walks its positions, below the split), the split's by default (defaultAttentionVariant;
 * the tuner tries it without); prefill chunks never. One H200 (2026-12-02, runtime_bench.js
 * --prompts 128,1024 --decode 128 --profile, two runs each): a short step's attention after a
 * 128-token prompt 190.5 -> 177.0 µs over Qwen2-0.5B's 24 layers (the GPU step 1019 -> 985 µs),
 * 324.5 -> 299.2 over Qwen2-7B's 28 (2882 -> 2809 µs); in prefill chunks the same loads made the
 * attention 1.23-1.32x as slow (their many workgroups hide the wait; the registers cost them
 * occupancy).
 */
export const EARLY_VALUES = 16;
/**
 * Quads of a key row that a decode step's attention loads before it scores them (attention.wgsl's
 * KEYS_AHEAD, at most its MAX_KEYS_AHEAD), unsplit and split; prefill chunks load one at a time.
 * Loaded one at a time, each load waited before its dot products: a short step's attention spent
 * a third of its time on its keys (README, "What the keys cost was the wait"). One H200
 * (2026-12-03, runtime_bench.js --profile, the profiled step after a prompt of 16 or 1000 tokens,
 * two rounds): a step's attention over Qwen2-7B's 28 layers 305 / 238 / 236 µs with 1 / 8 / 16
 * quads ahead after 16 tokens (the GPU step 2631 / 2550 / 2518 µs), over Qwen2-0.5B's 24 (head_dim
 * 64: 16 is all of a row) 171 / 147 / 138 µs (965 / 930 / 918); split, after 1000 tokens, 351 / 336
 * / 346 and 189 / 185 / 178 µs (steps 2782 / 2755 and 1032 / 1016 µs with 8 / 16). In prefill
 * chunks 8 ahead cost 1-2%, 16 up to 4%.
 */
export const KEYS_AHEAD = 16;
// attention.wgsl's EARLY tried for the split
const SPLIT_EARLY = [0, EARLY_VALUES];

/**
 * The split attention's variants for KV groups of `group` query heads: [{ queries, early }]
 * (distinct QUERIES, each with every EARLY of SPLIT_EARLY).
 */
export function attentionVariants(group) {
  const distinct = [...new Set(SPLIT_QUERIES.map((most) => queriesPerWorkgroup(group, most)))];
  return SPLIT_EARLY.flatMap((early) => distinct.map((queries) => ({ queries, early })));
}

/**
 * The split attention's variant without a tuned choice, for KV groups of `group` query heads of
 * `headDim`: at most 1 query head per workgroup for head_dim 64 and less, else at most 2. More read
 * each K/V row fewer times but lengthen each workgroup's walk. GPU time of one layer's split
 * attention on an H200 at 4096 positions (issue 13; 1 / 2 / 4 query heads at most): Llama-3.2-1B
 * (head_dim 64) 24 / 29 / - µs, Qwen2-0.5B (64) 12.3 / 14.9 / 18.7 (2026-12-02, the tuner's), Qwen2-7B
 * (128) 28.6 / 22.1 / 34.6 (16384 positions: 136 / 88 with 1 / 2). EARLY_VALUES values loaded
 * early: the tuner's times there later that day, 1 / 2 / 4 query heads without and with them:
 * Qwen2-0.5B 12.2 / 14.8 / 18.5 and 10.7 / 14.3 / 19.4 µs, Qwen2-1.5B (128; 1 / 2 / 3) 19.3 / 22.1 /
 * 26.8 and 16.3 / 16.7 / 24.9, Qwen2-7B 28.4 / 21.9 / 35.3 and 29.8 / 19.6 / 40.0.
 */
export function defaultAttentionVariant(group, headDim) {
  return { queries: queriesPerWorkgroup(group, headDim <= 64 ? 1 : 2), early: EARLY_VALUES };
}

/** A split attention variant in words: '2 query heads a workgroup' (', 16 values early' with EARLY). */
export function attentionVariantName({ queries, early }) {
  return `${queries} query head${queries === 1 ? '' : 's'} a workgroup${early ? `, ${early} values early` : ''}`;
}

// --- the kernels tuned ------------------------------------------------------------------------------

/**
 * The kernels tuned, in the order they are tuned (the budget spent on decode first), each:
 * `key(site)`, its shape in words (the sites of one key share a choice); `size(site)`, what orders
 * its shapes (the largest timed first: if the budget runs out, they were); `name(variant)`, the
 * variant in words (unique in its space: the report's and the store's); `candidates(site, gpu,
 * spaces, fallback)`, the variants tried besides `fallback` (the site's variant untuned);
 * `files(site, variant)`, the WGSL files that variant of the site composes besides the
 * site's own (the cache key's). A site: tuneKernels's.
 */
const matmulKey = ({ shape }) => `${shape.scheme} ${shape.rows}x${shape.cols}`;
const matmulSize = ({ shape }) => shape.rows * shape.cols;
export const TUNED_KERNELS = {
  gemv: {
    // a site whose input's producer stores the int16 groups counts its variants' dispatches apart
    key: (site) => `${matmulKey(site)}${site.int16Written ? ', int16 input' : ''}`,
    size: matmulSize,
    name: gemvVariantName,
    candidates: (site, gpu, spaces, fallback) => spaces.gemv(site.shape.scheme, gpu.features)
      .filter((variant) => gemvDispatches(site, variant) <= gemvDispatches(site, fallback)),
    files: (site, { dot }) => {
      const inputs = gemvInputs(dot, site.input, site);
      return ['gemv', ...GEMV_DOTS[dot].parts, inputs.gemv,
        ...(inputs.write ? [ACT_INT16_WRITE.file, ...ACT_INT16_WRITE.parts, inputs.write] : [])];
    },
  },
  // a decode step's attention split over the context (attention.wgsl with SPLIT), timed at
  // the site's long context; sites: shape { heads, kvHeads, headDim, window }
  attention: {
    key: ({ shape }) => `${shape.heads}/${shape.kvHeads} heads of ${shape.headDim}${shape.window ? `, window ${shape.window}` : ''}`,
    size: ({ shape }) => shape.heads * shape.headDim,
    name: attentionVariantName,
    candidates: ({ shape }, gpu, spaces) => spaces.attention(shape.heads / shape.kvHeads),
    files: () => [],
  },
  // sites: shape { rows, cols, scheme, tokens }: tokens, the chunk rows it is timed on and chosen for (gemmTunedRows)
  gemm: {
    key: (site) => `${matmulKey(site)}, ${site.shape.tokens} tokens`,
    size: (site) => matmulSize(site) * site.shape.tokens,
    name: gemmVariantName,
    candidates: ({ file }, gpu, spaces) => spaces.gemm(file, gpu.limits),
    files: ({ file }) => [file],
  },
};

// --- options --------------------------------------------------------------------------------------

/**
 * loadModel's `tune` option as the tuner's settings for `gpu` (a device.js Gpu), or null for no tuning:
 *   undefined: on where the browser can keep the choice (IndexedDB: pages, workers, service
 *     workers) and the adapter is a GPU; off in Node (tests and benchmarks ask for it) and on
 *     fallback (CPU) adapters, which the variants were not made for and whose timings share the
 *     cores with everything else
 *   false: off (every kernel takes its default variant)
 *   true: on, the choice cached in IndexedDB where there is one
 *   { store, budgetMs, spaces }: on; store: a TuningStore (null: no cache; default as for true);
 *     budgetMs (default TUNING_BUDGET_MS); spaces: { gemv(scheme, features) -> variants (default
 *     gemvVariants), attention(group) -> variants (default attentionVariants), gemm(file, limits)
 *     -> variants (default gemmVariants) }, any of them
 */
export function tuningSettings(tune, gpu) {
  const browser = typeof indexedDB !== 'undefined';
  if (tune === false || (tune === undefined && (!browser || gpu.fallbackAdapter))) return null;
  const given = tune === true || tune === undefined ? {} : tune;
  const { store = browser ? new IndexedDBStore() : null, budgetMs = TUNING_BUDGET_MS, spaces = {} } = given;
  return { store, budgetMs, spaces: { gemv: gemvVariants, attention: attentionVariants, gemm: gemmVariants, ...spaces } };
}

// --- the tuner -------------------------------------------------------------------------------------

/**
 * Chooses the variant of each distinct shape among a model's tuned dispatches on this device.
 * gpu: a device.js Gpu; kernels: its kernels.js Kernels (the sources' folder and preamble, for
 * the cache key); manifest: the model's manifest object; sites: the model's tuned dispatches, each
 *   { kernel: a key of TUNED_KERNELS, shape (gemv, gemm: { rows, cols, scheme }: the weight's rows,
 *     K and manifest scheme, gemm's also tokens: the chunk rows timed; attention: { heads, kvHeads,
 *     headDim, window }), file: the GEMM's file
 *     (a key of GEMMS; gemm sites), input: the matmul's input part ('in_plain' | 'in_norm', as
 *     gemvInputs takes it; gemv sites), int16Written: whether its input's producer also stores the
 *     int16 groups a quantised GEMV reads (gemv sites; gemvInputs), files: the file names of its
 *     other parts, timing: { uniform:
 *     { rows, pos } (the step uniform its timed runs need), count (what a run's Dispatch.encode takes:
 *     chunk rows, or an attention's splits) }, variant: the variant it runs now (its default),
 *     dispatch(variant) -> Promise<a kernels.js Dispatch of this site in that variant, its pipeline
 *     compiling>, use(dispatch): run that from now on }; sites of one kernel and key (which run
 *   one variant) share one choice, timed on all of them in turn with their own buffers (run
 *   before any prefill: what they write is scratch).
 * settings: tuningSettings()'s; setUniform({ rows, pos }): writes the step uniform (called before a
 *   shape's timed passes); onProgress(loaded, total): shapes decided of all.
 * Resolves to the report: { cached (every shape's choice came from the store), ms (time taken),
 *   warmUp (warmUp()'s, where a shape was timed), shapes: [{ key ('gemv q4g32 896x896'), default,
 *   chosen (variants' names), us: { [name]: GPU time per run, µs } }] } (us is empty for a stored
 *   choice); shapes with a single candidate are left out. Each site whose chosen variant is not its
 *   default has been given it (use). The store keeps the choices of the shapes timed to the end,
 *   with those it held. Never rejects: a variant that fails is skipped, a store that fails is no
 *   store (with a console warning); a lost device shows at the model's next use.
 */
export async function tuneKernels(gpu, kernels, manifest, sites, { store, budgetMs, spaces }, setUniform, onProgress = () => {}) {
  const started = performance.now();
  const order = Object.keys(TUNED_KERNELS);
  let shapes = [];
  for (const site of sites) {
    const tuned = TUNED_KERNELS[site.kernel];
    const key = `${site.kernel} ${tuned.key(site)}`;
    let entry = shapes.find((shape) => shape.key === key);
    if (!entry) {
      const fallback = site.variant;
      const candidates = tuned.candidates(site, gpu, spaces, fallback);
      const name = tuned.name(fallback);
      entry = { key, tuned, sites: [], default: fallback,
        variants: [fallback, ...candidates.filter((variant) => tuned.name(variant) !== name)] };
      shapes.push(entry);
    }
    entry.sites.push(site);
  }
  shapes = shapes.filter((shape) => shape.variants.length > 1);
  // kernel by kernel (TUNED_KERNELS's order: decode first), the largest shapes first: if the
  // budget runs out, they were timed
  const size = (shape) => shape.sites.length * shape.tuned.size(shape.sites[0]);
  const rank = (shape) => order.indexOf(shape.sites[0].kernel);
  shapes.sort((a, b) => rank(a) - rank(b) || size(b) - size(a));
  const storeKey = store && await attempt('name the tuned kernel choice', () => cacheKey(gpu, kernels, manifest, shapes));
  // the choices of the shapes a search timed to its end before: { [shape key]: variant name }
  const kept = storeKey && await attempt('read the tuned kernel choice', () => store.get(storeKey));
  const record = kept && typeof kept === 'object' ? { ...kept } : {};
  onProgress(0, shapes.length);
  const report = { cached: shapes.every((shape) => Object.hasOwn(record, shape.key)), ms: 0, warmUp: null, shapes: [] };
  const deadline = started + budgetMs;
  // every candidate compiles before any is timed, in that order (those not made by the deadline
  // are left out): the GPU idle while pipelines compile would lose the warm-up's clocks
  const searched = shapes.filter((shape) => !Object.hasOwn(record, shape.key));
  await compileTrials(gpu, searched, deadline);
  let timedToEnd = 0;  // shapes whose search ended before the budget did
  const chosen = new Map();  // shape -> its chosen variant
  for (const shape of shapes) {
    const named = (name) => shape.variants.find((variant) => shape.tuned.name(variant) === name);
    let us = {};
    if (Object.hasOwn(record, shape.key)) {
      chosen.set(shape, named(record[shape.key]) ?? shape.default);
    } else {
      const { uniform, count } = shape.sites[0].timing;
      setUniform(uniform);
      if (shape === searched[0]) {
        report.warmUp = await warmUp(gpu, shape.trials[0], count, Math.min(deadline, performance.now() + WARM_UP_MS));
      }
      // the budget left shared among the shapes left to search
      const slotEnd = performance.now() + (deadline - performance.now()) / (searched.length - searched.indexOf(shape));
      const timed = await timeShape(gpu, shape.trials, count, slotEnd);
      us = timed.us;
      chosen.set(shape, named(timed.chosen) ?? shape.default);
      // a search the budget cut short is not kept: a later load searches that shape again
      if (timed.complete) {
        record[shape.key] = timed.chosen ?? shape.tuned.name(shape.default);
        timedToEnd++;
      }
    }
    report.shapes.push({ key: shape.key, default: shape.tuned.name(shape.default),
      chosen: shape.tuned.name(chosen.get(shape)), us });
    onProgress(report.shapes.length, shapes.length);
  }
  if (storeKey && timedToEnd > 0) await attempt('keep the tuned kernel choice', () => store.set(storeKey, record));
  for (const shape of shapes) {
    const variant = chosen.get(shape);
    if (variant === shape.default) continue;
    const timed = await shape.trials?.find((trial) => trial.variant === variant)?.dispatch;
    for (const [j, site] of shape.sites.entries()) {
      const dispatch = timed?.[j] ?? await (await madeDispatch(gpu, () => site.dispatch(variant))).compiled;
      if (dispatch) site.use(dispatch);  // else that site keeps its default
    }
  }
  report.ms = performance.now() - started;
  return report;
}

// Sets each of `shapes`' trials: [{ variant, name, dispatch: Promise<Dispatch[] | null> (its
// dispatch of every site of the shape, compiled; null where one fails) }], the default first, and
// waits for them to compile, until `deadline` (performance.now() ms): the variants not made by then
// are left out. (Compiles running beside the timed passes would also slow them unevenly: on CPU
// adapters they share the cores.)
async function compileTrials(gpu, shapes, deadline) {
  const compiling = [];
  for (const shape of shapes) {
    shape.trials = [];
    for (const variant of shape.variants) {
      if (performance.now() > deadline) break;
      const made = [];  // one at a time: madeDispatch() gives each its own error scope
      for (const site of shape.sites) made.push((await madeDispatch(gpu, () => site.dispatch(variant))).compiled);
      shape.trials.push({ variant, name: shape.tuned.name(variant),
        dispatch: Promise.all(made).then((each) => (each.every(Boolean) ? each : null)) });
      compiling.push(shape.trials.at(-1).dispatch);
    }
  }
  await beforeDeadline(Promise.all(compiling), deadline);
}

// A GPU's clocks rise under sustained work, in steps: on one H200 (2026-12-02, Qwen2-7B's gate/up
// GEMV, its 28 sites in turn, right after a load) passes of 5 ms ran at 129, 99, 76, 56, 35 and
// then 31.5 us per run, each step lasting 100-200 ms, the last reached after about 1 s (Qwen2-0.5B's
// GEMVs, bound by latency rather than bandwidth, ran as fast at once). Timed then, a search favours
// the candidates timed last, and it timed every GEMV of Qwen2-7B 3-4x slower than decode runs it.
// So before the first timed pass, passes of `trial`'s runs (a shape's default: tuneKernels's
// trials, encoded with `count`: its site's timing.count) of about WARM_UP_PASS_MS, until none has been faster
// than the fastest for WARM_UP_STEADY_MS (longer than a step) or `until` (performance.now() ms).
// Returns { ms, passes, first, last } (µs per run of the first and last pass, the empty pass's
// cost included), or null where nothing ran.
async function warmUp(gpu, trial, count, until) {
  const dispatches = trial ? await beforeDeadline(trial.dispatch, until) : null;
  if (!dispatches || dispatches === TIMED_OUT) return null;
  const started = performance.now();
  const perRun = [];
  let [repeats, fastest, fastestAt] = [1, Infinity, started];  // (a first run sizes the passes)
  while (performance.now() - fastestAt < WARM_UP_STEADY_MS && performance.now() < until) {
    const us = await beforeDeadline(timePass(gpu, dispatches, repeats, count).catch(() => null), until);
    if (typeof us !== 'number') break;
    perRun.push(us / repeats);
    if (us / repeats < fastest * (1 - MARGIN)) [fastest, fastestAt] = [us / repeats, performance.now()];
    repeats = Math.max(1, Math.min(8 * MAX_REPEATS, Math.round((1000 * WARM_UP_PASS_MS) / (us / repeats))));
  }
  return perRun.length ? { ms: performance.now() - started, passes: perRun.length, first: perRun[0], last: perRun.at(-1) } : null;
}

// The chosen variant's name of a shape and each candidate's time (µs per run { [name]: µs }), and
// whether every candidate that compiled was timed (`complete`: false where the slot ended first),
// from `trials` ([{ variant, name, dispatch: Promise<Dispatch[] | null> }]: the dispatches of
// every site of the shape, the default first), encoded with `count` (the sites' timing.count), until `slotEnd`
// (performance.now() ms): an empty pass (what a pass costs besides its runs: the wall clock's
// submit and wait) and the default's passes size the repeats, then in each of ROUNDS rounds every
// candidate that compiled runs a pass between two of the default's; one the device reports an
// error for is dropped. A run's time is (its pass's time - the empty pass's) / repeats, and each
// candidate's is compared with the default's beside it (comparedWithDefault). `chosen` is
// undefined where the default itself could not be timed.
async function timeShape(gpu, trials = [], count, slotEnd) {
  const fallback = trials[0]?.name;
  const passes = [];  // [{ name, us }] in the order they ran
  // the choice from the passes timed so far (comparedWithDefault); complete: whether all ran
  const result = (complete) => ({ ...pick(new Map(Object.entries(comparedWithDefault(passes, fallback))), fallback), complete });
  const cut = () => result(false);
  const base = trials.length ? await beforeDeadline(trials[0].dispatch, slotEnd) : null;
  if (!base || base === TIMED_OUT) return cut();
  // µs of the fastest of two passes of `repeats` runs (a pipeline's first pass may carry one-off
  // work), or null where the device reports an error or the slot ends first
  const fastestPass = async (dispatch, repeats) => {
    let fastest = Infinity;
    for (let i = 0; i < 2; i++) {
      const us = await beforeDeadline(timePass(gpu, dispatch, repeats, count).catch(() => null), slotEnd);
      if (typeof us !== 'number') return null;
      fastest = Math.min(fastest, us);
    }
    return fastest;
  };
  const empty = await fastestPass(base, 0);
  // one run first: where it fills much of a pass (a prefill chunk's GEMM on a large model: ~7 ms
  // on an H200), it is the calibration; else CALIBRATION_REPEATS of them
  const once = empty === null ? null : await fastestPass(base, 1);
  const calibrationRepeats = once !== null && (once - empty) * CALIBRATION_REPEATS < 1000 * PASS_MS ? CALIBRATION_REPEATS : 1;
  const calibration = once === null || calibrationRepeats === 1 ? once : await fastestPass(base, calibrationRepeats);
  if (calibration === null) return cut();
  const run = (calibration - empty) / calibrationRepeats;
  // (a pass shorter than the timestamps' quantum reads as long as an empty one)
  const repeats = run > 0 ? Math.max(1, Math.min(MAX_REPEATS, Math.round((1000 * PASS_MS) / run))) : MAX_REPEATS;
  // µs per run of one pass of `dispatch`, null where the device reports an error for it, TIMED_OUT
  const runTime = async (dispatch) => {
    const us = await beforeDeadline(timePass(gpu, dispatch, repeats, count).catch(() => null), slotEnd);
    return typeof us === 'number' ? Math.max(0, us - empty) / repeats : us;
  };
  const failed = new Set();
  // a pass of the default, false where it could not be timed
  const timeDefault = async () => {
    const us = await runTime(base);
    if (us === TIMED_OUT || us === null) return false;
    passes.push({ name: fallback, us });
    return true;
  };
  for (let round = 0; round < ROUNDS; round++) {
    if (!await timeDefault()) return cut();
    for (const { name, dispatch: made } of trials.slice(1)) {
      const dispatch = await beforeDeadline(made, slotEnd);
      if (dispatch === TIMED_OUT) return cut();
      if (!dispatch || failed.has(name)) continue;
      const us = await runTime(dispatch);
      if (us === TIMED_OUT) return cut();
      if (us === null) {
        failed.add(name);
        continue;
      }
      passes.push({ name, us });
      if (!await timeDefault()) return cut();
    }
  }
  return result(true);
}

/**
 * Each variant's time per run (µs) from a search's timed passes, `passes`: [{ name, us }] in the
 * order they ran, the default's (named `fallback`) before and after each other one. The default's
 * time is its fastest pass; another's is that times the ratio of its passes to the default's beside
 * them (the mean of the one before and the one after), each summed over the search. So candidates
 * are compared with the default run just before and after them, not with one another: a GPU's
 * clocks may still be rising through a search (warmUp cannot always tell a step of them from the
 * top: on one H200, 2026-12-03, a search of Qwen2-7B's gate/up GEMV timed its default at 126 us
 * per run first and its candidates at 39-50 us later on, and took one that made decode 0.83x as
 * fast; comparing each with its neighbours, the searches there that day kept the default). Returns
 * { [name]: µs }; a variant without a default pass on both sides is left out.
 */
export function comparedWithDefault(passes, fallback) {
  const defaults = passes.filter(({ name }) => name === fallback).map(({ us }) => us);
  if (!defaults.length) return {};
  const fastest = Math.min(...defaults);
  const sums = new Map();  // name -> [Σ its passes, Σ the default's beside them]
  passes.forEach(({ name, us }, i) => {
    if (name === fallback) return;
    const before = passes.slice(0, i).findLast((pass) => pass.name === fallback);
    const after = passes.slice(i + 1).find((pass) => pass.name === fallback);
    if (!before || !after) return;
    const [own, beside] = sums.get(name) ?? [0, 0];
    sums.set(name, [own + us, beside + (before.us + after.us) / 2]);
  });
  const times = { [fallback]: fastest };
  for (const [name, [own, beside]] of sums) times[name] = beside > 0 ? (fastest * own) / beside : own;
  return times;
}

// { chosen, us } from `best` (name -> µs per run): the fastest, the default (`fallback`) unless
// another beats it by MARGIN.
function pick(best, fallback) {
  let chosen = fallback;
  const limit = (best.get(fallback) ?? Infinity) * (1 - MARGIN);
  for (const [name, time] of best) {
    if (time < limit && time < (best.get(chosen) ?? Infinity)) chosen = name;
  }
  return { chosen, us: Object.fromEntries(best) };
}

const TIMED_OUT = Symbol('timed out');

// What `promise` resolves to, or TIMED_OUT once performance.now() passes `at` (ms) first.
async function beforeDeadline(promise, at) {
  let timer;
  const timeout = new Promise((resolve) => { timer = setTimeout(resolve, Math.max(0, at - performance.now()), TIMED_OUT); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// { compiled: Promise<Dispatch | null> } of make() -> Promise<Dispatch>: the dispatch once its
// pipeline has compiled, null where it cannot be made or compiled. The device's validation errors
// while it is made (a shader that does not compile reports one) are caught here rather than left
// to fail the model; one make() at a time, so that the error scope is its own.
async function madeDispatch(gpu, make) {
  gpu.device.pushErrorScope('validation');
  const dispatch = await make().catch(() => null);
  const error = await gpu.device.popErrorScope();
  if (error || !dispatch) return { compiled: Promise.resolve(null) };
  return { compiled: dispatch.compiled.then(() => dispatch, () => null) };
}

// Time (µs) of one compute pass of `repeats` runs of `dispatches` in turn (kernels.js Dispatches,
// each encoded with `count`: chunk rows, or an attention's splits): GPU timestamps where the device has 'timestamp-query', else the
// wall clock from submit to onSubmittedWorkDone. Rejects when the device reports an error for it.
async function timePass(gpu, dispatches, repeats, count) {
  const { device } = gpu;
  const timestamps = device.features.has('timestamp-query');
  const querySet = timestamps ? device.createQuerySet({ label: 'tuning', type: 'timestamp', count: 2 }) : null;
  const resolved = timestamps ? gpu.buffer({ label: 'tuning timestamps', size: 16,
    usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
  const read = timestamps ? gpu.buffer({ label: 'tuning timestamps readback', size: 16,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
  try {
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: 'tuning' });
    const pass = encoder.beginComputePass(timestamps
      ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
    for (let i = 0; i < repeats; i++) dispatches[i % dispatches.length].encode(pass, count);
    pass.end();
    if (timestamps) {
      encoder.resolveQuerySet(querySet, 0, 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, read, 0, 16);
    }
    const start = performance.now();
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new Error(`timing ${dispatches[0].name}: ${error.message}`);
    let ns;
    if (timestamps) {
      await read.mapAsync(GPUMapMode.READ);
      const [begin, end] = new BigInt64Array(read.getMappedRange());
      ns = Number(end - begin);
      read.unmap();
    } else {
      await device.queue.onSubmittedWorkDone();
      ns = 1e6 * (performance.now() - start);
    }
    return ns / 1000;
  } finally {
    querySet?.destroy();
    if (timestamps) [resolved, read].forEach((buffer) => gpu.release(buffer));
  }
}

// --- the cache -------------------------------------------------------------------------------------

// The store key of a model's tuned choices: the adapter and the features the kernels use, the
// manifest, every WGSL source a tuned variant composes with the path's preamble, and each shape's
// variants (a change to any of them is a new search).
async function cacheKey(gpu, kernels, manifest, shapes) {
  const files = new Set(['common', ...kernels.libraries]);
  for (const shape of shapes) {
    for (const site of shape.sites) {
      site.files.forEach((file) => files.add(file));
      for (const variant of shape.variants) shape.tuned.files(site, variant).forEach((file) => files.add(file));
    }
  }
  const sources = await Promise.all([...files].sort().map((file) => readText(new URL(`${file}.wgsl`, kernels.base).href)));
  const text = JSON.stringify([gpu.adapter, gpu.features, gpu.subgroupSizes, gpu.limits.maxComputeWorkgroupStorageSize,
    kernels.preamble, sources, manifest, shapes.map(({ key, variants }) => [key, variants])]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
  return `kernels ${manifest.model_id} ${Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}

// run()'s result, or undefined (with a console warning) where it throws: a cache that fails is no cache.
async function attempt(what, run) {
  try {
    return await run();
  } catch (error) {
    console.warn(`Could not ${what}: ${error.message}`);
    return undefined;
  }
}

/**
 * @typedef {object} TuningStore  where tuned choices are kept between loads
 * @property {(key: string) => Promise<object | undefined> | object | undefined} get  the record stored under key
 * @property {(key: string, record: object) => Promise<void> | void} set
 * (a Map is one, for a cache that lasts as long as the process)
 */

const DATABASE = 'sitegen-kernel-tuning';
const OBJECTS = 'choices';

/** The TuningStore of browsers: an IndexedDB database of this origin. Rejects where IndexedDB fails. */
export class IndexedDBStore {
  async get(key) {
    return this.#request('readonly', (objects) => objects.get(key));
  }

  async set(key, record) {
    await this.#request('readwrite', (objects) => objects.put(record, key));
  }

  // The result of ask(object store) -> IDBRequest in one transaction of `mode`, once it is complete.
  async #request(mode, ask) {
    const database = await settled(() => {
      const opening = indexedDB.open(DATABASE, 1);
      opening.onupgradeneeded = () => opening.result.createObjectStore(OBJECTS);
      return opening;
    });
    try {
      const transaction = database.transaction(OBJECTS, mode);
      const complete = new Promise((resolve, reject) => {
        transaction.oncomplete = resolve;
        transaction.onerror = () => reject(transaction.error);
        transaction.onabort = () => reject(transaction.error ?? new Error('IndexedDB transaction aborted'));
      });
      const [result] = await Promise.all([settled(() => ask(transaction.objectStore(OBJECTS))), complete]);
      return result;
    } finally {
      database.close();
    }
  }
}

// An IDBRequest's result (request() makes it), or its error.
function settled(request) {
  return new Promise((resolve, reject) => {
    const asked = request();
    asked.onsuccess = () => resolve(asked.result);
    asked.onerror = () => reject(asked.error);
  });
}
