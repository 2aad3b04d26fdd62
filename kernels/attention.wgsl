// Causal attention of the chunk's queries over the KV cache (GQA: query head h reads KV head
// h / (HEADS / KV_HEADS)), scores scaled by SCALE (head_dim or query_pre_attn_scalar to the -1/2)
// and soft-capped where SOFTCAP > 0 (attn_logit_softcapping). With WINDOW > 0 (a sliding layer) a
// query at position p sees positions p - WINDOW + 1 ..= p only (transformers' sliding_window_overlay).
//
// Two grids, one walk. SPLIT = 0 (prefill chunks, short decode steps): one workgroup per (query
// head, row) walks the row's positions and writes its output to `out`. SPLIT > 0 (flash-decoding,
// Dao et al. 2023, for one decode row over a long context): one workgroup per (QUERIES query heads
// of one KV head's group, split), split s walking SPLIT positions from first + s SPLIT, so each K
// and V row is read once for those heads; it leaves each head's partial softmax state in
// `partials` (its maximum score m, l = Σ exp(score - m), a = Σ exp(score - m) v) for
// attention_combine.wgsl to merge. A group larger than QUERIES takes ceil(group / QUERIES) workgroups.
//
// The walk goes WG positions at a time with an online softmax (Milakov & Gimelshein 2018: running
// maximum; the accumulators are rescaled when it grows), so any length fits in fixed workgroup
// memory. Invocation i scores position s0 + i against each of the workgroup's query heads (lane g
// of a vec4 for head g: KEYS_AHEAD quads of its key row loaded, then scored, in turn); for the
// weighted sum of values the invocations split as (vec4 of dimensions, plane): plane p sums
// positions p, p + PLANES, ... and the planes are added at the end. WG stays a power of two (the
// reductions need one) whatever HEAD_DIM is: where HEAD_DIM / 4
// does not divide WG (Phi-3's 96), the lanes past the last whole plane repeat its work and are
// dropped, and each plane walks SPAN = ceil(WG / PLANES) positions, the slots past WG holding
// weight 0. For a power-of-two HEAD_DIM, PLANES * SPAN == WG: no padding, the same work as a
// kernel written for it alone. Loops have fixed trip counts and clamped loads so the compiler can
// keep loads in flight.

@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;        // [rows, H D]
@group(0) @binding(2) var<storage, read> k_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
@group(0) @binding(3) var<storage, read> v_cache: array<vec4<T>>;    // [KVH, CONTEXT, D]
// SPLIT = 0: the output, by the part that emits it (attention_out.wgsl: `out` [rows, H D];
// attention_out_int16.wgsl: int16 groups for the output projection's GEMV)
// SPLIT > 0: [splits, H, D / 4 + 1] vec4s: a head's a (D / 4), then (m, l, splits, 0)
@group(0) @binding(5) var<storage, read_write> partials: array<vec4<f32>>;

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;  // a multiple of 4, with HEAD_DIM / 4 <= WG
override CONTEXT: u32;
override SCALE: f32;
override SOFTCAP: f32 = 0.0;
override WINDOW: u32 = 0u;   // 0: every earlier position
override SPLIT: u32 = 0u;    // positions per split (one decode row); 0: each workgroup walks them all
// query heads per workgroup: 1 to 4 (a vec4's lanes), HEAD_DIM floats of workgroup memory each
override QUERIES: u32 = 1u;
// values per invocation loaded with a tile's keys, at most MAX_EARLY (runtime/webgpu/model.js: a
// short decode step's, whose one workgroup per head waits on each load; prefill chunks' many
// workgroups hide that wait, and the registers cost them more than it saves)
override EARLY: u32 = 0u;
const MAX_EARLY = 16u;
// quads of a key row an invocation loads before it scores them, at most MAX_KEYS_AHEAD (model.js:
// a decode step's, for the same reason as EARLY; prefill chunks 1, each load then its dot products)
override KEYS_AHEAD: u32 = 1u;
const MAX_KEYS_AHEAD = 16u;

// Derived from the above (the host sets neither): the value sum's planes of HEAD_DIM / 4 lanes
// that fit in WG, and the positions of a tile each plane sums.
override PLANES: u32 = WG / (HEAD_DIM / 4u);
override SPAN: u32 = (WG + PLANES - 1u) / PLANES;

const LOWEST = -3.0e38;

var<workgroup> query: array<vec4<f32>, QUERIES * HEAD_DIM / 4u>;  // [QUERIES, D], scaled
// the tile's weights (lane g: head g) of its WG positions, then 0s; at the end, the planes' sums
var<workgroup> tile: array<vec4<f32>, PLANES * SPAN>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let quads = HEAD_DIM / 4u;
  let quad = lid % quads;
  let plane = min(lid / quads, PLANES - 1u);  // lanes past the last plane repeat it
  let group = HEADS / KV_HEADS;
  let parts = (group + QUERIES - 1u) / QUERIES;  // workgroups per KV head
  let kv = wid.x / parts;
  let head0 = kv * group + wid.x % parts * QUERIES;   // the workgroup's first query head
  let part_heads = min(QUERIES, (kv + 1u) * group - head0);  // the group's last part may hold fewer
  let split = select(0u, wid.y, SPLIT > 0u);
  let m = wid.y - split;  // the chunk's row (0 when split: decoding)
  let length = params.pos + m + 1u;  // causal: positions first ..= this row's
  let first = select(0u, length - WINDOW, WINDOW > 0u && length > WINDOW);
  let start = first + split * SPLIT;
  let end = select(length, min(start + SPLIT, length), SPLIT > 0u);
  for (var i = lid; i < QUERIES * quads; i += WG) {
    let g = i / quads;
    query[i] = vec4<f32>();  // a query head past the group's: scored, never written
    if (g < part_heads) { query[i] = q[(m * HEADS + head0 + g) * quads + i % quads] * SCALE; }
  }
  if (lid < PLANES * SPAN - WG) { tile[WG + lid] = vec4<f32>(); }  // never written again
  workgroupBarrier();

  // lane g: head g's running maximum and this invocation's share of its softmax denominator
  var running_max = vec4<f32>(LOWEST);
  var own_sum = vec4<f32>();
  var acc: array<vec4<f32>, 4>;  // head g's plane of the weighted value sum
  for (var s0 = start; s0 < end; s0 += WG) {
    let s = s0 + lid;
    // this invocation's first EARLY values of the tile, loaded with its keys (they do not depend on
    // the scores): one wait on memory per tile where there were two
    var early: array<vec4<f32>, MAX_EARLY>;
    for (var k = 0u; k < min(SPAN, EARLY); k++) {
      early[k] = vec4<f32>(v_cache[(kv * CONTEXT + min(s0 + k * PLANES + plane, end - 1u)) * quads + quad]);
    }
    // q · k of position s (clamped to end - 1: a position past the row's is scored, then dropped)
    let key_row = (kv * CONTEXT + min(s, end - 1u)) * quads;
    var score = vec4<f32>();
    for (var i0 = 0u; i0 < quads; i0 += KEYS_AHEAD) {
      var keys: array<vec4<f32>, MAX_KEYS_AHEAD>;
      for (var j = 0u; j < KEYS_AHEAD; j++) { keys[j] = vec4<f32>(k_cache[key_row + min(i0 + j, quads - 1u)]); }
      for (var j = 0u; j < KEYS_AHEAD; j++) {
        let i = i0 + j;
        if (i < quads) { for (var g = 0u; g < QUERIES; g++) { score[g] += dot(query[g * quads + i], keys[j]); } }
      }
    }
    var rescale = vec4<f32>();
    var p = vec4<f32>();
    for (var g = 0u; g < QUERIES; g++) {
      let capped = select(LOWEST, soft_cap(score[g], SOFTCAP), s < end);
      let new_max = max(running_max[g], max_f32(capped, lid));
      rescale[g] = exp(running_max[g] - new_max);
      p[g] = select(0.0, exp(capped - new_max), s < end);
      running_max[g] = new_max;
    }
    own_sum = own_sum * rescale + p;
    tile[lid] = p;
    workgroupBarrier();
    for (var g = 0u; g < QUERIES; g++) { acc[g] *= rescale[g]; }
    for (var k = 0u; k < min(SPAN, EARLY); k++) {
      let weights = tile[k * PLANES + plane];  // 0 past end or WG
      for (var g = 0u; g < QUERIES; g++) { acc[g] += weights[g] * early[k]; }
    }
    for (var k = EARLY; k < SPAN; k++) {
      let j = k * PLANES + plane;
      let value = vec4<f32>(v_cache[(kv * CONTEXT + min(s0 + j, end - 1u)) * quads + quad]);
      let weights = tile[j];  // 0 past end or WG
      for (var g = 0u; g < QUERIES; g++) { acc[g] += weights[g] * value; }
    }
    workgroupBarrier();
  }
  let total = sum_vec4(own_sum, lid);
  for (var g = 0u; g < QUERIES; g++) {
    tile[lid] = acc[g];
    workgroupBarrier();
    let live = g < part_heads;
    let mine = lid < quads && live;
    var sum = vec4<f32>();
    if (mine) { for (var p = 0u; p < PLANES; p++) { sum += tile[p * quads + lid]; } }
    let head = head0 + g;
    if (SPLIT == 0u) {
      emit_output(m, head, lid, sum / total[g], live);
    } else if (mine) {
      let record = (split * HEADS + head) * (quads + 1u);
      partials[record + lid] = sum;
      if (lid == 0u) { partials[record + quads] = vec4<f32>(running_max[g], total[g], f32(grid.y), 0.0); }
    }
    workgroupBarrier();
  }
}
