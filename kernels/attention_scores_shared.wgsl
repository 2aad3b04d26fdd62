// A tile's scores, a run of HEAD_DIM / 4 invocations (in one subgroup) sharing their positions'
// keys: lane c of a run reads quad c of each of the run's positions in turn, so a run reads one key
// row at a time in consecutive words, where each invocation reading its own row alone
// (attention_scores_own.wgsl) has neighbours reading rows HEAD_DIM * 4 bytes apart. Each lane's
// partial dot products are then summed across the run by a butterfly (subgroupShuffleXor; a
// reduce-scatter of log2(run) steps, each lane keeping half of what it holds), which leaves lane c
// with its own position's score, as the other part does. Needs subgroups of a fixed size that
// HEAD_DIM / 4, a power of two, divides (runtime/webgpu/model.js picks); a part of attention.wgsl.
// Why: on one H200 (2026-12-03) a decode step's attention without its key loads took 34% less time
// (Qwen2-7B) and 27% less (Qwen2-0.5B), without its value loads (read by lanes of consecutive
// quads already) 5% and 3% less.

const MAX_RUN = 32u;  // lanes of a run at most: head_dim 128

// q · k of position s (clamped to end - 1: a position past the row's is scored, then dropped) for
// each of the workgroup's query heads (lane g: head g), KV head kv; lid: the invocation. Every
// invocation of a subgroup calls it together.
fn tile_scores(kv: u32, s: u32, end: u32, lid: u32) -> vec4<f32> {
  let quads = HEAD_DIM / 4u;  // the run's lanes
  let c = lid % quads;
  let first = s - c;  // the run's first position
  var partial: array<vec4<f32>, MAX_RUN>;  // [j]: quad c's share of position first + j's score
  for (var j = 0u; j < quads; j++) {
    let key = vec4<f32>(k_cache[(kv * CONTEXT + min(first + j, end - 1u)) * quads + c]);
    var share = vec4<f32>();
    for (var g = 0u; g < QUERIES; g++) { share[g] = dot(query[g * quads + c], key); }
    partial[j] = share;
  }
  // Each step halves what a lane holds: the lane with bit `half` of c set keeps the upper half
  // (moved down), the other the lower, each adding its partner's share of the positions it keeps.
  // After the last, lane c holds position first + c's whole score.
  for (var half = quads / 2u; half > 0u; half /= 2u) {
    let upper = (c & half) != 0u;
    for (var j = 0u; j < half; j++) {
      let low = partial[j];
      let high = partial[j + half];
      partial[j] = select(low, high, upper) + subgroupShuffleXor(select(high, low, upper), half);
    }
  }
  return partial[0];
}
