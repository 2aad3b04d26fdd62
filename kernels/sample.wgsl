// Sampling, second stage, in one workgroup (after sample_scores.wgsl): the best score from the
// first stage's partials; then, at temperature 0, that token, otherwise a draw from the
// temperature-scaled distribution truncated by top-k and top-p; then the optional
// log-probabilities. Writes the token where the next step's embedding lookup reads it and counts
// it for the frequency/presence penalties, so decoding needs no host round trip to go on.
//
// The draw first keeps the candidates whose weight exp((s - max) / T) is at least
// 1e-12: what it leaves out weighs under V * 1e-12 < 2e-7 of the total, less than float rounding.
// With top-k (k <= GROUPS) it also leaves out the scores below the k-th best of the first stage's
// workgroup maxima: k workgroups hold a score at or above it, so every top-k candidate does too,
// and the searches below walk a few candidates instead of most of the vocabulary (the same kept
// set, the same order, so the same token for the same draw).
// No sorting: top-k keeps the scores >= the largest threshold with at least k candidates at or
// above it, top-p the largest threshold whose candidates carry at least top_p of the (top-k)
// weight; ties at a threshold are all kept (as HF's top-k does). The draw: the candidate whose
// interval of the kept weight, laid out in a fixed order (see gather), holds random * total: the
// same distribution as any other order, found by a prefix sum over chunks of the candidates
// (draw). Where the candidates are at most WG (top-k, or a peaked distribution), one invocation
// holds each, and every threshold is one of their keys, found by a count over the others and a
// maximum (cut_among_few): a few workgroup steps in all. Otherwise the thresholds are searches
// over the order-preserving u32 keys of the scores: each measures 16 values per pass, so 8 passes
// cover 32 bits, and after each truncation the survivors are gathered again (each pass a reduction
// over the workgroup: hundreds of microseconds on a 128k vocabulary).
//
// Log-probabilities are log-softmax of the scores (after penalties, bias and the token mask,
// before temperature): a banned token's is hugely negative (its score is the lowest f32).

@group(0) @binding(1) var<storage, read> partials: array<vec2<u32>>;  // [GROUPS] from the first stage
@group(0) @binding(2) var<storage, read_write> history: array<u32>;   // [V]
@group(0) @binding(3) var<storage, read_write> candidates: array<u32>;  // [V] candidate ids
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;    // [3 V]: scores; candidates' scores; their weights
@group(0) @binding(5) var<storage, read_write> result: array<u32>;    // token, logprob, (token, logprob) x top_logprobs
@group(0) @binding(6) var<storage, read_write> tokens: array<u32>;    // tokens[0]: the next step's input

override V: u32;       // vocabulary size
override GROUPS: u32;  // first-stage workgroups

const NONE = 0xffffffffu;
const NEGLIGIBLE = 27.631021;  // -ln(1e-12)
const BATCH = 8u;
// what measure() adds up over the candidates for a value c
const COUNT = 0u;  // candidates with key >= c
const MASS = 1u;   // their weight

var<workgroup> sums: array<f32, WG>;  // inclusive_sum's
var<workgroup> search_span: u32;
var<workgroup> kth_key: u32;
var<workgroup> drawn_at: u32;

// The sum of `value` over invocations 0..lid (all invocations call it); sums[] holds every
// invocation's after it. Exact for counts (integers below 2^24).
fn inclusive_sum(value: f32, lid: u32) -> f32 {
  workgroupBarrier();
  sums[lid] = value;
  for (var stride = 1u; stride < WG; stride *= 2u) {
    workgroupBarrier();
    let add = select(0.0, sums[max(lid, stride) - stride], lid >= stride);
    workgroupBarrier();
    sums[lid] += add;
  }
  workgroupBarrier();
  return sums[lid];
}

fn measure(values: array<vec4<u32>, 4>, mode: u32, count: u32, lid: u32) -> array<vec4<f32>, 4> {
  var acc: array<vec4<f32>, 4>;
  // BATCH candidates per invocation per iteration, all loaded before any is used: the trip count
  // is not known when compiling, so this is what keeps many loads in flight
  for (var k = 0u; k < (count + WG * BATCH - 1u) / (WG * BATCH); k++) {
    var keys: array<u32, BATCH>;
    var weights: array<f32, BATCH>;
    for (var u = 0u; u < BATCH; u++) {
      let at = min((k * BATCH + u) * WG + lid, count - 1u);
      keys[u] = key_of(scores[V + at]);
      weights[u] = select(scores[2u * V + at], 1.0, mode == COUNT);
    }
    for (var u = 0u; u < BATCH; u++) {
      let i = (k * BATCH + u) * WG + lid;
      let key = vec4<u32>(keys[u]);
      let weight = vec4<f32>(select(0.0, weights[u], i < count));
      acc[0] += select(vec4<f32>(), weight, key >= values[0]);
      acc[1] += select(vec4<f32>(), weight, key >= values[1]);
      acc[2] += select(vec4<f32>(), weight, key >= values[2]);
      acc[3] += select(vec4<f32>(), weight, key >= values[3]);
    }
  }
  return array<vec4<f32>, 4>(sum_vec4(acc[0], lid), sum_vec4(acc[1], lid), sum_vec4(acc[2], lid), sum_vec4(acc[3], lid));
}

// Total weight of the candidates with key >= kept.
fn kept_weight(kept: u32, count: u32, lid: u32) -> f32 {
  let all = vec4<u32>(kept);
  return measure(array<vec4<u32>, 4>(all, all, all, all), MASS, count, lid)[0].x;
}

// The largest c in [low, high] with measure(c) >= goal (which falls as c rises), where
// measure(low) >= goal holds. Each round measures 16 values spread over the span and leaves at
// most 1/16 of it: 8 rounds cover 32 bits.
fn search(low_start: u32, high_start: u32, goal: f32, mode: u32, count: u32, lid: u32) -> u32 {
  var low = low_start;
  var high = high_start;
  for (var round = 0u; round < 8u; round++) {
    workgroupBarrier();
    if (lid == 0u) { search_span = high - low; }
    let span = workgroupUniformLoad(&search_span);  // the same in every invocation, made provably so
    if (span == 0u) { break; }
    let step = span / 16u + 1u;
    var values: array<vec4<u32>, 4>;
    for (var j = 0u; j < 16u; j++) { values[j / 4u][j % 4u] = low + select(span, (j + 1u) * step, step <= span / (j + 1u)); }
    let measured = measure(values, mode, count, lid);
    var next_low = low;
    var next_high = high;
    for (var j = 0u; j < 16u; j++) {
      let value = measured[j / 4u][j % 4u];
      if (value >= goal) {
        next_low = values[j / 4u][j % 4u];
      } else if (next_high == high) {
        next_high = values[j / 4u][j % 4u] - 1u;  // the first value that fails
      }
    }
    low = next_low;
    high = max(next_high, next_low);
  }
  return low;
}

// Keeps the ids with score >= cut at the start of candidates, with their scores and weights
// alongside; returns how many. Invocation t reads ids t, t + WG, ... (coalesced, BATCH loads in
// flight) and writes its candidates in that order after those of invocations before it, so the
// layout is fixed: ordered by (id % WG, id).
fn gather(cut: f32, top_score: f32, lid: u32) -> u32 {
  let rounds = (V + WG * BATCH - 1u) / (WG * BATCH);
  var own = 0u;
  for (var r = 0u; r < rounds; r++) {
    var batch: array<f32, BATCH>;
    for (var u = 0u; u < BATCH; u++) { batch[u] = scores[min((r * BATCH + u) * WG + lid, V - 1u)]; }
    for (var u = 0u; u < BATCH; u++) { own += select(0u, 1u, (r * BATCH + u) * WG + lid < V && batch[u] >= cut); }
  }
  var at = u32(inclusive_sum(f32(own), lid)) - own;
  for (var r = 0u; r < rounds; r++) {
    var batch: array<f32, BATCH>;  // all loaded before the stores below, which could alias them
    for (var u = 0u; u < BATCH; u++) { batch[u] = scores[min((r * BATCH + u) * WG + lid, V - 1u)]; }
    for (var u = 0u; u < BATCH; u++) {
      let i = (r * BATCH + u) * WG + lid;
      if (i < V && batch[u] >= cut) {
        candidates[at] = i;
        scores[V + at] = batch[u];
        scores[2u * V + at] = exp((batch[u] - top_score) / params.temperature);
        at++;
      }
    }
  }
  storageBarrier();
  return u32(workgroupUniformLoad(&sums[WG - 1u]));  // uniform: the searches that use it have barriers
}

// Top-k's and top-p's thresholds over `count` <= WG gathered candidates, invocation i holding
// candidate i: the largest threshold with at least k candidates at or above it is the k-th largest
// key, a maximum over the keys with k or more at or above them; top-p's likewise over the kept keys
// whose candidates at or above carry top_p of the kept weight. Returns the key every kept
// candidate has at least (`kept_start` where neither applies).
fn cut_among_few(kept_start: u32, count: u32, lid: u32) -> u32 {
  let mine = lid < count;
  let key = select(0u, key_of(scores[V + min(lid, count - 1u)]), mine);
  var kept = kept_start;
  if (params.top_k > 0u && params.top_k < count) {
    var at_or_above = 0u;
    for (var j = 0u; j < count; j++) { at_or_above += select(0u, 1u, key_of(scores[V + j]) >= key); }
    kept = argmax(vec2<u32>(select(0u, key, mine && at_or_above >= params.top_k), 0u), lid).x;
  }
  if (params.top_p < 1.0) {
    var mass = 0.0;   // kept weight at or above this candidate's key
    var total = 0.0;  // kept weight
    for (var j = 0u; j < count; j++) {
      let other = key_of(scores[V + j]);
      let w = scores[2u * V + j];
      total += select(0.0, w, other >= kept);
      mass += select(0.0, w, other >= key);
    }
    kept = argmax(vec2<u32>(select(0u, key, mine && key >= kept && mass >= params.top_p * total), 0u), lid).x;
  }
  return kept;
}

// The draw among the `count` gathered candidates with key >= kept: the one whose interval of the
// kept weight, laid out in the candidates' order, holds random * total. Invocation t sums the
// kept weight of positions [t C, (t + 1) C) (C = count / WG, rounded up), a prefix sum over the
// invocations finds the chunk, and its invocation walks it. Returns the drawn position in
// candidates, or count where rounding put random * total past the end.
fn draw(kept: u32, count: u32, lid: u32) -> u32 {
  let chunk = (count + WG - 1u) / WG;
  let start = min(lid * chunk, count);
  let end = min(start + chunk, count);
  var own = 0.0;
  for (var i = start; i < end; i++) { own += select(0.0, scores[2u * V + i], key_of(scores[V + i]) >= kept); }
  if (lid == 0u) { drawn_at = count; }
  let through = inclusive_sum(own, lid);
  let before = select(0.0, sums[max(lid, 1u) - 1u], lid > 0u);
  let goal = params.random * workgroupUniformLoad(&sums[WG - 1u]);
  if (own > 0.0 && before <= goal && goal < through) {
    var last = start;  // the chunk's last kept candidate: where rounding carries the walk past its end
    var at = before;
    for (var i = start; i < end; i++) {
      if (key_of(scores[V + i]) < kept) { continue; }
      last = i;
      at += scores[2u * V + i];
      if (goal < at) { break; }
    }
    drawn_at = last;
  }
  return workgroupUniformLoad(&drawn_at);
}

// The key of the k-th best of the first stage's partials (1 <= k <= GROUPS), in better()'s order:
// the one that exactly k - 1 others beat.
fn kth_partial_key(k: u32, lid: u32) -> u32 {
  for (var g = lid; g < GROUPS; g += WG) {
    let own = partials[g];
    var beaten_by = 0u;
    for (var h = 0u; h < GROUPS; h++) { beaten_by += select(0u, 1u, any(better(own, partials[h]) != own)); }
    if (beaten_by == k - 1u) { kth_key = own.x; }
  }
  return workgroupUniformLoad(&kth_key);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  var best = vec2<u32>(0u, NONE);
  for (var g = lid; g < GROUPS; g += WG) { best = better(best, partials[g]); }
  let top = argmax(best, lid);
  let top_score = value_of(top.x);

  var token = top.y;
  if (params.temperature > 0.0) {
    var cut = top_score - NEGLIGIBLE * params.temperature;
    if (params.top_k > 0u && params.top_k <= GROUPS) { cut = max(cut, value_of(kth_partial_key(params.top_k, lid))); }
    // after each truncation the survivors are gathered again, so later searches walk only them
    var kept = key_of(cut);  // every candidate's key is at least this
    var count = gather(cut, top_score, lid);
    if (count <= WG) {
      kept = cut_among_few(kept, count, lid);
    } else {
      if (params.top_k > 0u && params.top_k < count) {
        kept = search(kept, top.x, f32(params.top_k), COUNT, count, lid);
        count = gather(value_of(kept), top_score, lid);
      }
      if (params.top_p < 1.0) {
        kept = search(kept, top.x, params.top_p * kept_weight(kept, count, lid), MASS, count, lid);
        count = gather(value_of(kept), top_score, lid);
      }
    }
    let drawn = draw(kept, count, lid);
    if (drawn < count) { token = candidates[drawn]; }  // else rounding put the goal past the end
  }

  if (params.logprobs != 0u || params.top_logprobs > 0u) {
    var z = 0.0;
    for (var k = 0u; k < (V + WG - 1u) / WG; k++) {
      let i = k * WG + lid;
      z += select(0.0, exp(scores[min(i, V - 1u)] - top_score), i < V);
    }
    let log_total = top_score + log(sum_f32(z, lid));
    if (lid == 0u) { result[1] = bitcast<u32>(scores[token] - log_total); }
    var previous = vec2<u32>(NONE, 0u);  // before every real (key, id) in argmax order
    for (var n = 0u; n < params.top_logprobs; n++) {
      var next = vec2<u32>(0u, NONE);
      for (var k = 0u; k < (V + WG - 1u) / WG; k++) {
        let i = k * WG + lid;
        let candidate = vec2<u32>(key_of(scores[min(i, V - 1u)]), i);
        let after = candidate.x < previous.x || (candidate.x == previous.x && candidate.y > previous.y);
        if (after && i < V) { next = better(next, candidate); }
      }
      previous = argmax(next, lid);
      if (lid == 0u) {
        result[2u + 2u * n] = previous.y;
        result[3u + 2u * n] = bitcast<u32>(value_of(previous.x) - log_total);
      }
    }
  }

  if (lid == 0u) {
    result[0] = token;
    tokens[0] = token;
    history[token] += 2u;
  }
}
