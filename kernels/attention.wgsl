// Causal attention of the chunk's queries over the KV cache (GQA: query head h reads KV head
// h / (HEADS / KV_HEADS)), scores scaled by SCALE (head_dim or query_pre_attn_scalar to the -1/2)
// and soft-capped where SOFTCAP > 0 (attn_logit_softcapping). With WINDOW > 0 (a sliding layer) a
// query at position p sees positions p - WINDOW + 1 ..= p only (transformers' sliding_window_overlay). One workgroup per (head, row); the cache is walked WG positions at a
// time with an online softmax (running maximum; the accumulators are rescaled when it grows), so
// any context length fits in fixed workgroup memory. Invocation i scores position s0 + i; for the
// weighted sum of values the invocations split as (vec4 of dimensions, plane): plane p sums
// positions p, p + PLANES, ... and the planes are added at the end. WG stays a power of two (the
// reductions need one) whatever HEAD_DIM is: where HEAD_DIM / 4 does not divide WG (Phi-3's 96),
// the lanes past the last whole plane repeat its work and are dropped, and each plane walks
// SPAN = ceil(WG / PLANES) positions, the slots past WG holding weight 0. For a power-of-two
// HEAD_DIM, PLANES * SPAN == WG: no padding, the same work as a kernel written for it alone.
// Loops have fixed trip counts and clamped loads so the compiler can keep loads in flight.

@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;        // [rows, H D]
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
@group(0) @binding(4) var<storage, read_write> out: array<vec4<T>>;  // [rows, H D]

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;  // a multiple of 4, with HEAD_DIM / 4 <= WG
override CONTEXT: u32;
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;  // 0: every earlier position

// Derived from the above (the host sets neither): the value sum's planes of HEAD_DIM / 4 lanes
// that fit in WG, and the positions of a tile each plane sums.
override PLANES: u32 = WG / (HEAD_DIM / 4u);
override SPAN: u32 = (WG + PLANES - 1u) / PLANES;

const LOWEST = -3.0e38;

var<workgroup> query: array<vec4<f32>, HEAD_DIM / 4u>;
var<workgroup> weights: array<f32, PLANES * SPAN>;  // the tile's WG weights, then 0s
var<workgroup> partial: array<vec4<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let quads = HEAD_DIM / 4u;
  let quad = lid % quads;
  let plane = min(lid / quads, PLANES - 1u);  // lanes past the last plane repeat it
  let head = wid.x;
  let m = wid.y;
  let kv = head / (HEADS / KV_HEADS);
  let length = params.pos + m + 1u;  // causal: positions first ..= this row's
  let first = select(0u, length - WINDOW, WINDOW > 0u && length > WINDOW);
  if (lid < quads) { query[lid] = q[(m * HEADS + head) * quads + lid] * SCALE; }
  if (lid < PLANES * SPAN - WG) { weights[WG + lid] = 0.0; }  // never written again
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
    for (var k = 0u; k < SPAN; k++) {
      let j = k * PLANES + plane;
      let value_row = (kv * CONTEXT + min(s0 + j, length - 1u)) * quads;
      acc += weights[j] * vec4<f32>(v_cache[value_row + quad]);  // weights past length or WG are 0
    }
    running_max = new_max;
    workgroupBarrier();
  }
  let total = sum_f32(own_sum, lid);
  partial[lid] = acc;
  workgroupBarrier();
  if (lid < quads) {
    var sum = vec4<f32>();
    for (var p = 0u; p < PLANES; p++) { sum += partial[p * quads + lid]; }
    out[(m * HEADS + head) * quads + lid] = vec4<T>(sum / total);
  }
}
