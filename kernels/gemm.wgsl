// Matrix-matrix product for prefill chunks: y[m] = W · a[m] for every row m of the chunk. Each
// invocation computes a register tile of 4 weight-row slots by TOKENS chunk rows: every weight
// word is decoded once and used for all TOKENS rows. Neighbouring invocations take neighbouring
// slot tiles of the same rows, so activation loads are shared through the cache. No workgroup
// memory and no barriers (CPU adapters run barriers very slowly). Grid: (slot tiles / WG,
// rows / TOKENS). Parts and epilogue calls as in gemv.wgsl.

@group(0) @binding(3) var<storage, read> act: array<vec4<T>>;  // input [rows, K]

const TOKENS = 8u;  // chunk rows per invocation (function-scope arrays need a const size)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let tile = id.x;
  let m0 = id.y * TOKENS;
  let outputs = select(4u, 2u, PAIRED);
  if (tile * outputs >= N) { return; }
  let last_row = select(N, 2u * N, PAIRED) - 1u;
  var rows: array<u32, 4>;
  for (var s = 0u; s < 4u; s++) { rows[s] = min(slot_row(tile, s, 4u), last_row); }
  var tokens: array<u32, TOKENS>;  // input rows, clamped to the chunk (extra ones are not stored)
  for (var t = 0u; t < TOKENS; t++) { tokens[t] = min(m0 + t, params.rows - 1u) * (K / 4u); }

  var acc: array<vec4<f32>, TOKENS>;
  for (var g = 0u; g < K / 32u; g++) {
    for (var w = 0u; w < 4u; w++) {
      let w0 = word_weights(rows[0], g, w);
      let w1 = word_weights(rows[1], g, w);
      let w2 = word_weights(rows[2], g, w);
      let w3 = word_weights(rows[3], g, w);
      for (var t = 0u; t < TOKENS; t++) {
        let a0 = act[tokens[t] + 8u * g + 2u * w];
        let a1 = act[tokens[t] + 8u * g + 2u * w + 1u];
        acc[t] += vec4<f32>(vec4<T>(dot(w0[0], a0) + dot(w0[1], a1), dot(w1[0], a0) + dot(w1[1], a1),
                                    dot(w2[0], a0) + dot(w2[1], a1), dot(w3[0], a0) + dot(w3[1], a1)));
      }
    }
  }

  for (var t = 0u; t < TOKENS; t++) {
    let m = m0 + t;
    if (m >= params.rows) { break; }
    var total_squares = 0.0;
    for (var g = 0u; g < K / 32u; g++) { total_squares += group_squares(m, g); }
    let y = acc[t] * rms_scale(total_squares);
    for (var s = 0u; s < outputs; s++) {
      let n = tile * outputs + s;
      if (n < N) { store(m, n, y[s], y[(s + 2u) % 4u], load_ahead(m, n)); }
    }
  }
}
