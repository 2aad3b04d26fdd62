// Weights in the q4g32 scheme (sitegen/quantize.py): a row of K values is K/32 groups of 32 4-bit
// codes q with one f16 scale d each, value = (q - 8) * d. Codes are read a whole group at a time
// (one vec4<u32>: element k of the group at bits 4 * (k % 8) of word k / 8); scales in pairs from
// u32 words. nibbles(word), the codes as q - 8, comes from the numeric path's library.

@group(0) @binding(1) var<storage, read> codes: array<vec4<u32>>;  // [rows, K / 32]
@group(0) @binding(2) var<storage, read> scales: array<u32>;       // [rows, K / 32] f16

override K: u32;  // values per weight row (a multiple of 32)

fn group_scale(i: u32) -> f32 {
  return half_at(scales[i / 2u], i);
}

// Σ w[row, 32 g + k] * a[k] over one group. Products are summed per word (8 terms) in T, then in
// f32, so the f16 path never sums more than 8 products at half precision.
fn group_dot(row: u32, g: u32, a: ptr<function, array<vec4<T>, 8>>) -> f32 {
  let i = row * (K / 32u) + g;
  let words = codes[i];
  var sum = 0.0;
  for (var w = 0u; w < 4u; w++) {
    let q = nibbles(words[w]);
    sum += f32(dot(q[0], (*a)[2u * w]) + dot(q[1], (*a)[2u * w + 1u]));
  }
  return sum * group_scale(i);
}

// The 8 weights of word w (0..3) of group g of `row`, dequantised: for tile loaders and lookups.
fn word_weights(row: u32, g: u32, w: u32) -> array<vec4<T>, 2> {
  let i = row * (K / 32u) + g;
  let d = T(group_scale(i));
  let q = nibbles(codes[i][w]);
  return array<vec4<T>, 2>(q[0] * d, q[1] * d);
}
