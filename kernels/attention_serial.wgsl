// Causal attention for CPU adapters: what attention.wgsl computes with SPLIT = 0 (same bindings,
// overrides and GQA layout; runtime/webgpu/model.js picks this file where Kernels.cpuLike), without
// workgroup memory or barriers. CPU implementations run a barrier per subgroup, slowly, and
// gather every load lane by lane: on SwiftShader (2 cores, 2026-12-01) attention.wgsl took 16 of a
// 128-token prefill's 49 s for SmolLM2-135M, about 7 us per barrier per workgroup of 64; this
// kernel takes 31-35 ms of a layer's 392-448 for those 128 rows (GPU timestamps).
//
// Invocation (KV head's part, row m) walks row m's positions alone, for the QUERIES query heads of
// its part of the KV head's group at once (lane g of a vec4 for head g), so each K and V row is read
// once for them. The walk goes BLOCK positions at a time with an online softmax (Milakov &
// Gimelshein 2018): the block's scores first, quad of head_dim by quad (a query quad loaded once
// per block), then one rescale of the accumulators and the block's weighted values, quad by quad.
// Grid: (KV_HEADS * parts, rows / WG), parts = ceil(group / QUERIES).

@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;        // [rows, H D]
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
@group(0) @binding(4) var<storage, read_write> out: array<vec4<T>>;  // [rows, H D]

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;  // a multiple of 4, at most 4 MAX_QUADS
override CONTEXT: u32;
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;   // 0: every earlier position
override QUERIES: u32 = 1u;  // query heads per invocation: 1 to 4

const LOWEST = -3.0e38;
const BLOCK = 16u;       // positions scored before their values are summed
const MAX_QUADS = 64u;   // head_dim 256 (function-scope arrays need a const size)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let m = wid.y * WG + lid;  // the chunk's row
  if (m >= params.rows) { return; }
  let quads = HEAD_DIM / 4u;
  let group = HEADS / KV_HEADS;
  let parts = (group + QUERIES - 1u) / QUERIES;
  let kv = wid.x / parts;
  let head0 = kv * group + wid.x % parts * QUERIES;
  let last_head = min(head0 + QUERIES, (kv + 1u) * group) - 1u;  // the group's last part may hold fewer
  let length = params.pos + m + 1u;  // causal: positions first ..= this row's
  let first = select(0u, length - WINDOW, WINDOW > 0u && length > WINDOW);
  // query head head0 + g's quad i (a head past the part's repeats its last; never written)
  let query = (m * HEADS + head0) * quads;
  let strides = vec4<u32>(0u, min(1u, last_head - head0), min(2u, last_head - head0), min(3u, last_head - head0)) * quads;

  var running_max = vec4<f32>(LOWEST);
  var total = vec4<f32>();                    // Σ exp(score - running_max), lane g: head g
  var acc: array<vec4<f32>, 4u * MAX_QUADS>;  // [quad, head]: Σ exp(score - running_max) v
  var weights: array<vec4<f32>, BLOCK>;       // the block's scores, then their weights
  for (var s0 = first; s0 < length; s0 += BLOCK) {
    for (var j = 0u; j < BLOCK; j++) { weights[j] = vec4<f32>(); }
    for (var i = 0u; i < quads; i++) {
      let q0 = q[query + strides.x + i];
      let q1 = q[query + strides.y + i];
      let q2 = q[query + strides.z + i];
      let q3 = q[query + strides.w + i];
      for (var j = 0u; j < BLOCK; j++) {
        let key = vec4<f32>(k_cache[(kv * CONTEXT + min(s0 + j, length - 1u)) * quads + i]);
        weights[j] += vec4<f32>(dot(q0, key), dot(q1, key), dot(q2, key), dot(q3, key));
      }
    }
    var block_max = vec4<f32>(LOWEST);
    for (var j = 0u; j < BLOCK; j++) {
      let score = weights[j] * SCALE;
      let capped = vec4<f32>(soft_cap(score.x, SOFTCAP), soft_cap(score.y, SOFTCAP), soft_cap(score.z, SOFTCAP),
                             soft_cap(score.w, SOFTCAP));
      weights[j] = select(vec4<f32>(LOWEST), capped, s0 + j < length);
      block_max = max(block_max, weights[j]);
    }
    let new_max = max(running_max, block_max);
    let rescale = exp(running_max - new_max);
    running_max = new_max;
    total *= rescale;
    for (var j = 0u; j < BLOCK; j++) {
      weights[j] = select(vec4<f32>(), exp(weights[j] - new_max), s0 + j < length);
      total += weights[j];
    }
    for (var i = 0u; i < quads; i++) {
      var a0 = acc[4u * i] * rescale.x;
      var a1 = acc[4u * i + 1u] * rescale.y;
      var a2 = acc[4u * i + 2u] * rescale.z;
      var a3 = acc[4u * i + 3u] * rescale.w;
      for (var j = 0u; j < BLOCK; j++) {
        let value = vec4<f32>(v_cache[(kv * CONTEXT + min(s0 + j, length - 1u)) * quads + i]);
        let w = weights[j];
        a0 += w.x * value; a1 += w.y * value; a2 += w.z * value; a3 += w.w * value;
      }
      acc[4u * i] = a0; acc[4u * i + 1u] = a1; acc[4u * i + 2u] = a2; acc[4u * i + 3u] = a3;
    }
  }
  for (var g = 0u; g <= last_head - head0; g++) {
    for (var i = 0u; i < quads; i++) {
      out[(m * HEADS + head0 + g) * quads + i] = vec4<T>(acc[4u * i + g] / total[g]);
    }
  }
}
