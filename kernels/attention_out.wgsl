// Attention output as it is (T): what the output projection's matmul reads (prefill chunks, and
// decode steps whose GEMV takes its activations as they are). A part of attention.wgsl and
// attention_combine.wgsl (attention_out_int16.wgsl is the other).

@group(0) @binding(4) var<storage, read_write> out: array<vec4<T>>;  // [rows, H D]

// Stores vec4 `lid` of query head `head`'s output for chunk row m, where `live` (the head is one
// of the workgroup's) and lid < HEAD_DIM / 4. Every invocation of the workgroup calls it together.
fn emit_output(m: u32, head: u32, lid: u32, value: vec4<f32>, live: bool) {
  if (live && lid < HEAD_DIM / 4u) { out[(m * HEADS + head) * (HEAD_DIM / 4u) + lid] = vec4<T>(value); }
}
