// Embedding lookup: x[m] = E[token m] * SCALE, dequantised, plus x ⊙ g for the first layer's RMSNorm (see
// in_norm.wgsl). Token ids come from a GPU buffer, so a decode step can be queued before the
// previous step's sampled id has been read back. A table split into row blocks (bigger than one
// binding) is looked up with one dispatch per block; each writes only the tokens it holds.
// One invocation per 8 values; grid (K / 8 / WG, rows). Part: a weight scheme.

@group(0) @binding(3) var<storage, read> tokens: array<u32>;
@group(0) @binding(7) var<storage, read_write> x: array<vec4<f32>>;     // [rows, K]
@group(0) @binding(8) var<storage, read> gain: array<vec4<f32>>;        // first RMSNorm's weight [K]
@group(0) @binding(9) var<storage, read_write> normed: array<vec4<T>>;  // x ⊙ gain [rows, K]

override ROW0: u32 = 0u;  // the block's first row of the table
override ROWS: u32;       // rows in the block
override SCALE: f32 = 1.0;  // embedding_multiplier (Gemma: √hidden; the tied LM head reads E unscaled)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let word = id.x;
  let m = id.y;
  if (word >= K / 8u || m >= params.rows) { return; }
  let token = tokens[m];
  if (token < ROW0 || token >= ROW0 + ROWS) { return; }
  let v = word_weights(token - ROW0, word / 4u, word % 4u);
  for (var h = 0u; h < 2u; h++) {
    let i = m * (K / 4u) + 2u * word + h;
    let value = vec4<f32>(v[h]) * SCALE;
    x[i] = value;
    normed[i] = vec4<T>(value * gain[2u * word + h]);
  }
}
