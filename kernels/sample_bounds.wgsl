// The sampler's truncations' shared rules, and the bounds of a truncation that may keep most of
// the vocabulary (top-p alone, or a top-k beyond the first stage's workgroup count), narrowed over
// many workgroups. A part of sample_narrow.wgsl (ROUNDS dispatches between sample_scores.wgsl and
// sample.wgsl), sample_gather.wgsl and sample.wgsl, which all work out every round's bounds from
// the measures the rounds before wrote, in the same way.
//
// A truncation keeps the scores at or above a threshold: the largest value whose measure (the
// count of the scores at or above it for top-k; their weight exp((s - max) / T) for top-p) reaches
// the goal (k; top_p of the total weight). Where that may keep most of the vocabulary, the rounds
// narrow the threshold's bounds: each workgroup measures its span of scores at THRESHOLDS values
// spread evenly over the bounds (the first at the lower bound) and just above them; the sums over
// the workgroups say between which two values the threshold lies. From the first bounds (the
// negligible cut to the best score) two rounds of 256 leave 1/65536 of that span, holding a few
// scores unless many are (nearly) equal; sample.wgsl finishes the search among the scores left
// within the bounds, given the measure above them.

@group(0) @binding(7) var<storage, read_write> measures: array<f32>;  // [ROUNDS][NARROW_GROUPS][THRESHOLDS + 1]

override V: u32;              // vocabulary size
override GROUPS: u32;         // first-stage workgroups (sample_scores.wgsl), and sample_gather.wgsl's
override SPAN: u32;           // ids per first-stage workgroup, and per sample_gather.wgsl workgroup
override NARROW_GROUPS: u32;  // sample_narrow.wgsl's workgroups
override ROUNDS: u32;         // sample_narrow.wgsl's dispatches
override THRESHOLDS: u32;     // values each round measures

const NONE = 0xffffffffu;
const BATCH = 8u;  // loads a loop issues before using any (its trip count unknown when compiling)
const NEGLIGIBLE = 27.631021;  // -ln(1e-12)
// what a truncation measures over the scores at or above a value
const COUNT = 0u;  // how many (top-k)
const MASS = 1u;   // their weight (top-p)
const NOT_NARROWED = 2u;

struct Bounds {
  low: u32,    // key: the threshold is at least this
  high: u32,   // key: and at most this
  goal: f32,   // the measure the threshold's scores must reach
  above: f32,  // the measure of the scores above high
}

// The lowest score a draw keeps: what it leaves out, weights under 1e-12 of the best's, adds up to
// under V * 1e-12 < 2e-7 of the total, less than float rounding.
fn negligible_cut(top_score: f32) -> f32 {
  return top_score - NEGLIGIBLE * params.temperature;
}

// A score's weight in the draw: exp((s - max) / T), the best's 1.
fn weight_of(score: f32, top_score: f32) -> f32 {
  return exp((score - top_score) / params.temperature);
}

// What `mode` measures of one score: 1 for COUNT, its weight for MASS.
fn measured(mode: u32, weight: f32) -> f32 {
  return select(weight, 1.0, mode == COUNT);
}

fn top_k_cuts() -> bool {
  return params.top_k > 0u && params.top_k < V;
}

// Top-k cuts at the k-th best of the first stage's workgroup maxima (k <= GROUPS): no narrowing needed.
fn top_k_at_partials() -> bool {
  return top_k_cuts() && params.top_k <= GROUPS;
}

// The truncation the rounds narrow (uniform): top-k's where k is beyond the first stage's
// workgroup count (sample.wgsl cuts at the k-th best workgroup maximum otherwise), else top-p's
// where it comes alone; NOT_NARROWED when greedy, neither applies or there are no rounds (CPU
// adapters: sample.wgsl searches among every score above the negligible cut).
fn narrowed_search() -> u32 {
  if (params.temperature <= 0.0 || ROUNDS == 0u) { return NOT_NARROWED; }
  if (top_k_cuts()) { return select(COUNT, NOT_NARROWED, top_k_at_partials()); }
  return select(NOT_NARROWED, MASS, params.top_p < 1.0);
}

// The best (key, id) of the first stage's workgroup maxima.
fn top_partial(lid: u32) -> vec2<u32> {
  var best = vec2<u32>(0u, NONE);
  for (var g = lid; g < GROUPS; g += WG) { best = better(best, partials[g]); }
  return argmax(best, lid);
}

// Value j of a round over `bounds` as a key: j < THRESHOLDS spread evenly over the bounds' values
// from bounds.low (so non-decreasing in j), j = THRESHOLDS just above bounds.high.
fn threshold_at(bounds: Bounds, j: u32) -> u32 {
  if (j == THRESHOLDS) { return bounds.high + 1u; }
  let low = value_of(bounds.low);
  let value = low + f32(j) * ((value_of(bounds.high) - low) / f32(THRESHOLDS));
  return select(clamp(key_of(value), bounds.low, bounds.high), bounds.low, j == 0u);
}

// Round `round`'s measure at value j, summed over the workgroups in their order (BATCH loads in flight).
fn measure_at(round: u32, j: u32) -> f32 {
  var sum = 0.0;
  for (var g = 0u; g < NARROW_GROUPS; g += BATCH) {
    var batch: array<f32, BATCH>;
    for (var u = 0u; u < BATCH; u++) {
      batch[u] = measures[(round * NARROW_GROUPS + min(g + u, NARROW_GROUPS - 1u)) * (THRESHOLDS + 1u) + j];
    }
    for (var u = 0u; u < BATCH; u++) { sum += select(0.0, batch[u], g + u < NARROW_GROUPS); }
  }
  return sum;
}

// The bounds the first `rounds` rounds leave (all invocations call it; the same in each). Each
// round's measures fall as the value rises: the threshold lies between the largest value whose
// measure reaches the goal and the next value. The first value, at the lower bound, measures
// everything the bounds and above hold, so it reaches any goal that can be reached at all (else
// the threshold stays at the lower bound: everything is kept).
fn bounds_after(rounds: u32, top: vec2<u32>, lid: u32) -> Bounds {
  let mode = narrowed_search();
  var bounds = Bounds(key_of(negligible_cut(value_of(top.x))), top.x, f32(params.top_k), 0.0);
  for (var round = 0u; round < rounds; round++) {
    workgroupBarrier();
    for (var j = lid; j <= THRESHOLDS; j += WG) { round_measures[j] = measure_at(round, j); }
    workgroupBarrier();
    if (round == 0u && mode == MASS) { bounds.goal = params.top_p * round_measures[0]; }
    var reaches = 0u;
    for (var j = lid; j < THRESHOLDS; j += WG) {
      if (round_measures[j] >= bounds.goal) { reaches = max(reaches, j); }
    }
    let j = argmax(vec2<u32>(reaches, 0u), lid).x;
    bounds = Bounds(threshold_at(bounds, j), threshold_at(bounds, j + 1u) - 1u, bounds.goal, round_measures[j + 1u]);
  }
  return bounds;
}

var<workgroup> round_measures: array<f32, THRESHOLDS + 1u>;  // a round's, summed over the workgroups

var<workgroup> kth_key: u32;

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

// The bounds of a draw's threshold (all invocations call it; the same in each): narrowed (top-p
// alone, or top-k beyond GROUPS), the rounds' (bounds_after); else from the negligible cut (with
// top-k, k <= GROUPS: the k-th best workgroup maximum, if higher) to the best score, the goal k.
// The draw keeps only scores at or above its low.
fn draw_bounds(top: vec2<u32>, lid: u32) -> Bounds {
  if (narrowed_search() != NOT_NARROWED) { return bounds_after(ROUNDS, top, lid); }
  var cut = negligible_cut(value_of(top.x));
  if (top_k_at_partials()) { cut = max(cut, value_of(kth_partial_key(params.top_k, lid))); }
  return Bounds(key_of(cut), top.x, f32(params.top_k), 0.0);
}

// The keys [low, high] of the scores sample_gather.wgsl lists for sample.wgsl's thresholds, from the
// draw's bounds: within them for top-p alone narrowed (the many scores above them, kept whatever
// the threshold, are summed per span instead); else every one at or above their low (top-p may
// follow top-k: its threshold may lie above a narrowed top-k's bounds).
fn listed_keys(bounds: Bounds, top: vec2<u32>) -> vec2<u32> {
  return vec2<u32>(bounds.low, select(top.x, bounds.high, narrowed_search() == MASS));
}
