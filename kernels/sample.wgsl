// Sampling, last stage, in one workgroup (after sample_scores.wgsl, sample_narrow.wgsl's rounds
// where a truncation may keep most of the vocabulary, and sample_gather.wgsl): the best score from
// the first stage's partials; then, at temperature 0, that token, otherwise a draw from the
// temperature-scaled distribution truncated by top-k and top-p; then the optional
// log-probabilities. Writes the token where the next step's embedding lookup reads it and counts
// it for the frequency/presence penalties, so decoding needs no host round trip to go on.
//
// No sorting: top-k keeps the scores >= the largest threshold with at least k scores at or above
// it, top-p the largest threshold whose scores carry at least top_p of the (top-k) weight; ties at
// a threshold are all kept (as HF's top-k does); scores weighing under 1e-12 of the best are left
// out first (sample_bounds.wgsl, negligible_cut). Each threshold is found among the scores
// sample_gather.wgsl listed: with top-k (k <= GROUPS) those at or above the k-th best of the
// first stage's workgroup maxima (k workgroups hold a score at or above it, so every top-k score
// does too); where k is larger, those at or above the narrowing rounds' lower bound; top-p alone,
// those within the rounds' bounds (the weight above them summed per span); without rounds (CPU
// adapters) those above the negligible cut. At most WG of them: invocation i holds score i and the
// threshold is one of their keys, found by a walk over the others and a maximum (threshold_among);
// more: a search over the keys, 16 values a pass. The draw: the token whose interval of the kept
// weight, laid out in id order, holds random * total: the same distribution as any other order,
// found by a prefix sum over the spans' kept weights, then over the chosen span's ids.
//
// Log-probabilities are log-softmax of the scores (after penalties, bias and the token mask,
// before temperature): a banned token's is hugely negative (its score is the lowest f32).

@group(0) @binding(1) var<storage, read> partials: array<vec2<u32>>;  // [GROUPS] from the first stage
@group(0) @binding(2) var<storage, read_write> history: array<u32>;   // [V]
@group(0) @binding(3) var<storage, read_write> candidates: array<u32>;  // [2 V + 2 GROUPS]: the list's ids; sample_gather.wgsl's
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;    // [3 V]: scores; gathered scores; their weights
@group(0) @binding(5) var<storage, read_write> result: array<u32>;    // token, logprob, (token, logprob) x top_logprobs
@group(0) @binding(6) var<storage, read_write> tokens: array<u32>;    // tokens[0]: the next step's input

var<workgroup> search_span: u32;
var<workgroup> drawn_at: u32;
var<workgroup> drawn_span: u32;
var<workgroup> span_share: f32;
// (list_ends, span_weights and listed: 8 GROUPS + 8 WG bytes of workgroup memory beside the
// reductions'; with sampler.js's spans of 2048 ids, 1 KiB for a vocabulary of 256K)
var<workgroup> list_ends: array<u32, GROUPS>;  // where each span's list ends in the whole one
var<workgroup> span_weights: array<f32, GROUPS>;  // draw(): each span's kept weight
// the first WG entries of the whole list, (key, weight bits): threshold_among's walk reads every
// entry in every invocation, from storage 37 us for top-k 40 on an H200 (Qwen2-0.5B)
var<workgroup> listed: array<vec2<u32>, WG>;

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

// Lays sample_gather.wgsl's lists end to end, in span order: the ids at the start of candidates,
// their scores at scores[V..], their weights at scores[2V..]; returns how many (uniform). Each
// invocation sums the counts of a block of spans; a prefix sum gives every list's end; then
// entry e is copied from the span whose list ends first after e.
fn gathered(top_score: f32, lid: u32) -> u32 {
  let per = (GROUPS + WG - 1u) / WG;
  var own = 0u;
  for (var i = 0u; i < per; i++) { own += select(0u, candidates[2u * V + min(lid * per + i, GROUPS - 1u)], lid * per + i < GROUPS); }
  var end = u32(prefix_sum(f32(own), lid).x);
  for (var i = 0u; i < per; i++) {
    let g = lid * per + i;
    if (g < GROUPS) {
      end += candidates[2u * V + g];
      list_ends[g] = end;
    }
  }
  let count = u32(workgroupUniformLoad(&prefix_total));  // (a barrier: list_ends is complete)
  for (var e = lid; e < count; e += WG) {
    var g = 0u;  // the first span whose list ends after e
    var last = GROUPS - 1u;
    while (g < last) {
      let middle = (g + last) / 2u;
      if (list_ends[middle] > e) { last = middle; } else { g = middle + 1u; }
    }
    let id = candidates[V + g * SPAN + e - select(0u, list_ends[max(g, 1u) - 1u], g > 0u)];
    let score = scores[id];
    let weight = weight_of(score, top_score);
    candidates[e] = id;
    scores[V + e] = score;
    scores[2u * V + e] = weight;
    if (e < WG) { listed[e] = vec2<u32>(key_of(score), bitcast<u32>(weight)); }
  }
  storageBarrier();    // the list in storage, for search() and draw()
  workgroupBarrier();  // its first WG entries in `listed`, for threshold_among's walk
  return count;
}

// The largest key in [low, high] whose listed scores at or above it (the `count` gathered() laid
// out: every score at or above low among them) measure at least goal + share * (the measure at
// low); low where none does. (Top-k: goal k; top-p: share top_p; narrowed: the rounds' goal.)
// Where they are at most WG, invocation i tests score i's key by a walk over the others (in
// workgroup memory: `listed`); else a search.
fn threshold_among(low: u32, high: u32, goal: f32, share: f32, mode: u32, count: u32, lid: u32) -> u32 {
  if (count > WG) {
    var at_low = 0.0;
    if (share > 0.0) { at_low = kept_measure(low, mode, count, lid); }
    return search(low, high, goal + share * at_low, mode, count, lid);
  }
  let key = listed[min(lid, max(count, 1u) - 1u)].x;
  var at_or_above = 0.0;
  var at_low = 0.0;
  for (var j = 0u; j < count; j++) {
    let other = listed[j].x;
    let amount = measured(mode, bitcast<f32>(listed[j].y));
    at_or_above += select(0.0, amount, other >= key);
    at_low += select(0.0, amount, other >= low);
  }
  let reaches = lid < count && key >= low && key <= high && at_or_above >= goal + share * at_low;
  return max(low, argmax(vec2<u32>(select(0u, key, reaches), 0u), lid).x);
}

// The weight span g keeps at `kept`: its weight above the listed scores (sample_gather.wgsl's) and
// that of its listed scores at or above kept.
fn span_weight(g: u32, kept: u32) -> f32 {
  var weight = bitcast<f32>(candidates[2u * V + GROUPS + g]);
  for (var e = select(0u, list_ends[max(g, 1u) - 1u], g > 0u); e < list_ends[g]; e++) {
    weight += select(0.0, scores[2u * V + e], key_of(scores[V + e]) >= kept);
  }
  return weight;
}

// The draw among the scores with key >= kept: the id whose interval of their weight, laid out in id
// order, holds random * total. A prefix sum over the spans' kept weights (span_weight; each
// invocation a block of spans) finds the span and the share of its weight before the goal; then a
// prefix sum over runs of the span's ids, the same share of its total, and a walk of the run it
// falls in. Returns V where rounding put the goal past the end (the caller keeps the best token then).
fn draw(kept: u32, top_score: f32, lid: u32) -> u32 {
  if (lid == 0u) { drawn_at = V; drawn_span = GROUPS; }
  let per = (GROUPS + WG - 1u) / WG;
  var own = 0.0;
  for (var i = 0u; i < per; i++) {
    let g = lid * per + i;
    if (g < GROUPS) {
      span_weights[g] = span_weight(g, kept);
      own += span_weights[g];
    }
  }
  let sums = prefix_sum(own, lid);
  let goal = params.random * workgroupUniformLoad(&prefix_total);
  if (own > 0.0 && sums.x <= goal && goal < sums.y) {
    var before = sums.x;
    for (var i = 0u; i < per; i++) {
      let g = lid * per + i;
      let weight = select(0.0, span_weights[min(g, GROUPS - 1u)], g < GROUPS);
      if (weight > 0.0 && goal < before + weight) {
        drawn_span = g;
        span_share = (goal - before) / weight;
        break;
      }
      before += weight;
    }
  }
  let span = workgroupUniformLoad(&drawn_span);
  if (span == GROUPS) { return V; }
  let share = workgroupUniformLoad(&span_share);
  // the span's ids, a run of them in each invocation: one prefix sum over the runs' kept weights
  // gives the span's total and the run where share * total falls, which that invocation walks
  let run_length = (SPAN + WG - 1u) / WG;
  let first = span * SPAN + lid * run_length;
  let count = min(select(0u, SPAN - lid * run_length, lid * run_length < SPAN), run_length);
  var run_weight = 0.0;
  for (var i = 0u; i < count; i++) { run_weight += kept_weight(first + i, kept, top_score); }
  let sums_in_span = prefix_sum(run_weight, lid);
  let goal_in_span = share * workgroupUniformLoad(&prefix_total);
  if (run_weight > 0.0 && sums_in_span.x <= goal_in_span && goal_in_span < sums_in_span.y) {
    var passed = sums_in_span.x;
    for (var i = 0u; i < count; i++) {
      let weight = kept_weight(first + i, kept, top_score);
      if (weight > 0.0) {
        drawn_at = first + i;  // the run's last kept id where rounding left the goal past its end
        passed += weight;
        if (goal_in_span < passed) { break; }
      }
    }
  }
  return workgroupUniformLoad(&drawn_at);
}

// The weight of id's score where its key is at least kept, else 0 (ids past the vocabulary: 0).
fn kept_weight(id: u32, kept: u32, top_score: f32) -> f32 {
  let score = scores[min(id, V - 1u)];
  return select(0.0, weight_of(score, top_score), id < V && key_of(score) >= kept);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  let top = top_partial(lid);
  let top_score = value_of(top.x);

  var token = top.y;
  if (params.temperature > 0.0) {
    let narrowed = narrowed_search();
    let bounds = draw_bounds(top, lid);
    let count = gathered(top_score, lid);
    var kept = bounds.low;  // the draw keeps the scores with keys at or above it
    if (narrowed != NOT_NARROWED || top_k_cuts()) {
      // top-p alone's list leaves out the scores above its bounds (sample_bounds.wgsl listed_keys)
      let goal = bounds.goal - select(0.0, bounds.above, narrowed == MASS);
      kept = threshold_among(bounds.low, bounds.high, goal, 0.0, select(narrowed, COUNT, narrowed == NOT_NARROWED), count, lid);
    }
    if (params.top_p < 1.0 && narrowed != MASS) {  // over what top-k kept
      kept = threshold_among(kept, top.x, 0.0, params.top_p, MASS, count, lid);
    }
    let drawn = draw(kept, top_score, lid);
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
