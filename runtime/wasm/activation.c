// The SwiGLU gate (transformers' LlamaMLP: act_fn(gate_proj(x)) * up_proj(x), act_fn SiLU):
// out[i] = silu(gate[i]) up[i], silu(g) = g / (1 + e^-g).

#include "common.h"

static inline v128_t silu_mul4(v128_t g, v128_t u) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  return wasm_f32x4_mul(wasm_f32x4_div(g, wasm_f32x4_add(one, exp4(wasm_f32x4_neg(g)))), u);
}

// gate, up, out f32 [n] (any n; out may be gate or up). The fused gate/up matvec's output [2n]
// passes gate = y, up = y + n.
void EXPORT(silu_mul)(const float *gate, const float *up, float *out, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, silu_mul4(wasm_v128_load(gate + i), wasm_v128_load(up + i)));
  for (; i < n; i++) out[i] = wasm_f32x4_extract_lane(silu_mul4(wasm_f32x4_splat(gate[i]), wasm_f32x4_splat(up[i])), 0);
}
