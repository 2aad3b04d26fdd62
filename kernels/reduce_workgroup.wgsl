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
