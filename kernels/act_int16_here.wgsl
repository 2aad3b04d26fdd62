// The int16 GEMV's activations quantised where they are used: every workgroup quantises each group
// of the row it multiplies (no dispatch before it; the work is repeated per workgroup, which pays
// where a workgroup has many rows). A part of gemv.wgsl with act_int16.wgsl and dot_q4g32_int16.wgsl
// (act_int16_read.wgsl is the other source).

// Group g of the activations of row m, as int16 halves.
fn prepare_group(m: u32, g: u32) -> Int16Group {
  var a: array<vec4<T>, 8>;
  for (var i = 0u; i < 8u; i++) { a[i] = act[(m * K + 32u * g) / 4u + i]; }
  return quantise_group(&a);
}
