// Weights in the q8g32 scheme (sitegen/quantize.py; a GGUF's Q8_0 blocks, copied): a row of K
// values is K/32 groups of 32 int8 codes q with one f16 scale d each, value = q * d (ggml-quants.c
// dequantize_row_q8_0). Element k of a group is the signed byte k % 4 of word k / 4; the 8 values
// of one "word" of the matmuls (as in q4g32.wgsl) are one vec2<u32>. Same functions as q4g32.wgsl.

@group(0) @binding(1) var<storage, read> codes: array<vec2<u32>>;  // [rows, K / 8]: 8 codes each
@group(0) @binding(2) var<storage, read> scales: array<u32>;       // [rows, K / 32] f16

override K: u32;  // values per weight row (a multiple of 32)

fn group_scale(i: u32) -> f32 {
  return half_at(scales[i / 2u], i);
}

// The 4 int8 codes of a word, sign-extended (shift each to the top, then arithmetic shift down).
fn codes_i8(word: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(word) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

// Σ w[row, 32 g + k] * a[k] over one group, in f32 (|q| up to 127: eight such products can
// overflow f16), times d.
fn group_dot(row: u32, g: u32, a: ptr<function, array<vec4<T>, 8>>) -> f32 {
  let i = row * (K / 32u) + g;
  var sum = 0.0;
  for (var w = 0u; w < 4u; w++) {
    let v = codes[4u * i + w];
    sum += dot(codes_i8(v.x), vec4<f32>((*a)[2u * w])) + dot(codes_i8(v.y), vec4<f32>((*a)[2u * w + 1u]));
  }
  return sum * group_scale(i);
}

// The 8 weights of word w (0..3) of group g of `row`, dequantised: for tile loaders and lookups.
fn word_weights(row: u32, g: u32, w: u32) -> array<vec4<T>, 2> {
  let i = row * (K / 32u) + g;
  let d = group_scale(i);
  let v = codes[4u * i + w];
  return array<vec4<T>, 2>(vec4<T>(codes_i8(v.x) * d), vec4<T>(codes_i8(v.y) * d));
}
