// The gated feed-forward activations: out[i] = act(gate[i]) up[i], with act
//   SiLU (SwiGLU; transformers' LlamaMLP): silu(g) = g / (1 + e^-g)
//   tanh GELU (GeGLU; hidden_activation gelu_pytorch_tanh, transformers' Gemma3MLP, as PyTorch's
//     gelu(approximate="tanh")): 0.5 g (1 + tanh(√(2/π) (g + 0.044715 g³)))

#include "common.h"

enum activation { SILU, GELU_TANH };

// Both are g sigmoid(a g'): SiLU with g' = g; tanh GELU with 2 √(2/π) (g + 0.044715 g³), since
// 0.5 (1 + tanh(u)) = 1 / (1 + e^-2u), which loses nothing where tanh(u) nears -1.
static inline v128_t act4(enum activation act, v128_t g) {
  v128_t u = g;
  if (act == GELU_TANH) {
    const v128_t cube = wasm_f32x4_mul(wasm_f32x4_mul(g, g), g);
    u = wasm_f32x4_mul(wasm_f32x4_splat(2.0f * 0.7978845608028654f),
                       wasm_f32x4_add(g, wasm_f32x4_mul(wasm_f32x4_splat(0.044715f), cube)));
  }
  return wasm_f32x4_div(g, wasm_f32x4_add(wasm_f32x4_splat(1.0f), exp4(wasm_f32x4_neg(u))));
}

// Inlined with a constant activation, so each export is its own loop.
static inline void gated(enum activation act, const float *gate, const float *up, float *out, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(out + i, wasm_f32x4_mul(act4(act, wasm_v128_load(gate + i)), wasm_v128_load(up + i)));
  }
  for (; i < n; i++) out[i] = wasm_f32x4_extract_lane(act4(act, wasm_f32x4_splat(gate[i])), 0) * up[i];
}

// gate, up, out f32 [n] (any n; out may be gate or up). The fused gate/up matvec's output [2n]
// passes gate = y, up = y + n.
void EXPORT(silu_mul)(const float *gate, const float *up, float *out, int n) {
  gated(SILU, gate, up, out, n);
}

void EXPORT(gelu_mul)(const float *gate, const float *up, float *out, int n) {
  gated(GELU_TANH, gate, up, out, n);
}
