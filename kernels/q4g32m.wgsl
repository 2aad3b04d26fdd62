// Weights in the q4g32m scheme (sitegen/quantize.py; a GGUF's Q4_1 blocks, copied): a row of K
// values is K/32 groups of 32 4-bit codes q with an f16 scale d and an f16 minimum m each, value
// = q * d + m (ggml-quants.c dequantize_row_q4_1). Codes are laid out as q4g32's; (d, m) of group
// i is scales word i. nibbles(word) gives q - 8, so value = (q - 8) * d + (m + 8 d).

@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;  // [rows, K / 32]
@group(0) @binding(2) var<storage, read> scales: array<u32>;       // [rows, K / 32] (d, m) f16 pairs

override K: u32;  // values per weight row (a multiple of 32)

// (d, m + 8 d) of group i: the factor of (q - 8) and the offset.
fn group_affine(i: u32) -> vec2<f32> {
  let dm = unpack2x16float(scales[i]);
  return vec2<f32>(dm.x, dm.y + 8.0 * dm.x);
}

// Σ w[row, 32 g + k] * a[k] over one group = d Σ (q - 8) a + (m + 8 d) Σ a; both sums per word
// (8 terms) in T, then in f32, as in q4g32.wgsl.
fn group_dot(row: u32, g: u32, a: ptr<function, array<vec4<T>, 8>>) -> f32 {
  let i = row * (K / 32u) + g;
  let words = codes[i];
  var sum_qa = 0.0;
  var sum_a = 0.0;
  for (var w = 0u; w < 4u; w++) {
    let q = nibbles(words[w]);
    let a0 = (*a)[2u * w];
    let a1 = (*a)[2u * w + 1u];
    sum_qa += f32(dot(q[0], a0) + dot(q[1], a1));
    sum_a += f32(dot(a0 + a1, vec4<T>(1.0)));
  }
  let affine = group_affine(i);
  return affine.x * sum_qa + affine.y * sum_a;
}

// The 8 weights of word w (0..3) of group g of `row`, dequantised as gguf-py does, q * d + m
// in f32: for tile loaders and lookups.
fn word_weights(row: u32, g: u32, w: u32) -> array<vec4<T>, 2> {
  let i = row * (K / 32u) + g;
  let dm = unpack2x16float(scales[i]);
  let q = nibbles(codes[i][w]);
  return array<vec4<T>, 2>(vec4<T>((vec4<f32>(q[0]) + 8.0) * dm.x + dm.y),
                           vec4<T>((vec4<f32>(q[1]) + 8.0) * dm.x + dm.y));
}
