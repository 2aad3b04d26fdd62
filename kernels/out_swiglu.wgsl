// Matmul epilogue for the fused gate/up projection: the weight holds the N gate rows, then the N up
// rows; a tile's first half of slots computes gate rows, its second half the matching up rows, and
// output n = silu(gate n) * up n.

@group(0) @binding(10) var<storage, read_write> hidden: array<T>;  // [rows, N]

override N: u32;  // outputs per row = FFN size

const PAIRED = true;  // two weight rows per output: slots s and s + width / 2

fn slot_row(tile: u32, slot: u32, width: u32) -> u32 {
  let half = width / 2u;
  return tile * half + slot % half + select(0u, N, slot >= half);
}

fn store(m: u32, n: u32, gate: f32, up: f32) {
  hidden[m * N + n] = T(gate / (1.0 + exp(-gate)) * up);
}
