// Sampling, a narrowing round (sample_bounds.wgsl says what the rounds compute), between
// sample_scores.wgsl and sample.wgsl: workgroup w measures ids [w * NARROW_SPAN, (w + 1) *
// NARROW_SPAN) at round ROUND's values, over the bounds the rounds before it left. Returns at once
// where no truncation needs narrowing (the host queues the rounds for every draw at a temperature).
//
// The span's scores within the bounds go to workgroup memory (in id order, so every sum below is
// in a fixed order), the measure of those above is summed once; then invocation j measures value j
// over the few scores held.

@group(0) @binding(1) var<storage, read> partials: array<vec2<u32>>;  // [GROUPS] from the first stage
@group(0) @binding(4) var<storage, read> scores: array<f32>;          // [V] from the first stage

override ROUND: u32;        // 0 .. ROUNDS - 1
override NARROW_SPAN: u32;  // ids per workgroup

// the span's scores within the bounds, four to an element (the rest zero, as workgroup memory starts)
var<workgroup> within_keys: array<vec4<u32>, NARROW_SPAN / 4u>;
var<workgroup> within_weights: array<vec4<f32>, NARROW_SPAN / 4u>;  // what the mode measures of each

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let mode = narrowed_search();
  if (mode == NOT_NARROWED) { return; }
  let top = top_partial(lid);
  let top_score = value_of(top.x);
  let bounds = bounds_after(ROUND, top, lid);
  let first = wid.x * NARROW_SPAN;

  var own = 0u;
  var above = 0.0;
  for (var i = lid; i < NARROW_SPAN; i += WG) {
    let id = first + i;
    let score = scores[min(id, V - 1u)];
    let key = key_of(score);
    own += select(0u, 1u, id < V && key >= bounds.low && key <= bounds.high);
    above += select(0.0, measured(mode, weight_of(score, top_score)), id < V && key > bounds.high);
  }
  // invocation t's scores within the bounds after those of invocations before it
  var at = u32(prefix_sum(f32(own), lid).x);
  let within = u32(workgroupUniformLoad(&prefix_total));
  for (var i = lid; i < NARROW_SPAN; i += WG) {
    let id = first + i;
    let score = scores[min(id, V - 1u)];
    let key = key_of(score);
    if (id < V && key >= bounds.low && key <= bounds.high) {
      within_keys[at / 4u][at % 4u] = key;
      within_weights[at / 4u][at % 4u] = measured(mode, weight_of(score, top_score));
      at++;
    }
  }
  let above_all = sum_f32(above, lid);
  workgroupBarrier();  // the stores above, for every invocation
  for (var j = lid; j <= THRESHOLDS; j += WG) {
    let value = vec4<u32>(threshold_at(bounds, j));
    var amounts = vec4<f32>();
    // none of them lies above the bounds (value j = THRESHOLDS)
    for (var e = 0u; e < select((within + 3u) / 4u, 0u, j == THRESHOLDS); e++) {
      amounts += select(vec4<f32>(), within_weights[e], within_keys[e] >= value);
    }
    measures[(ROUND * NARROW_GROUPS + wid.x) * (THRESHOLDS + 1u) + j] = above_all + (amounts.x + amounts.y + amounts.z + amounts.w);
  }
}
