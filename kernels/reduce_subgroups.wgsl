// Workgroup-wide reductions with subgroup operations: reduce inside each subgroup, then across
// the subgroups through workgroup memory. Assumes subgroup i holds invocations
// [i * size, (i + 1) * size), which is how every WebGPU implementation lays out 1-D workgroups.
// Every invocation of the workgroup must call these together (they contain barriers); each gets
// the result. A workgroup that is exactly one subgroup (WG == SUBGROUP) skips the barriers: they
// are what CPU implementations (SwiftShader, lavapipe) are slowest at.

// one slot per subgroup; WebGPU subgroups have at least 4 invocations
var<workgroup> reduce_f32: array<vec4<f32>, WG / 4u>;
var<workgroup> reduce_u32: array<vec2<u32>, WG / 4u>;

override SUBGROUP: u32 = 0u;  // the subgroup size where the adapter has one fixed size, else 0

fn sum_vec4(value: vec4<f32>, lid: u32) -> vec4<f32> {
  let partial = subgroupAdd(value);
  if (WG == SUBGROUP) { return partial; }
  let size = subgroupAdd(1u);
  workgroupBarrier();
  if (subgroupElect()) { reduce_f32[lid / size] = partial; }
  workgroupBarrier();
  var total = vec4<f32>();
  for (var i = 0u; i < WG / size; i++) { total += reduce_f32[i]; }
  return total;
}

// (key, index) with the largest key; among equal keys the smallest index.
fn argmax(best: vec2<u32>, lid: u32) -> vec2<u32> {
  let key = subgroupMax(best.x);
  let index = subgroupMin(select(0xffffffffu, best.y, best.x == key));
  if (WG == SUBGROUP) { return vec2<u32>(key, index); }
  let size = subgroupAdd(1u);
  workgroupBarrier();
  if (subgroupElect()) { reduce_u32[lid / size] = vec2<u32>(key, index); }
  workgroupBarrier();
  var result = reduce_u32[0];
  for (var i = 1u; i < WG / size; i++) { result = better(result, reduce_u32[i]); }
  return result;
}

var<workgroup> prefix_total: f32;  // prefix_sum's workgroup total

// The sums of `value` over the invocations before lid and through lid: (before, through), where
// invocation i + 1's before is exactly invocation i's through (one value, shuffled), so the
// intervals [before, through) tile [0, total) in invocation order. prefix_total holds the total
// after it (read it with workgroupUniformLoad). Exact for counts (integers below 2^24).
fn prefix_sum(value: f32, lid: u32) -> vec2<f32> {
  let size = subgroupAdd(1u);
  let within = subgroupInclusiveAdd(value);
  workgroupBarrier();
  if (lid % size == size - 1u) { reduce_f32[lid / size].x = within; }
  workgroupBarrier();
  var offset = 0.0;  // the subgroups' before this one, in order
  for (var i = 0u; i < lid / size; i++) { offset += reduce_f32[i].x; }
  let through = offset + within;
  let before = select(subgroupShuffleUp(through, 1u), offset, lid % size == 0u);
  if (lid == WG - 1u) { prefix_total = through; }
  return vec2<f32>(before, through);
}
