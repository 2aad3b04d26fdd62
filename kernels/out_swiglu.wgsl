// Matmul epilogue for the fused gate/up projection: the weight holds the N gate rows, then the N up
// rows; a tile's first half of slots computes gate rows, its second half the matching up rows, and
// output n = act(gate n) * up n: silu (SwiGLU), or with GELU the tanh approximation of GELU
// (GeGLU: hidden_activation gelu_pytorch_tanh, Gemma; transformers' modeling_gemma3.py, Gemma3MLP).

@group(0) @binding(10) var<storage, read_write> hidden: array<T>;  // [rows, N]

override N: u32;  // outputs per row = FFN size
override GELU: bool = false;

const PAIRED = true;  // two weight rows per output: slots s and s + width / 2

fn slot_row(tile: u32, slot: u32, width: u32) -> u32 {
  let half = width / 2u;
  return tile * half + slot % half + select(0u, N, slot >= half);
}

fn activation(gate: f32) -> f32 {
  if (GELU) {  // 0.5 g (1 + tanh(√(2/π) (g + 0.044715 g³))), as PyTorch's gelu(approximate="tanh")
    return 0.5 * gate * (1.0 + tanh_f32(0.7978845608028654 * (gate + 0.044715 * gate * gate * gate)));
  }
  return gate / (1.0 + exp(-gate));
}

struct Ahead { none: f32 }  // (WGSL has no empty struct)

fn load_ahead(m: u32, n: u32) -> Ahead {
  return Ahead(0.0);
}

fn store(m: u32, n: u32, gate: f32, up: f32, ahead: Ahead) {
  hidden[m * N + n] = T(activation(gate) * up);
}
