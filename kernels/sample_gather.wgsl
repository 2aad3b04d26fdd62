// Sampling, the gather, over many workgroups (after sample_scores.wgsl and, at a temperature,
// sample_narrow.wgsl's rounds; before sample.wgsl): the ids of the scores a draw may keep, those at
// or above its bounds' low (sample_bounds.wgsl draw_bounds), listed per span so that the one
// workgroup of sample.wgsl need not scan the whole vocabulary: workgroup w writes the ids of
// [w * SPAN, (w + 1) * SPAN) it keeps, in id order, at candidates[V + w * SPAN ..] and their count
// at candidates[2 V + w]; sample.wgsl lays the lists end to end. Returns at once for a greedy draw.

@group(0) @binding(1) var<storage, read> partials: array<vec2<u32>>;     // [GROUPS] from the first stage
@group(0) @binding(3) var<storage, read_write> candidates: array<u32>;   // [2 V + GROUPS]: see above
@group(0) @binding(4) var<storage, read> scores: array<f32>;             // [V] from the first stage

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  if (params.temperature <= 0.0) { return; }
  let low = draw_bounds(top_partial(lid), lid).low;
  // invocation t: ids first + t * per .. (per <= 32: its kept ones as bits of one word)
  let per = SPAN / WG;
  let first = wid.x * SPAN + lid * per;
  var kept = 0u;
  for (var i = 0u; i < per; i++) {
    let id = first + i;
    kept |= select(0u, 1u << i, id < V && key_of(scores[min(id, V - 1u)]) >= low);
  }
  var at = wid.x * SPAN + u32(prefix_sum(f32(countOneBits(kept)), lid).x);
  for (var i = 0u; i < per; i++) {
    if ((kept & (1u << i)) != 0u) {
      candidates[V + at] = first + i;
      at++;
    }
  }
  let count = u32(workgroupUniformLoad(&prefix_total));
  if (lid == 0u) { candidates[2u * V + wid.x] = count; }
}
