// The GEMV's group dot products in floats, for any weight scheme: the step's activations are used
// as they are, and each row's product is the scheme's group_dot. A part of gemv.wgsl
// (dot_q4g32_int16.wgsl is the other).

alias PreparedGroup = array<vec4<T>, 8>;

// Group g of the activations of row m.
fn prepare_group(m: u32, g: u32) -> PreparedGroup {
  var a: PreparedGroup;
  for (var i = 0u; i < 8u; i++) { a[i] = act[(m * K + 32u * g) / 4u + i]; }
  return a;
}

// Σ w[row, 32 g + k] * a[k] over group g.
fn prepared_dot(row: u32, g: u32, group: ptr<function, PreparedGroup>) -> f32 {
  return group_dot(row, g, group);
}
