// Matrix-matrix product for prefill chunks on GPUs: y[m] = W · a[m] for every row m of the chunk,
// through workgroup-memory tiles (the classic shared-memory blocking; e.g. Volkov & Demmel 2008).
// A workgroup computes a block of 4 TILE_X weight-row slots by TOKENS_PER_BLOCK chunk rows. Per group of 32
// K values it stages the block's weights, dequantised once (word_weights of the scheme part), and
// the tokens' activations in workgroup memory, k-major; then each invocation computes a register
// tile of 4 slots (one vec4) by 8 tokens from it: 32 multiply-adds per 3 vector loads of
// workgroup memory, where gemm.wgsl (for CPU adapters, which run barriers slowly) loads an
// activation vector per 4. The tile's 8 accumulators are named variables, not an array indexed in
// the loop: on an H200 such an array went to local memory and made the kernel 3x slower than
// gemm.wgsl; named, it is 2.5-4x faster than gemm.wgsl (2026-12-01, Qwen2-7B's projections at
// 128 tokens: 10-15 TFLOP/s of f32). Invocation (x, y) = (lid % TILE_X, lid / TILE_X) takes
// slot tile x and tokens 8y ..= 8y + 7. A fused RMSNorm's sums of squares (in_norm.wgsl's group_squares) are taken by
// the invocation that stages a token's activations, in the same loads' step, and shared at the
// end through act_tile, whose activations are read by then: the kernel declares no workgroup
// memory beyond its two tiles (a separate array of them, 256 bytes more for 64 by 64, made
// Qwen2-7B's gate/up projection 1.2x as slow on one H200: runtime/webgpu/tuning.js GEMMS).
// Grid: (slot tiles / TILE_X, rows / TOKENS_PER_BLOCK). WG and TILE_X are the variant
// (runtime/webgpu/tuning.js GEMMS: its default, or the fastest timed on the device at load).
// Parts and epilogue calls as in gemv.wgsl.

@group(0) @binding(3) var<storage, read> act: array<vec4<T>>;  // input [rows, K]

override TILE_X: u32 = 8u;  // invocations along the slots, at least WG / 8 (each token is staged by one invocation)
const TOKENS = 8u;           // chunk rows per invocation
override SLOTS: u32 = 4u * TILE_X;                      // weight-row slots per workgroup
override TOKENS_PER_BLOCK: u32 = TOKENS * (WG / TILE_X);  // chunk rows per workgroup

var<workgroup> weight_tile: array<vec4<f32>, 32u * TILE_X>;           // [k, slot tile]: 4 slots' weights at k
// [k, token / 4]: 4 tokens' activations at k; after the last group, Σ x² of each token of the block
var<workgroup> act_tile: array<vec4<f32>, 8u * TOKENS_PER_BLOCK>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let x = lid % TILE_X;
  let y = lid / TILE_X;
  let outputs = select(4u, 2u, PAIRED);
  let last_row = select(N, 2u * N, PAIRED) - 1u;
  let m_block = wid.y * TOKENS_PER_BLOCK;
  let staging = lid < TOKENS_PER_BLOCK;                     // invocation lid stages token lid of the block
  let staged_token = min(m_block + lid, params.rows - 1u);  // (clamped to the chunk)

  var own_squares = 0.0;
  // slot s of tile x, tokens 8y + 0 ..= 8y + 7
  var c0 = vec4<f32>(); var c1 = vec4<f32>(); var c2 = vec4<f32>(); var c3 = vec4<f32>();
  var c4 = vec4<f32>(); var c5 = vec4<f32>(); var c6 = vec4<f32>(); var c7 = vec4<f32>();
  for (var g = 0u; g < K / 32u; g++) {
    // stage the block's weights: item i is word i % 4 of slot i / 4's group g
    for (var i = lid; i < 4u * SLOTS; i += WG) {
      let slot = i / 4u;
      let w = i % 4u;
      let row = min(slot_row(wid.x * TILE_X + slot / 4u, slot % 4u, 4u), last_row);
      let values = word_weights(row, g, w);
      for (var j = 0u; j < 8u; j++) {
        weight_tile[(8u * w + j) * TILE_X + slot / 4u][slot % 4u] = f32(values[j / 4u][j % 4u]);
      }
    }
    // stage the tokens' activations: group g of token lid
    if (staging) {
      for (var i = 0u; i < 8u; i++) {
        let a = vec4<f32>(act[(staged_token * K + 32u * g) / 4u + i]);
        for (var c = 0u; c < 4u; c++) { act_tile[(4u * i + c) * (TOKENS_PER_BLOCK / 4u) + lid / 4u][lid % 4u] = a[c]; }
      }
      own_squares += group_squares(staged_token, g);
    }
    workgroupBarrier();
    for (var k = 0u; k < 32u; k++) {
      let w = weight_tile[k * TILE_X + x];
      let a0 = act_tile[k * (TOKENS_PER_BLOCK / 4u) + 2u * y];
      let a1 = act_tile[k * (TOKENS_PER_BLOCK / 4u) + 2u * y + 1u];
      c0 = fma(w, vec4<f32>(a0.x), c0); c1 = fma(w, vec4<f32>(a0.y), c1);
      c2 = fma(w, vec4<f32>(a0.z), c2); c3 = fma(w, vec4<f32>(a0.w), c3);
      c4 = fma(w, vec4<f32>(a1.x), c4); c5 = fma(w, vec4<f32>(a1.y), c5);
      c6 = fma(w, vec4<f32>(a1.z), c6); c7 = fma(w, vec4<f32>(a1.w), c7);
    }
    workgroupBarrier();
  }
  if (staging) { act_tile[lid / 4u][lid % 4u] = own_squares; }  // behind the loop's last barrier
  workgroupBarrier();

  let acc = array<vec4<f32>, TOKENS>(c0, c1, c2, c3, c4, c5, c6, c7);
  let tile = wid.x * TILE_X + x;
  for (var t = 0u; t < TOKENS; t++) {
    let m = m_block + TOKENS * y + t;
    if (m >= params.rows) { break; }
    let token = TOKENS * y + t;
    let value = acc[t] * rms_scale(act_tile[token / 4u][token % 4u]);
    for (var s = 0u; s < outputs; s++) {
      let n = tile * outputs + s;
      if (n < N) { store(m, n, value[s], value[(s + 2u) % 4u], load_ahead(m, n)); }
    }
  }
}
