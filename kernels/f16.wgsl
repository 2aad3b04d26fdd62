// Weights in the f16 scheme (sites built with --quant f16): plain row-major f16, read 8 values
// (one vec4<u32>) at a time. Same functions as q4g32.wgsl, so every matmul runs on either.

@group(0) @binding(1) var<storage, read> data: array<vec4<u32>>;  // [rows, K / 8]

override K: u32;  // values per weight row (a multiple of 32)

// The 8 weights of word w (0..3) of group g of `row`.
fn word_weights(row: u32, g: u32, w: u32) -> array<vec4<T>, 2> {
  let v = data[row * (K / 8u) + 4u * g + w];
  return array<vec4<T>, 2>(vec4<T>(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y))),
                           vec4<T>(vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w))));
}

// Σ w[row, 32 g + k] * a[k] over one group, summed per 8 terms in T, then in f32.
fn group_dot(row: u32, g: u32, a: ptr<function, array<vec4<T>, 8>>) -> f32 {
  var sum = 0.0;
  for (var w = 0u; w < 4u; w++) {
    let v = word_weights(row, g, w);
    sum += f32(dot(v[0], (*a)[2u * w]) + dot(v[1], (*a)[2u * w + 1u]));
  }
  return sum;
}
