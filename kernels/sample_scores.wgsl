// Sampling, first stage, spread over many workgroups: the sampler's scores (HF repetition penalty
// on every token seen, OpenAI frequency and presence penalties on the generated counts, then the
// logit bias, then the token mask) and each workgroup's best (key, id) for sample.wgsl to finish.
// Workgroup w owns ids [w * SPAN, (w + 1) * SPAN).
//
// A token the mask bans scores BANNED, the lowest finite f32 (WGSL has no infinities): below
// every cut sample.wgsl makes, so never drawn; exp() of it less the best score is 0, so it adds
// nothing to the log-probabilities' normaliser. The host asserts the mask allows some token.

@group(0) @binding(1) var<storage, read> logits: array<f32>;             // [V]
@group(0) @binding(2) var<storage, read> history: array<u32>;            // [V]: bit 0 in the prompt, bits 1.. times generated
@group(0) @binding(3) var<storage, read> bias: array<vec2<u32>>;         // (token, f32 bits) [params.bias_count]
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;       // [V] (and sample.wgsl's scratch)
@group(0) @binding(5) var<storage, read_write> partials: array<vec2<u32>>;  // best (key, id) per workgroup
@group(0) @binding(6) var<storage, read> mask: array<u32>;               // [ceil(V / 32)], read when params.masked

override V: u32;     // vocabulary size
override SPAN: u32;  // ids per workgroup, a multiple of WG

const BANNED = -0x1.fffffep+127f;

// Token i may be sampled: no mask applies, or bit i % 32 of its word is set (xgrammar's layout).
fn allowed(i: u32) -> bool {
  return params.masked == 0u || ((mask[i / 32u] >> (i % 32u)) & 1u) != 0u;
}

fn penalized(logit: f32, seen: u32) -> f32 {
  let count = f32(seen >> 1u);
  var s = logit;
  if (seen != 0u) { s = select(s * params.repetition_penalty, s / params.repetition_penalty, s > 0.0); }
  return s - count * params.frequency_penalty - select(0.0, params.presence_penalty, count > 0.0);
}

fn best_in_span(first: u32, lid: u32) -> vec2<u32> {
  var best = vec2<u32>(0u, 0xffffffffu);
  for (var k = 0u; k < SPAN / WG; k++) {
    let i = first + k * WG + lid;
    let candidate = vec2<u32>(key_of(scores[min(i, V - 1u)]), i);
    if (i < V) { best = better(best, candidate); }
  }
  return argmax(best, lid);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let first = wid.x * SPAN;
  for (var k = 0u; k < SPAN / WG; k++) {
    let i = first + k * WG + lid;
    let j = min(i, V - 1u);
    let score = select(BANNED, penalized(logits[j], history[j]), allowed(j));
    if (i < V) { scores[i] = score; }
  }
  if (params.bias_count > 0u) {
    storageBarrier();
    for (var b = lid; b < params.bias_count; b += WG) {
      let entry = bias[b];
      // a banned token stays banned, whatever its bias
      if (entry.x >= first && entry.x < first + SPAN && allowed(entry.x)) { scores[entry.x] += bitcast<f32>(entry.y); }
    }
  }
  storageBarrier();
  let best = best_in_span(first, lid);
  if (lid == 0u) { partials[wid.x] = best; }
}
