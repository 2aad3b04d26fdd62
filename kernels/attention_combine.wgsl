// Flash-decoding's second step (Dao et al. 2023): one decode row's attention output from the
// partial softmax states that attention.wgsl's split workgroups (SPLIT > 0) left, one per split of
// the positions walked. Split s of a head holds its maximum score m_s, l_s = Σ exp(score - m_s) and
// a_s = Σ exp(score - m_s) v; with M = max m_s the output is Σ exp(m_s - M) a_s / Σ exp(m_s - M) l_s,
// merged here split by split with a running maximum (the online-softmax merge of Milakov &
// Gimelshein 2018, "Online normalizer calculation for softmax").
// Grid: one workgroup per query head, HEAD_DIM / 4 invocations, each one vec4 of its output,
// stored by the part that emits it (attention_out.wgsl | attention_out_int16.wgsl).

// [splits, H, D / 4 + 1] vec4s, as attention.wgsl writes them: a_s (D / 4), then (m_s, l_s, splits, 0)
@group(0) @binding(5) var<storage, read> partials: array<vec4<f32>>;

override HEADS: u32;
override HEAD_DIM: u32;

@compute @workgroup_size(HEAD_DIM / 4u)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let quads = HEAD_DIM / 4u;
  let record = quads + 1u;  // vec4s per (split, head)
  let head = wid.x;
  var state = partials[head * record + quads];  // split 0's (m, l, splits, 0), then the merged ones
  var acc = partials[head * record + lid];
  for (var s = 1u; s < u32(state.z); s++) {
    let at = (s * HEADS + head) * record;
    let other = partials[at + quads];
    let most = max(state.x, other.x);
    let kept = exp(state.x - most);
    let added = exp(other.x - most);
    acc = acc * kept + partials[at + lid] * added;
    state = vec4<f32>(most, state.y * kept + other.y * added, state.zw);
  }
  emit_output(0u, head, lid, acc / state.y, true);
}
