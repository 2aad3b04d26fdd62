// Workgroup-wide reductions without subgroups: a tree in workgroup memory (WG must be a power of
// two). Same functions as reduce_subgroups.wgsl: every invocation calls them together and gets the
// result.

var<workgroup> reduce_f32: array<vec4<f32>, WG>;
var<workgroup> reduce_u32: array<vec2<u32>, WG>;

fn sum_vec4(value: vec4<f32>, lid: u32) -> vec4<f32> {
  workgroupBarrier();
  reduce_f32[lid] = value;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { reduce_f32[lid] += reduce_f32[lid + stride]; }
  }
  workgroupBarrier();
  return reduce_f32[0];
}

// (key, index) with the largest key; among equal keys the smallest index.
fn argmax(best: vec2<u32>, lid: u32) -> vec2<u32> {
  workgroupBarrier();
  reduce_u32[lid] = best;
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    workgroupBarrier();
    if (lid < stride) { reduce_u32[lid] = better(reduce_u32[lid], reduce_u32[lid + stride]); }
  }
  workgroupBarrier();
  return reduce_u32[0];
}

var<workgroup> prefix_total: f32;  // prefix_sum's workgroup total

// The sums of `value` over the invocations before lid and through lid: (before, through), where
// invocation i + 1's before is exactly invocation i's through, so the intervals [before, through)
// tile [0, total) in invocation order. prefix_total holds the total after it (read it with
// workgroupUniformLoad). Exact for counts (integers below 2^24). A Hillis-Steele scan.
fn prefix_sum(value: f32, lid: u32) -> vec2<f32> {
  workgroupBarrier();
  reduce_f32[lid].x = value;
  for (var stride = 1u; stride < WG; stride *= 2u) {
    workgroupBarrier();
    let add = select(0.0, reduce_f32[max(lid, stride) - stride].x, lid >= stride);
    workgroupBarrier();
    reduce_f32[lid].x += add;
  }
  workgroupBarrier();
  let through = reduce_f32[lid].x;
  let before = select(0.0, reduce_f32[max(lid, 1u) - 1u].x, lid > 0u);
  if (lid == WG - 1u) { prefix_total = through; }
  return vec2<f32>(before, through);
}
