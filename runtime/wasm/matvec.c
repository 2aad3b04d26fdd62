// Matrix-vector products y = W x, and single rows dequantised (an embedding lookup), over weights in sitegen's packed schemes (sitegen/quantize.py;
// the same bytes kernels/q4g32.wgsl, q4g32m.wgsl and q8g32.wgsl read), without dequantising W:
//   q4g32   codes u32 [N, K/8] (element k at bits 4 (k % 8) of word k / 8), scales f16 [N, K/32];
//           value (q - 8) d
//   q4g32m  codes as q4g32's, scales f16 [N, K/16]: (d, m) of group g at 2g, 2g + 1; value q d + m
//   q8g32   codes i8 [N, K] (element k the byte k % 4 of word k / 4), scales f16 [N, K/32]; value q d
// Each group of 32 contributes a Σ q x + b Σ x with (a, b) = (d, -8 d), (d, m) or (d, 0), so the
// offsets cost one multiply-add per group. Products are summed in f32.
//
// The 4-bit codes of a byte are elements 2i (low nibble) and 2i + 1 (high): a byte swizzle puts
// 4 bytes in the 4 lanes, and the lanes' low and high nibbles are then the even and odd elements
// of an 8-element word. So x is first permuted once per call to that order (evens then odds per
// word) into scratch, next to its per-group sums.

#include "common.h"

enum scheme { Q4G32, Q4G32M, Q8G32 };

// scratch: xp f32 [K] (x permuted as above; q8g32 uses x itself), xsum f32 [K/32] (Σ x per group).
static void prepare(enum scheme scheme, const float *x, int K, float *xp, float *xsum) {
  for (int g = 0; g < K / 32; g++) {
    const float *xg = x + 32 * g;
    float sum = 0.0f;
    for (int i = 0; i < 32; i++) sum += xg[i];
    xsum[g] = sum;
    if (scheme == Q8G32) continue;
    for (int w = 0; w < 4; w++) {
      for (int i = 0; i < 4; i++) {
        xp[32 * g + 8 * w + i] = xg[8 * w + 2 * i];
        xp[32 * g + 8 * w + 4 + i] = xg[8 * w + 2 * i + 1];
      }
    }
  }
}

// acc + Σ q x (lane-wise) over one group of 4-bit codes (16 bytes) and its permuted x.
static inline v128_t q4_group(const uint8_t *codes, const float *xp, v128_t acc) {
  const v128_t bytes = wasm_v128_load(codes);
  const v128_t nibble = wasm_i32x4_splat(0xf);
  for (int w = 0; w < 4; w++) {
    // lane i <- byte 4w + i (indices >= 16 write 0 into the lane's other bytes)
    const v128_t lanes = wasm_i8x16_swizzle(bytes, wasm_i8x16_make(
        4 * w, -1, -1, -1, 4 * w + 1, -1, -1, -1, 4 * w + 2, -1, -1, -1, 4 * w + 3, -1, -1, -1));
    const v128_t even = wasm_f32x4_convert_i32x4(wasm_v128_and(lanes, nibble));
    const v128_t odd = wasm_f32x4_convert_i32x4(wasm_u32x4_shr(lanes, 4));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(even, wasm_v128_load(xp + 8 * w)));
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(odd, wasm_v128_load(xp + 8 * w + 4)));
  }
  return acc;
}

// acc + Σ q x (lane-wise) over one group of int8 codes (32 bytes) and x in order.
static inline v128_t q8_group(const uint8_t *codes, const float *x, v128_t acc) {
  for (int half = 0; half < 2; half++) {
    const v128_t bytes = wasm_v128_load(codes + 16 * half);
    const v128_t shorts[2] = { wasm_i16x8_extend_low_i8x16(bytes), wasm_i16x8_extend_high_i8x16(bytes) };
    for (int s = 0; s < 2; s++) {
      const float *xs = x + 16 * half + 8 * s;
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(
          wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(shorts[s])), wasm_v128_load(xs)));
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(
          wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(shorts[s])), wasm_v128_load(xs + 4)));
    }
  }
  return acc;
}

// Rows [row0, row1) of y = W x. Inlined with a constant scheme, so each export is its own loop.
static inline void matvec(enum scheme scheme, const uint8_t *codes, const uint16_t *scales, const float *x,
                          float *scratch, float *y, int K, int row0, int row1) {
  const int groups = K / 32;
  float *xp = scratch;
  float *xsum = scratch + K;
  prepare(scheme, x, K, xp, xsum);
  const float *xq = scheme == Q8G32 ? x : xp;
  const int code_bytes = scheme == Q8G32 ? 32 : 16;     // per group
  const int scale_halves = scheme == Q4G32M ? 2 : 1;    // per group
  for (int n = row0; n < row1; n++) {
    const uint8_t *row_codes = codes + (int64_t)n * groups * code_bytes;
    const uint16_t *row_scales = scales + (int64_t)n * groups * scale_halves;
    v128_t acc = wasm_f32x4_splat(0.0f);  // Σ_g a_g Σ q x, lane-wise
    float offset = 0.0f;                  // Σ_g b_g Σ x
    for (int g = 0; g < groups; g++) {
      const v128_t group = scheme == Q8G32
          ? q8_group(row_codes + code_bytes * g, xq + 32 * g, wasm_f32x4_splat(0.0f))
          : q4_group(row_codes + code_bytes * g, xq + 32 * g, wasm_f32x4_splat(0.0f));
      const float d = half_to_float(row_scales[scale_halves * g]);
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(group, wasm_f32x4_splat(d)));
      if (scheme == Q4G32) offset -= 8.0f * d * xsum[g];
      if (scheme == Q4G32M) offset += half_to_float(row_scales[2 * g + 1]) * xsum[g];
    }
    y[n] = hsum(acc) + offset;
  }
}

// y f32 [N] (rows row0..row1-1 written) = W x; W [N, K] in the scheme of the name (above), x f32
// [K], K a multiple of 32; scratch f32 [K + K/32], private to the caller (one per thread).
void EXPORT(q4g32_matvec)(const uint8_t *codes, const uint16_t *scales, const float *x, float *scratch, float *y,
                          int K, int row0, int row1) {
  matvec(Q4G32, codes, scales, x, scratch, y, K, row0, row1);
}

void EXPORT(q4g32m_matvec)(const uint8_t *codes, const uint16_t *scales, const float *x, float *scratch, float *y,
                           int K, int row0, int row1) {
  matvec(Q4G32M, codes, scales, x, scratch, y, K, row0, row1);
}

void EXPORT(q8g32_matvec)(const uint8_t *codes, const uint16_t *scales, const float *x, float *scratch, float *y,
                          int K, int row0, int row1) {
  matvec(Q8G32, codes, scales, x, scratch, y, K, row0, row1);
}

// One row dequantised: out[k] = scale W[row, k], k < K (the embedding lookup: scale is
// embedding_multiplier). Scalar: one row per token is a sliver of a step's work.
static inline void dequantize_row(enum scheme scheme, const uint8_t *codes, const uint16_t *scales, int row, int K,
                                  float scale, float *out) {
  const int groups = K / 32;
  const int code_bytes = scheme == Q8G32 ? 32 : 16;
  const int scale_halves = scheme == Q4G32M ? 2 : 1;
  const uint8_t *row_codes = codes + (int64_t)row * groups * code_bytes;
  const uint16_t *row_scales = scales + (int64_t)row * groups * scale_halves;
  for (int g = 0; g < groups; g++) {
    const float d = half_to_float(row_scales[scale_halves * g]);
    const float m = scheme == Q4G32M ? half_to_float(row_scales[2 * g + 1]) : 0.0f;
    for (int i = 0; i < 32; i++) {
      float value;
      if (scheme == Q8G32) {
        value = (float)(int8_t)row_codes[32 * g + i] * d;
      } else {
        const int q = (row_codes[16 * g + i / 2] >> (4 * (i % 2))) & 0xf;
        value = scheme == Q4G32 ? (float)(q - 8) * d : (float)q * d + m;
      }
      out[32 * g + i] = value * scale;
    }
  }
}

// out f32 [K] = scale W[row, :], W [rows, K] in the scheme of the name, K a multiple of 32.
void EXPORT(q4g32_dequantize_row)(const uint8_t *codes, const uint16_t *scales, int row, int K, float scale, float *out) {
  dequantize_row(Q4G32, codes, scales, row, K, scale, out);
}

void EXPORT(q4g32m_dequantize_row)(const uint8_t *codes, const uint16_t *scales, int row, int K, float scale, float *out) {
  dequantize_row(Q4G32M, codes, scales, row, K, scale, out);
}

void EXPORT(q8g32_dequantize_row)(const uint8_t *codes, const uint16_t *scales, int row, int K, float scale, float *out) {
  dequantize_row(Q8G32, codes, scales, row, K, scale, out);
}
