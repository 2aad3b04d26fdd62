// RMSNorm (transformers' LlamaRMSNorm): out[i] = x[i] / sqrt(mean(x^2) + eps) * gain[i].

#include "common.h"

// x, gain, out f32 [n] (any n; out may be x); eps: rms_norm_eps.
void EXPORT(rms_norm)(const float *x, const float *gain, float *out, int n, float eps) {
  const float scale = 1.0f / __builtin_sqrtf(dot(x, x, n) / (float)n + eps);
  const v128_t s = wasm_f32x4_splat(scale);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(x + i), s), wasm_v128_load(gain + i)));
  }
  for (; i < n; i++) out[i] = x[i] * scale * gain[i];
}
