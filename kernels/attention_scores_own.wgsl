// A tile's scores, each invocation its own position's: it reads that position's key row alone,
// HEAD_DIM / 4 vec4 in turn (neighbouring invocations read rows HEAD_DIM * 4 bytes apart). A part of
// attention.wgsl for any head_dim and subgroup size (attention_scores_shared.wgsl is the other).

// q · k of position s (clamped to end - 1: a position past the row's is scored, then dropped) for
// each of the workgroup's query heads (lane g: head g), KV head kv; lid: the invocation.
fn tile_scores(kv: u32, s: u32, end: u32, lid: u32) -> vec4<f32> {
  let quads = HEAD_DIM / 4u;
  let key_row = (kv * CONTEXT + min(s, end - 1u)) * quads;
  var score = vec4<f32>();
  for (var i = 0u; i < quads; i++) {
    let key = vec4<f32>(k_cache[key_row + i]);
    for (var g = 0u; g < QUERIES; g++) { score[g] += dot(query[g * quads + i], key); }
  }
  return score;
}
