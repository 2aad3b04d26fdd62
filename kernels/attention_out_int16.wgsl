// A decode step's attention output as int16 groups (act_int16.wgsl), as act_int16_write.wgsl
// would store them from the T values: for an output projection GEMV that reads its activations
// quantised (runtime/webgpu/tuning.js GEMV_DOTS), which then needs no quantising dispatch of its
// own. The head's HEAD_DIM values (a multiple of 32: each group within one head) meet in workgroup
// memory, and one invocation per group quantises and stores it. A part of attention.wgsl and
// attention_combine.wgsl, after act_int16.wgsl (attention_out.wgsl is the other).

@group(0) @binding(6) var<storage, read_write> act_int16: array<vec4<u32>>;  // [H D / 32, STORED_VEC4S]

var<workgroup> head_values: array<vec4<T>, HEAD_DIM / 4u>;

// Stores query head `head`'s groups, vec4 `lid` of its output being `value` for lid < HEAD_DIM / 4,
// where `live` (the head is one of the workgroup's; workgroup-uniform). One decode row: m is unused.
// Every invocation of the workgroup calls it together (it has barriers).
fn emit_output(m: u32, head: u32, lid: u32, value: vec4<f32>, live: bool) {
  if (lid < HEAD_DIM / 4u) { head_values[lid] = vec4<T>(value); }
  workgroupBarrier();
  if (live && lid < HEAD_DIM / 32u) {
    var a: array<vec4<T>, 8>;
    for (var i = 0u; i < 8u; i++) { a[i] = head_values[8u * lid + i]; }
    let words = stored_group(quantise_group(&a), 0.0);
    let at = STORED_VEC4S * (head * (HEAD_DIM / 32u) + lid);
    for (var v = 0u; v < STORED_VEC4S; v++) { act_int16[at + v] = words[v]; }
  }
  workgroupBarrier();  // head_values is written again for the workgroup's next head
}
