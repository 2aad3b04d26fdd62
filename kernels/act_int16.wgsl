// Activations as int16 for the integer GEMV (dot_q4g32_int16.wgsl): a group of 32 values a is
// quantised to a = da * i, |i| <= 32639, da = max |a| / 32639 (15 bits, an error near f16
// rounding's), and each i split into two int8 halves, i = 256 h + l (h in [-127, 127], l in
// [-128, 127]), packed 4 to a u32 for dot4I8Packed. int16, not int8 as llama.cpp's q8_1
// activations, for the reason runtime/wasm/matmul.c gives: int8 activations change greedy tokens
// of the models we test. A library of the GEMV's int16 parts and of act_int16_write.wgsl.
// Needs the WGSL language feature packed_4x8_integer_dot_product.

const ACT_MAX = 32639.0;  // 127 * 256 + 127: the largest i whose halves both fit in int8

// Codes of a q4g32 word w hold elements 8w + j at bits 4j: `& 0x0f0f0f0f` keeps elements 8w, 8w+2,
// 8w+4, 8w+6 (byte b: element 8w + 2b), `>> 4` then the mask the odd ones; the halves are packed
// in the same orders (word 2w: even elements, 2w + 1: odd), so byte b of a code word meets byte b
// of its activation word.
struct Int16Group {
  high: array<u32, 8>,  // h, packed 4 x int8 per word
  low: array<u32, 8>,   // l, packed 4 x int8 per word
  sum: i32,             // Σ i over the group: for the codes' offset of 8
  scale: f32,           // da
}

// The group of 32 activations a (8 vec4, element order) as int16 halves.
fn quantise_group(a: ptr<function, array<vec4<T>, 8>>) -> Int16Group {
  var group: Int16Group;
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

// A stored group (act_int16_write.wgsl and attention_out_int16.wgsl write, act_int16_read.wgsl
// reads): 5 vec4<u32>, the high words, the low words, then (sum, scale's bits, the bits of Σ x² of
// the RMSNorm input's group, 0).
const STORED_VEC4S = 5u;

// `group` as it is stored, with `squares` (Σ x² of its RMSNorm input's group; 0 for an input without one).
fn stored_group(group: Int16Group, squares: f32) -> array<vec4<u32>, STORED_VEC4S> {
  var words: array<vec4<u32>, STORED_VEC4S>;
  for (var v = 0u; v < 2u; v++) {
    words[v] = vec4<u32>(group.high[4u * v], group.high[4u * v + 1u], group.high[4u * v + 2u], group.high[4u * v + 3u]);
    words[2u + v] = vec4<u32>(group.low[4u * v], group.low[4u * v + 1u], group.low[4u * v + 2u], group.low[4u * v + 3u]);
  }
  words[4] = vec4<u32>(bitcast<u32>(group.sum), bitcast<u32>(group.scale), bitcast<u32>(squares), 0u);
  return words;
}
