// Sampling, the gather, over many workgroups (after sample_scores.wgsl and, at a temperature,
// sample_narrow.wgsl's rounds; before sample.wgsl): the ids of the scores among which the draw's
// thresholds lie (sample_bounds.wgsl listed_keys), listed per span so that the one workgroup of
// sample.wgsl need not scan the whole vocabulary: workgroup w writes those of ids [w * SPAN,
// (w + 1) * SPAN), in id order, at candidates[V + w * SPAN ..], their count at candidates[2 V + w]
// and the weight of its scores above them (kept by any threshold among them: top-p alone's above
// the narrowed bounds) at candidates[2 V + GROUPS + w], as f32 bits; sample.wgsl lays the lists end
// to end. Returns at once for a greedy draw.

@group(0) @binding(1) var<storage, read> partials: array<vec2<u32>>;     // [GROUPS] from the first stage
@group(0) @binding(3) var<storage, read_write> candidates: array<u32>;   // [2 V + 2 GROUPS]: see above
@group(0) @binding(4) var<storage, read> scores: array<f32>;             // [V] from the first stage

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (params.temperature <= 0.0) { return; }
  let top = top_partial(lid);
  let keys = listed_keys(draw_bounds(top, lid), top);
  // invocation t: ids first + t * per .. (per <= 32: its listed ones as bits of one word)
  let per = SPAN / WG;
  let first = wid.x * SPAN + lid * per;
  var listed = 0u;
  var above = 0.0;
  for (var i = 0u; i < per; i++) {
    let id = first + i;
    let score = scores[min(id, V - 1u)];
    let key = key_of(score);
    listed |= select(0u, 1u << i, id < V && key >= keys.x && key <= keys.y);
    above += select(0.0, weight_of(score, value_of(top.x)), id < V && key > keys.y);
  }
  var at = wid.x * SPAN + u32(prefix_sum(f32(countOneBits(listed)), lid).x);
  for (var i = 0u; i < per; i++) {
    if ((listed & (1u << i)) != 0u) {
      candidates[V + at] = first + i;
      at++;
    }
  }
  let count = u32(workgroupUniformLoad(&prefix_total));
  let above_all = sum_f32(above, lid);
  if (lid == 0u) {
    candidates[2u * V + wid.x] = count;
    candidates[2u * V + GROUPS + wid.x] = bitcast<u32>(above_all);
  }
}
