// Shared by the WASM CPU kernels (runtime/wasm/*.c): exports, f16 scales, SIMD helpers and exp.
// Freestanding C (no libc): every kernel works on caller-owned memory passed as pointers, so the
// same code runs single-threaded now and later on row or head ranges in workers sharing one
// WebAssembly.Memory. Sizes are element counts (int); floats are f32, sums accumulate in f32.

#ifndef SITEGEN_WASM_COMMON_H
#define SITEGEN_WASM_COMMON_H

#include <stdint.h>
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name))) name

// IEEE half bits -> float. The 15 low bits moved to an f32's exponent/mantissa position are the
// value times 2^-112, exactly (subnormal halves become subnormal floats, which WASM keeps); one
// multiply by 2^112 restores it. Infinity and NaN halves come out finite (65536 and above): scales
// from sitegen's quantizer are never either.
static inline float half_to_float(uint16_t h) {
  union { uint32_t u; float f; } v = { (uint32_t)(h & 0x7fff) << 13 };
  v.f *= 0x1p112f;
  v.u |= (uint32_t)(h & 0x8000) << 16;
  return v.f;
}

static inline float hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)
       + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

// e^x per lane, as Cephes' expf.c (also Eigen's pexp): x = n ln2 + r with |r| <= ln2 / 2 (ln2 in
// two parts so n ln2 is exact), e^r = 1 + r + r^2 P(r) with Cephes' degree-5 fit P, times 2^n built
// in the exponent bits. Relative error about 2e-7 (a couple of f32 ulps). x is clamped to
// [-87.3, 88.3]: below, e^x is under FLT_MIN (returned ~1e-38, not 0); above, 2^n would pass
// FLT_MAX (n = 128 has no f32 exponent), so e^88.3 ~ 2e38 stands for everything larger.
static inline v128_t exp4(v128_t x) {
  x = wasm_f32x4_min(wasm_f32x4_max(x, wasm_f32x4_splat(-87.3f)), wasm_f32x4_splat(88.3f));
  v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), wasm_f32x4_add(r, wasm_f32x4_splat(1.0f)));
  v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, scale);
}

static inline float expf_(float x) {
  return wasm_f32x4_extract_lane(exp4(wasm_f32x4_splat(x)), 0);
}

// tanh per lane as 1 - 2 / (e^2x + 1): absolute error about 1e-7; exp4's clamp makes large |x|
// give exactly +-1 (never NaN).
static inline v128_t tanh4(v128_t x) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  return wasm_f32x4_sub(one, wasm_f32x4_div(wasm_f32x4_splat(2.0f), wasm_f32x4_add(exp4(wasm_f32x4_add(x, x)), one)));
}

static inline float tanhf_(float x) {
  return wasm_f32x4_extract_lane(tanh4(wasm_f32x4_splat(x)), 0);
}

// Σ a[i] b[i], i < n (any n: a scalar tail after the whole vectors).
static inline float dot(const float *a, const float *b, int n) {
  v128_t acc = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4) acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  float sum = hsum(acc);
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

#endif
