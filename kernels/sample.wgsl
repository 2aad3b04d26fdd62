// Sampling, second stage, in one workgroup (after sample_scores.wgsl, and where a truncation may
// keep most of the vocabulary, sample_narrow.wgsl's rounds): the best score from the first stage's
// partials; then, at temperature 0, that token, otherwise a draw from the temperature-scaled
// distribution truncated by top-k and top-p; then the optional log-probabilities. Writes the
// token where the next step's embedding lookup reads it and counts it for the frequency/presence
// penalties, so decoding needs no host round trip to go on.
//
// No sorting: top-k keeps the scores >= the largest threshold with at least k scores at or above
// it, top-p the largest threshold whose scores carry at least top_p of the (top-k) weight; ties at
// a threshold are all kept (as HF's top-k does); scores weighing under 1e-12 of the best are left
// out first (sample_bounds.wgsl, negligible_cut). Each threshold is found among few gathered
// scores: with top-k (k <= GROUPS), those at or above the k-th best of the first stage's workgroup
// maxima (k workgroups hold a score at or above it, so every top-k score does too); where top-p
// comes alone or k is larger, those within the bounds the rounds left (sample_bounds.wgsl), the
// measure above them known, or without rounds (CPU adapters) all above the negligible cut; top-p
// after top-k, those top-k kept. At most WG of them: invocation i
// holds score i and the threshold is one of their keys, found by a walk over the others and a
// maximum (threshold_among); more (many equal scores): a search over the keys, 16 values a pass.
// The draw: the token whose interval of the kept weight, laid out in the order (id % WG, id),
// holds random * total: the same distribution as any other order, found by a prefix sum over the
// invocations' ids, then over the chosen invocation's (draw).
//
// Log-probabilities are log-softmax of the scores (after penalties, bias and the token mask,
// before temperature): a banned token's is hugely negative (its score is the lowest f32).

@group(0) @binding(1) var<storage, read> partials: array<vec2<u32>>;  // [GROUPS] from the first stage
@group(0) @binding(2) var<storage, read_write> history: array<u32>;   // [V]
@group(0) @binding(3) var<storage, read_write> candidates: array<u32>;  // [V] gathered ids
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;    // [3 V]: scores; gathered scores; their weights
@group(0) @binding(5) var<storage, read_write> result: array<u32>;    // token, logprob, (token, logprob) x top_logprobs
@group(0) @binding(6) var<storage, read_write> tokens: array<u32>;    // tokens[0]: the next step's input

var<workgroup> search_span: u32;
var<workgroup> kth_key: u32;
var<workgroup> chunk_at: u32;
var<workgroup> chunk_goal: f32;
var<workgroup> drawn_at: u32;

// What `mode` measures (sample_bounds.wgsl: COUNT or MASS) of the `count` gathered scores with key
// >= each of 16 values, summed over the workgroup (all invocations call it).
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
      weights[u] = measured(mode, scores[2u * V + at]);
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

// What `mode` measures of the gathered scores with key >= low.
fn kept_measure(low: u32, mode: u32, count: u32, lid: u32) -> f32 {
  let all = vec4<u32>(low);
  return measure(array<vec4<u32>, 4>(all, all, all, all), mode, count, lid)[0].x;
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
    let at_values = measure(values, mode, count, lid);
    var next_low = low;
    var next_high = high;
    for (var j = 0u; j < 16u; j++) {
      let value = at_values[j / 4u][j % 4u];
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

// Keeps the scores whose keys lie in [low, high] at the start of scores[V..], their weights at
// scores[2V..] and their ids in candidates; returns how many. Invocation t reads ids t, t + WG, ... (coalesced, BATCH loads in
// flight) and writes its scores in that order after those of invocations before it.
fn gather(low: u32, high: u32, top_score: f32, lid: u32) -> u32 {
  let rounds = (V + WG * BATCH - 1u) / (WG * BATCH);
  var own = 0u;
  for (var r = 0u; r < rounds; r++) {
    var batch: array<f32, BATCH>;
    for (var u = 0u; u < BATCH; u++) { batch[u] = scores[min((r * BATCH + u) * WG + lid, V - 1u)]; }
    for (var u = 0u; u < BATCH; u++) {
      let key = key_of(batch[u]);
      own += select(0u, 1u, (r * BATCH + u) * WG + lid < V && key >= low && key <= high);
    }
  }
  var at = u32(prefix_sum(f32(own), lid).x);
  for (var r = 0u; r < rounds; r++) {
    var batch: array<f32, BATCH>;  // all loaded before the stores below, which could alias them
    for (var u = 0u; u < BATCH; u++) { batch[u] = scores[min((r * BATCH + u) * WG + lid, V - 1u)]; }
    for (var u = 0u; u < BATCH; u++) {
      let key = key_of(batch[u]);
      if ((r * BATCH + u) * WG + lid < V && key >= low && key <= high) {
        candidates[at] = (r * BATCH + u) * WG + lid;
        scores[V + at] = batch[u];
        scores[2u * V + at] = weight_of(batch[u], top_score);
        at++;
      }
    }
  }
  storageBarrier();
  return u32(workgroupUniformLoad(&prefix_total));  // uniform: the searches that use it have barriers
}

// The largest key in [low, high] whose gathered scores at or above it (the `count` gather() kept)
// measure at least goal + share * (the measure at low); low where none does. (Top-k: goal k; top-p:
// share top_p; narrowed: goal less what lies above high.) Where they are at most WG, invocation i
// tests score i's key by a walk over the others; else a search.
fn threshold_among(low: u32, high: u32, goal: f32, share: f32, mode: u32, count: u32, lid: u32) -> u32 {
  if (count > WG) {
    var at_low = 0.0;
    if (share > 0.0) { at_low = kept_measure(low, mode, count, lid); }
    return search(low, high, goal + share * at_low, mode, count, lid);
  }
  let key = key_of(scores[V + min(lid, max(count, 1u) - 1u)]);
  var at_or_above = 0.0;
  var at_low = 0.0;
  for (var j = 0u; j < count; j++) {
    let other = key_of(scores[V + j]);
    let amount = measured(mode, scores[2u * V + j]);
    at_or_above += select(0.0, amount, other >= key);
    at_low += select(0.0, amount, other >= low);
  }
  let reaches = lid < count && key >= low && key <= high && at_or_above >= goal + share * at_low;
  return max(low, argmax(vec2<u32>(select(0u, key, reaches), 0u), lid).x);
}

// The draw among the scores with key >= kept: the id whose interval of their weight, laid out in
// the order (id % WG, id), holds random * total. Where the gathered list holds every kept score and
// `listed` (at most WG) in all, in that order (gather), invocation i takes list entry i and one
// prefix sum finds it. Else invocation t sums the weight of its ids t, t + WG, ...; a prefix sum
// over the invocations finds the one whose ids hold random * total; then the workgroup sums those
// ids' weights in order, WG at a time, to find the id. Returns V where rounding put the goal past
// the end (the caller keeps the best token then).
fn draw(kept: u32, top_score: f32, listed: u32, lid: u32) -> u32 {
  if (lid == 0u) { chunk_at = WG; drawn_at = V; }
  if (listed > 0u) {
    let score = scores[V + min(lid, listed - 1u)];
    let keep = lid < listed && key_of(score) >= kept;
    let sums = prefix_sum(select(0.0, weight_of(score, top_score), keep), lid);
    let goal = params.random * workgroupUniformLoad(&prefix_total);
    if (keep && sums.x <= goal && goal < sums.y) { drawn_at = candidates[lid]; }
    return workgroupUniformLoad(&drawn_at);
  }
  let per = (V + WG - 1u) / WG;  // ids per invocation
  var own = 0.0;
  for (var r = 0u; r < per; r += BATCH) {
    var batch: array<f32, BATCH>;
    for (var u = 0u; u < BATCH; u++) { batch[u] = scores[min((r + u) * WG + lid, V - 1u)]; }
    for (var u = 0u; u < BATCH; u++) {
      let id = (r + u) * WG + lid;
      own += select(0.0, weight_of(batch[u], top_score), id < V && key_of(batch[u]) >= kept);
    }
  }
  let sums = prefix_sum(own, lid);
  let goal = params.random * workgroupUniformLoad(&prefix_total);
  if (own > 0.0 && sums.x <= goal && goal < sums.y) {
    chunk_at = lid;
    chunk_goal = goal - sums.x;
  }
  let chunk = workgroupUniformLoad(&chunk_at);
  if (chunk == WG) { return V; }
  let goal_in_chunk = workgroupUniformLoad(&chunk_goal);
  var passed = 0.0;  // the chunk's kept weight before this piece
  for (var piece = 0u; piece < (per + WG - 1u) / WG; piece++) {
    let id = (piece * WG + lid) * WG + chunk;
    let score = scores[min(id, V - 1u)];
    let keep = id < V && key_of(score) >= kept;
    let sums = passed + prefix_sum(select(0.0, weight_of(score, top_score), keep), lid);
    if (keep && sums.x <= goal_in_chunk && goal_in_chunk < sums.y) { drawn_at = id; }
    passed += workgroupUniformLoad(&prefix_total);
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
  let top = top_partial(lid);
  let top_score = value_of(top.x);

  var token = top.y;
  if (params.temperature > 0.0) {
    var kept: u32;   // the draw keeps the scores with keys at or above it
    var count: u32;  // scores gathered
    let narrowed = narrowed_search();
    if (narrowed != NOT_NARROWED) {
      let bounds = bounds_after(ROUNDS, top, lid);
      count = gather(bounds.low, bounds.high, top_score, lid);
      kept = threshold_among(bounds.low, bounds.high, bounds.goal - bounds.above, 0.0, narrowed, count, lid);
    } else {
      var cut = negligible_cut(top_score);
      if (top_k_at_partials()) { cut = max(cut, value_of(kth_partial_key(params.top_k, lid))); }
      kept = key_of(cut);
      count = gather(kept, top.x, top_score, lid);
      if (top_k_cuts()) { kept = threshold_among(kept, top.x, f32(params.top_k), 0.0, COUNT, count, lid); }
    }
    if (params.top_p < 1.0 && narrowed != MASS) {
      // over what top-k kept, gathered again where the list holds more than that
      if (narrowed == COUNT || (count > WG && top_k_cuts())) { count = gather(kept, top.x, top_score, lid); }
      kept = threshold_among(kept, top.x, 0.0, params.top_p, MASS, count, lid);
    }
    // the list holds every kept score unless top-p alone or top-k alone were narrowed
    let complete = narrowed == NOT_NARROWED || (narrowed == COUNT && params.top_p < 1.0);
    let drawn = draw(kept, top_score, select(0u, count, complete && count <= WG), lid);
    if (drawn < V) { token = drawn; }
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
