// Matrix products Y = X Wᵀ (prefill: T tokens; decode: T = 1) and single rows dequantised (an
// embedding lookup), over weights in sitegen's packed schemes (sitegen/quantize.py; the same bytes
// kernels/q4g32.wgsl, q4g32m.wgsl and q8g32.wgsl read), without dequantising W:
//   q4g32   codes u32 [N, K/8] (element k at bits 4 (k % 8) of word k / 8), scales f16 [N, K/32];
//           value (q - 8) d
//   q4g32m  codes as q4g32's, scales f16 [N, K/16]: (d, m) of group g at 2g, 2g + 1; value q d + m
//   q8g32   codes i8 [N, K] (element k the byte k % 4 of word k / 4), scales f16 [N, K/32]; value q d
//
// llama.cpp's way (ggml's q4_0 x q8_0 dot products), with int16 activations: each token's
// activations are first quantised per group of 32 (scale dx = max |x| / 32767, codes round(x / dx)),
// once per call, so the inner loop is integer: Σ q qx over a group by i32x4.dot_i16x8 (exact:
// |q qx| <= 128 * 32767, 8 of them per lane stay under 2^31), then one f32 multiply-add per group by
// d dx; groups are summed in f32. q4g32m's offsets add m Σ x' per group. Why int16, not llama.cpp's
// int8: SIMD128's only integer dot product is i16 x i16 (the 4-bit codes are widened to i16 either
// way, so int8 would save no instruction here), and int8 rounding changes greedy tokens of
// SmolLM2-135M and of the test fixtures while int16's does not.
// The result is W x' (f32 sums), x' = qx dx the quantised activations: x' - x is their rounding,
// at most dx / 2 = max |x| / 65534 per element of a group, so |Δy_n| <= Σ_k |W_nk| dx_k / 2
// (tests/js/wasm_kernels.test.js checks both facts).
//
// The 4-bit codes of a byte are elements 2i (low nibble) and 2i + 1 (high): masking and shifting
// the 16 bytes of a group gives its even then its odd elements, so each token's codes are stored
// in that order (q8g32: in order), widened to i16 for the dot product.

#include "common.h"

enum scheme { Q4G32, Q4G32M, Q8G32 };

// Per token t of X [T, K], in scratch (one per concurrent caller): xq i16 [T, K] (codes, in the
// scheme's order), then dx f32 [T, K/32] (scales), then xsum f32 [T, K/32] (dx Σ qx per group: the
// quantised x's sum, as llama.cpp's q8_1 keeps, so the product is exactly W times the quantised x).
struct quantized { int16_t *xq; float *dx; float *xsum; };

static struct quantized quantize(enum scheme scheme, const float *x, int T, int K, float *scratch) {
  const int groups = K / 32;
  struct quantized a = { (int16_t *)scratch, scratch + (int64_t)T * K / 2, scratch + (int64_t)T * K / 2 + T * groups };
  for (int g = 0; g < T * groups; g++) {
    const float *xg = x + 32 * g;
    float top = 0.0f;
    for (int i = 0; i < 32; i++) {
      const float magnitude = __builtin_fabsf(xg[i]);
      top = magnitude > top ? magnitude : top;
    }
    const float d = top / 32767.0f;
    const float inverse = d > 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int i = 0; i < 32; i++) {
      const int q = (int)__builtin_rintf(xg[i] * inverse);  // round half to even (f32.nearest)
      sum += q;
      // q4: element i at 16 (i % 2) + i / 2 (evens, then odds)
      a.xq[32 * g + (scheme == Q8G32 ? i : 16 * (i % 2) + i / 2)] = (int16_t)q;
    }
    a.dx[g] = d;
    a.xsum[g] = d * (float)sum;
  }
  return a;
}

// One group of W's row as 32 i16 codes in 4 vectors, in the order quantize() stores x's.
static inline void unpack(enum scheme scheme, const uint8_t *codes, v128_t w[4]) {
  if (scheme == Q8G32) {
    const v128_t low = wasm_v128_load(codes), high = wasm_v128_load(codes + 16);
    w[0] = wasm_i16x8_extend_low_i8x16(low);
    w[1] = wasm_i16x8_extend_high_i8x16(low);
    w[2] = wasm_i16x8_extend_low_i8x16(high);
    w[3] = wasm_i16x8_extend_high_i8x16(high);
    return;
  }
  const v128_t bytes = wasm_v128_load(codes);
  v128_t even = wasm_v128_and(bytes, wasm_i8x16_splat(0xf));
  v128_t odd = wasm_u8x16_shr(bytes, 4);
  if (scheme == Q4G32) {  // (q - 8): signed codes, no offset term
    even = wasm_i8x16_sub(even, wasm_i8x16_splat(8));
    odd = wasm_i8x16_sub(odd, wasm_i8x16_splat(8));
  }
  w[0] = wasm_i16x8_extend_low_i8x16(even);
  w[1] = wasm_i16x8_extend_high_i8x16(even);
  w[2] = wasm_i16x8_extend_low_i8x16(odd);
  w[3] = wasm_i16x8_extend_high_i8x16(odd);
}

// Σ w x over one group (lane-wise i32 partial sums; exact: |w x| <= 128 * 127 per product).
static inline v128_t group_dot(const v128_t w[4], const int16_t *xq) {
  v128_t sum = wasm_i32x4_dot_i16x8(w[0], wasm_v128_load(xq));
  sum = wasm_i32x4_add(sum, wasm_i32x4_dot_i16x8(w[1], wasm_v128_load(xq + 8)));
  sum = wasm_i32x4_add(sum, wasm_i32x4_dot_i16x8(w[2], wasm_v128_load(xq + 16)));
  return wasm_i32x4_add(sum, wasm_i32x4_dot_i16x8(w[3], wasm_v128_load(xq + 24)));
}

// Y[t0 + j, n] for j < TB (a block of tokens sharing each unpacked group of row n). TB is a
// constant where this is inlined, so the accumulators live in registers.
static inline void row_block(enum scheme scheme, int TB, const uint8_t *row_codes, const uint16_t *row_scales,
                             struct quantized a, int t0, int K, float *y, int N, int n) {
  const int groups = K / 32;
  const int code_bytes = scheme == Q8G32 ? 32 : 16;   // per group
  const int scale_halves = scheme == Q4G32M ? 2 : 1;  // per group
  v128_t acc[TB];      // Σ_g d dx Σ q qx, lane-wise
  float offset[TB];    // Σ_g m Σ x' (q4g32m)
  for (int j = 0; j < TB; j++) { acc[j] = wasm_f32x4_splat(0.0f); offset[j] = 0.0f; }
  for (int g = 0; g < groups; g++) {
    v128_t w[4];
    unpack(scheme, row_codes + code_bytes * g, w);
    const float d = half_to_float(row_scales[scale_halves * g]);
    const float m = scheme == Q4G32M ? half_to_float(row_scales[2 * g + 1]) : 0.0f;
    for (int j = 0; j < TB; j++) {
      const int tg = (t0 + j) * groups + g;
      const v128_t sum = wasm_f32x4_convert_i32x4(group_dot(w, a.xq + 32 * tg));
      acc[j] = wasm_f32x4_add(acc[j], wasm_f32x4_mul(sum, wasm_f32x4_splat(d * a.dx[tg])));
      if (scheme == Q4G32M) offset[j] += m * a.xsum[tg];
    }
  }
  for (int j = 0; j < TB; j++) y[(int64_t)(t0 + j) * N + n] = hsum(acc[j]) + offset[j];
}

enum { TOKEN_BLOCK = 4 };  // tokens per pass over a row: 4 accumulators + 4 codes + a product in 16 registers

// Rows [row0, row1) of Y = X Wᵀ. Inlined with a constant scheme, so each export is its own loop.
static inline void matmul(enum scheme scheme, const uint8_t *codes, const uint16_t *scales, const float *x, int T,
                          float *scratch, float *y, int K, int N, int row0, int row1) {
  const int groups = K / 32;
  const int code_bytes = scheme == Q8G32 ? 32 : 16;
  const int scale_halves = scheme == Q4G32M ? 2 : 1;
  const struct quantized a = quantize(scheme, x, T, K, scratch);
  for (int n = row0; n < row1; n++) {
    const uint8_t *row_codes = codes + (int64_t)n * groups * code_bytes;
    const uint16_t *row_scales = scales + (int64_t)n * groups * scale_halves;
    int t = 0;
    for (; t + TOKEN_BLOCK <= T; t += TOKEN_BLOCK) row_block(scheme, TOKEN_BLOCK, row_codes, row_scales, a, t, K, y, N, n);
    for (; t < T; t++) row_block(scheme, 1, row_codes, row_scales, a, t, K, y, N, n);
  }
}

// Y f32 [T, N] (columns row0..row1-1 of each token's row written) = X Wᵀ; W [N, K] in the scheme of
// the name (above), X f32 [T, K], K a multiple of 32; scratch: 2 T K + T K / 4 bytes (int16 codes,
// f32 scales and sums), 16-byte aligned, private to the caller (one per thread).
void EXPORT(q4g32_matmul)(const uint8_t *codes, const uint16_t *scales, const float *x, int T, float *scratch,
                          float *y, int K, int N, int row0, int row1) {
  matmul(Q4G32, codes, scales, x, T, scratch, y, K, N, row0, row1);
}

void EXPORT(q4g32m_matmul)(const uint8_t *codes, const uint16_t *scales, const float *x, int T, float *scratch,
                           float *y, int K, int N, int row0, int row1) {
  matmul(Q4G32M, codes, scales, x, T, scratch, y, K, N, row0, row1);
}

void EXPORT(q8g32_matmul)(const uint8_t *codes, const uint16_t *scales, const float *x, int T, float *scratch,
                          float *y, int K, int N, int row0, int row1) {
  matmul(Q8G32, codes, scales, x, T, scratch, y, K, N, row0, row1);
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
