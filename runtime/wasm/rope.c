// Rotary position embedding at one position, HF rotate_half (transformers' apply_rotary_pos_emb,
// as kernels/rope_kv.wgsl): in each head, dimension i < R/2 turns with i + R/2,
//   x[i] <- x[i] cos - x[i + R/2] sin,   x[i + R/2] <- x[i + R/2] cos + x[i] sin,
// and dimensions from R on (partial rotary) are left as they are.

#include "common.h"

// x f32 [heads, head_dim], in place; turn f32 [R/2, 2]: (cos, sin) of pair i at this position,
// the row of runtime/rope.js ropeTable for it; R = rotary_dim (even, <= head_dim).
void EXPORT(rope)(float *x, const float *turn, int heads, int head_dim, int rotary_dim) {
  const int half = rotary_dim / 2;
  for (int h = 0; h < heads; h++) {
    float *a = x + h * head_dim;
    float *b = a + half;
    int i = 0;
    for (; i + 4 <= half; i += 4) {
      const v128_t t0 = wasm_v128_load(turn + 2 * i);
      const v128_t t1 = wasm_v128_load(turn + 2 * i + 4);
      const v128_t c = wasm_i32x4_shuffle(t0, t1, 0, 2, 4, 6);
      const v128_t s = wasm_i32x4_shuffle(t0, t1, 1, 3, 5, 7);
      const v128_t va = wasm_v128_load(a + i);
      const v128_t vb = wasm_v128_load(b + i);
      wasm_v128_store(a + i, wasm_f32x4_sub(wasm_f32x4_mul(va, c), wasm_f32x4_mul(vb, s)));
      wasm_v128_store(b + i, wasm_f32x4_add(wasm_f32x4_mul(vb, c), wasm_f32x4_mul(va, s)));
    }
    for (; i < half; i++) {
      const float c = turn[2 * i], s = turn[2 * i + 1], va = a[i], vb = b[i];
      a[i] = va * c - vb * s;
      b[i] = vb * c + va * s;
    }
  }
}
