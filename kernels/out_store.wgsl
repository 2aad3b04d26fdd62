// Matmul epilogue: store y (+ bias: with bias_add.wgsl, else bias_none.wgsl) as f32, soft-capped
// where SOFTCAP > 0 (final_logit_softcapping). Used for the fused QKV projection where rope_kv.wgsl
// follows, the LM head, and the projections a sandwich norm (rms_norm_add.wgsl) normalises before
// adding them.

@group(0) @binding(6) var<storage, read_write> out: array<f32>;

override N: u32;            // outputs per row = weight rows
override OUT_STRIDE: u32;   // elements between output rows (0: every row lands on the same place)
override OUT_OFFSET: u32 = 0u;  // where output 0 goes (the first row of an LM-head block)
override SOFTCAP: f32 = 0.0;    // > 0: y = SOFTCAP * tanh(y / SOFTCAP)

const PAIRED = false;       // one weight row per output

fn slot_row(tile: u32, slot: u32, width: u32) -> u32 {
  return tile * width + slot;
}

struct Ahead { bias: f32 }

fn load_ahead(m: u32, n: u32) -> Ahead {
  return Ahead(bias_of(n));
}

fn store(m: u32, n: u32, value: f32, partner: f32, ahead: Ahead) {
  out[m * OUT_STRIDE + OUT_OFFSET + n] = soft_cap(value + ahead.bias, SOFTCAP);
}
