// The GEMV's group dot products on q4g32 codes as integers: each group's activations come as int16
// halves (act_int16.wgsl), so a row's group costs 16 packed 4x8-bit dot products (dot4I8Packed:
// one instruction where the GPU has it) instead of unpacking its 32 codes to floats, the work that
// binds the float path (dot_float.wgsl). The halves come from a source part: act_int16_here.wgsl
// (quantised in each workgroup) or act_int16_read.wgsl (quantised once before the GEMV, by
// act_int16_write.wgsl); runtime/webgpu/tuning.js says which runs where. A part of gemv.wgsl, with
// q4g32.wgsl and act_int16.wgsl.

// Σ (q - 8) * i over one group of `row`, times both scales: 256 Σ q h + Σ q l - 8 Σ i (at most
// 32 * 15 * 32639 in magnitude: exact in i32).
fn prepared_dot(row: u32, g: u32, group: ptr<function, Int16Group>) -> f32 {
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
