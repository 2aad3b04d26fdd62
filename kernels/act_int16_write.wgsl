// Quantises the decode row's activations (the last row of the chunk) to int16 halves, group by
// group (act_int16.wgsl), once per step, for a GEMV that reads them (act_int16_read.wgsl), with
// each group's Σ x² where the GEMV's input is RMS-normalised (in_norm_read.wgsl reads it): one
// invocation per group of 32. Parts: act_int16.wgsl and the GEMV's input (in_plain.wgsl |
// in_norm.wgsl: its group_squares).

@group(0) @binding(3) var<storage, read> act: array<vec4<T>>;              // [rows, K]
@group(0) @binding(11) var<storage, read_write> act_int16: array<vec4<u32>>;  // [K / 32, STORED_VEC4S]

override K: u32;  // values per row (a multiple of 32)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let g = id.x;
  if (g >= K / 32u) { return; }
  let m = params.rows - 1u;
  var a: array<vec4<T>, 8>;
  for (var i = 0u; i < 8u; i++) { a[i] = act[(m * K + 32u * g) / 4u + i]; }
  let words = stored_group(quantise_group(&a), group_squares(m, g));
  for (var v = 0u; v < STORED_VEC4S; v++) { act_int16[STORED_VEC4S * g + v] = words[v]; }
}
