// Element-wise steps of the forward pass on f32 vectors: the residual add and soft-capping.

#include "common.h"

// x[i] += y[i], x and y f32 [n] (any n): the residual stream's add, a bias's add.
void EXPORT(add)(float *x, const float *y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_add(wasm_v128_load(x + i), wasm_v128_load(y + i)));
  for (; i < n; i++) x[i] += y[i];
}

// x[i] <- cap tanh(x[i] / cap), x f32 [n] in place, cap > 0: Gemma 2's final_logit_softcapping (as
// kernels/out_store.wgsl's SOFTCAP).
void EXPORT(soft_cap)(float *x, int n, float cap) {
  const v128_t c = wasm_f32x4_splat(cap);
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_mul(c, tanh4(wasm_f32x4_div(wasm_v128_load(x + i), c))));
  for (; i < n; i++) x[i] = cap * tanhf_(x[i] / cap);
}
