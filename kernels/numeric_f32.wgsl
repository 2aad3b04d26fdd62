// Helpers of the f32 path (T = f32), included in every kernel where shader-f16 is not used.

// The 8 4-bit codes of a q4g32 word as q - 8: values 0..3 and 4..7. OR-ing a code into the
// mantissa of 2^23 (0x4b000000) gives the float 2^23 + q exactly, so no integer-to-float
// conversion is needed (those run at a fraction of the ALU rate on GPUs).
fn nibbles(word: u32) -> array<vec4<f32>, 2> {
  let magic = vec4<u32>(0x4b000000u);
  let lo = bitcast<vec4<f32>>(((vec4<u32>(word) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)) | magic);
  let hi = bitcast<vec4<f32>>(((vec4<u32>(word) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u)) | magic);
  return array<vec4<f32>, 2>(lo - vec4<f32>(8388616.0), hi - vec4<f32>(8388616.0));  // 2^23 + 8
}
