// Causal attention of the chunk's queries over the KV cache (GQA: query head h reads KV head
// h / (HEADS / KV_HEADS)), scores scaled by SCALE (head_dim or query_pre_attn_scalar to the -1/2)
// and soft-capped where SOFTCAP > 0 (attn_logit_softcapping). With WINDOW > 0 (a sliding layer) a
// query at position p sees positions p - WINDOW + 1 ..= p only (transformers' sliding_window_overlay). One workgroup per (head, row); the cache is walked WG positions at a
// time with an online softmax (running maximum; the accumulators are rescaled when it grows), so
// any context length fits in fixed workgroup memory. Invocation i scores position s0 + i; for the
// weighted sum of values the invocations split as (vec4 of dimensions, plane): plane p sums
// positions p, p + PLANES, ... and the planes are added at the end. Loops have fixed trip counts
// and clamped loads so the compiler can keep loads in flight.

@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;        // [rows, H D]
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
@group(0) @binding(4) var<storage, read_write> out: array<vec4<T>>;  // [rows, H D]

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;  // a multiple of 4; WG a multiple of HEAD_DIM / 4
override CONTEXT: u32;
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;  // 0: every earlier position

const LOWEST = -3.0e38;

var<workgroup> query: array<vec4<f32>, HEAD_DIM / 4u>;
var<workgroup> weights: array<f32, WG>;
var<workgroup> partial: array<vec4<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let quads = HEAD_DIM / 4u;
  let planes = WG / quads;
  let quad = lid % quads;
  let plane = lid / quads;
  let head = wid.x;
  let m = wid.y;
  let kv = head / (HEADS / KV_HEADS);
  let length = params.pos + m + 1u;  // causal: positions first ..= this row's
  let first = select(0u, length - WINDOW, WINDOW > 0u && length > WINDOW);
  if (lid < quads) { query[lid] = q[(m * HEADS + head) * quads + lid] * SCALE; }
  workgroupBarrier();

  var running_max = LOWEST;
  var own_sum = 0.0;          // this invocation's share of the softmax denominator
  var acc = vec4<f32>();      // this invocation's plane of the weighted value sum
  for (var s0 = first; s0 < length; s0 += WG) {
    let s = s0 + lid;
    let key_row = (kv * CONTEXT + min(s, length - 1u)) * quads;
    var score = 0.0;
    for (var i = 0u; i < quads; i++) { score += dot(query[i], vec4<f32>(k_cache[key_row + i])); }
    score = select(LOWEST, soft_cap(score, SOFTCAP), s < length);
    let new_max = max(running_max, max_f32(score, lid));
    let rescale = exp(running_max - new_max);
    let p = select(0.0, exp(score - new_max), s < length);
    own_sum = own_sum * rescale + p;
    weights[lid] = p;
    workgroupBarrier();
    acc *= rescale;
    for (var k = 0u; k < quads; k++) {  // WG / planes = quads positions per plane
      let j = k * planes + plane;
      let value_row = (kv * CONTEXT + min(s0 + j, length - 1u)) * quads;
      acc += weights[j] * vec4<f32>(v_cache[value_row + quad]);  // weights past the end are 0
    }
    running_max = new_max;
    workgroupBarrier();
  }
  let total = sum_f32(own_sum, lid);
  partial[lid] = acc;
  workgroupBarrier();
  if (plane == 0u) {
    var sum = vec4<f32>();
    for (var p = 0u; p < planes; p++) { sum += partial[p * quads + quad]; }
    out[(m * HEADS + head) * quads + quad] = vec4<T>(sum / total);
  }
}
