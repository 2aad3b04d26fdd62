// The GEMV's group dot products on q4g32 codes as integers: the step's 32 activations are
// quantised once to int16 (a = da * i, |i| <= 32639, da = max |a| / 32639: 15 bits, an error near
// f16 rounding's) and split into two int8 halves, i = 256 h + l (h in [-127, 127], l in
// [-128, 127]), so a row's group costs 16 packed 4x8-bit dot products (dot4I8Packed: one
// instruction where the GPU has it) instead of unpacking its 32 codes to floats, the work that
// binds the float path once a workgroup has many rows (runtime/webgpu/model.js uses this part for
// tall weights, 16 rows per workgroup). int16, not int8 as llama.cpp's q8_1 activations, for the
// reason runtime/wasm/matmul.c gives: int8 activations change greedy tokens of the models we test.
// Needs the WGSL language feature packed_4x8_integer_dot_product. A part of gemv.wgsl
// (dot_float.wgsl is the other), with q4g32.wgsl.

const ACT_MAX = 32639.0;  // 127 * 256 + 127: the largest i whose halves both fit in int8

// Codes of word w hold elements 8w + j at bits 4j: `& 0x0f0f0f0f` keeps elements 8w, 8w+2, 8w+4,
// 8w+6 (byte b: element 8w + 2b), `>> 4` then the mask the odd ones; the activations are packed in
// the same orders (slot 2w: even, 2w + 1: odd), so byte b of a code word meets byte b of its
// activation word.
struct PreparedGroup {
  high: array<u32, 8>,  // h, packed 4 x int8 per word
  low: array<u32, 8>,   // l, packed 4 x int8 per word
  sum: i32,             // Σ i over the group: for the codes' offset of 8
  scale: f32,           // da
}

fn prepare_group(a: ptr<function, array<vec4<T>, 8>>) -> PreparedGroup {
  var group: PreparedGroup;
  var largest = 0.0;
  for (var i = 0u; i < 8u; i++) {
    let v = abs(vec4<f32>((*a)[i]));
    largest = max(largest, max(max(v.x, v.y), max(v.z, v.w)));
  }
  let to_int = select(0.0, ACT_MAX / largest, largest > 0.0);
  group.scale = largest / ACT_MAX;
  group.sum = 0;
  for (var w = 0u; w < 4u; w++) {
    let first = vec4<i32>(round(vec4<f32>((*a)[2u * w]) * to_int));        // elements 8w .. 8w+3
    let second = vec4<i32>(round(vec4<f32>((*a)[2u * w + 1u]) * to_int)); // elements 8w+4 .. 8w+7
    let halves = array<vec4<i32>, 2>(vec4<i32>(first.x, first.z, second.x, second.z),
                                     vec4<i32>(first.y, first.w, second.y, second.w));
    for (var o = 0u; o < 2u; o++) {
      let i = halves[o];
      let high = (i + vec4<i32>(128)) >> vec4<u32>(8u);  // round to nearest: l = i - 256 h in [-128, 127]
      group.high[2u * w + o] = pack4xI8(high);
      group.low[2u * w + o] = pack4xI8(i - 256 * high);
      group.sum += i.x + i.y + i.z + i.w;
    }
  }
  return group;
}

// Σ (q - 8) * i over one group of `row`, times both scales: 256 Σ q h + Σ q l - 8 Σ i (at most
// 32 * 15 * 32639 in magnitude: exact in i32).
fn prepared_dot(row: u32, g: u32, group: ptr<function, PreparedGroup>) -> f32 {
  let index = row * (K / 32u) + g;
  let words = codes[index];
  var high = 0;
  var low = 0;
  for (var w = 0u; w < 4u; w++) {
    let even = words[w] & 0x0f0f0f0fu;
    let odd = (words[w] >> 4u) & 0x0f0f0f0fu;
    high += dot4I8Packed(even, (*group).high[2u * w]) + dot4I8Packed(odd, (*group).high[2u * w + 1u]);
    low += dot4I8Packed(even, (*group).low[2u * w]) + dot4I8Packed(odd, (*group).low[2u * w + 1u]);
  }
  return f32(256 * high + low - 8 * (*group).sum) * (*group).scale * group_scale(index);
}
