// Helpers of the f16 path (T = f16), included in every kernel where shader-f16 is used.

// The 8 4-bit codes of a q4g32 word as q - 8: values 0..3 and 4..7. OR-ing codes into the
// mantissas of two f16 1024s (0x6400) gives 1024 + q for two codes with one integer operation,
// and no integer-to-float conversion.
fn nibbles(word: u32) -> array<vec4<f16>, 2> {
  let magic = vec2<f16>(1032.0);  // 1024 + 8
  let a = bitcast<vec2<f16>>((word & 0x000f000fu) | 0x64006400u) - magic;          // values 0, 4
  let b = bitcast<vec2<f16>>(((word >> 4u) & 0x000f000fu) | 0x64006400u) - magic;  // 1, 5
  let c = bitcast<vec2<f16>>(((word >> 8u) & 0x000f000fu) | 0x64006400u) - magic;  // 2, 6
  let d = bitcast<vec2<f16>>(((word >> 12u) & 0x000f000fu) | 0x64006400u) - magic; // 3, 7
  return array<vec4<f16>, 2>(vec4<f16>(a.x, b.x, c.x, d.x), vec4<f16>(a.y, b.y, c.y, d.y));
}
