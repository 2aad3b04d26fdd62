// Matmul epilogue: the residual add x += y, which also writes x ⊙ g for the RMSNorm that reads x
// next (see in_norm.wgsl). Used for the attention output projection and the FFN down projection.

@group(0) @binding(7) var<storage, read_write> x: array<f32>;       // residual stream [rows, N]
@group(0) @binding(8) var<storage, read> gain: array<f32>;          // next RMSNorm's weight [N]
@group(0) @binding(9) var<storage, read_write> normed: array<T>;    // x ⊙ gain [rows, N]

override N: u32;  // outputs per row = weight rows = hidden size

const PAIRED = false;

fn slot_row(tile: u32, slot: u32, width: u32) -> u32 {
  return tile * width + slot;
}

struct Ahead { x: f32, gain: f32 }

fn load_ahead(m: u32, n: u32) -> Ahead {
  return Ahead(x[m * N + n], gain[n]);
}

fn store(m: u32, n: u32, value: f32, partner: f32, ahead: Ahead) {
  let sum = ahead.x + value;
  x[m * N + n] = sum;
  normed[m * N + n] = T(sum * ahead.gain);
}
