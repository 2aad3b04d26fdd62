// Matrix-vector product for decoding: y = W · a for the last row of the chunk (the only row when
// decoding; the LM head's row after a prefill). Memory-bound: a workgroup streams ROWS weight-row
// slots, its invocations splitting the K / 32 groups; each invocation loads a group of activations
// (and, with a fused RMSNorm input, the same group of x for its sum of squares) once and uses it
// for all the rows, so every load of one group step is independent of the others and they are in
// flight together: the kernel waits on memory once per group step, never once per row or per
// norm term. The group loop has a trip count fixed at pipeline creation and clamped loads, so the
// compiler can unroll it. The workgroup is 1, 2 or 4 subgroups (WG; runtime/webgpu/tuning.js's
// variant): in one, reductions need no barrier; more split each row's groups among them (more of a
// long row's loads in flight) and their sums meet in workgroup memory.
// Parts: a weight scheme (q4g32.wgsl | f16.wgsl | ...), an input (in_plain.wgsl | in_norm.wgsl),
// the group dot products with the activations they take (dot_float.wgsl, any scheme;
// dot_q4g32_int16.wgsl, q4g32 by integer dot products, with act_int16.wgsl and a source of int16
// activations: runtime/webgpu/tuning.js's GEMV_DOTS lists each variant's parts) and an epilogue
// (out_*.wgsl), which maps slots to weight rows and outputs and, in load_ahead, loads what its
// store reads besides the product.

@group(0) @binding(3) var<storage, read> act: array<vec4<T>>;  // input [rows, K]

override ROWS: u32 = 4u;  // weight-row slots per workgroup: 4, 8 or 16 (runtime/webgpu/model.js picks)
const MAX_ROWS = 16u;     // function-scope arrays need a const size

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let block = wid.x + wid.y * grid.x;
  let m = params.rows - 1u;
  let last_row = select(N, 2u * N, PAIRED) - 1u;
  var rows: array<u32, MAX_ROWS>;
  for (var s = 0u; s < ROWS; s++) { rows[s] = min(slot_row(block, s, ROWS), last_row); }

  // The epilogue's loads for this invocation's first output (a residual's x and gain, RoPE's
  // angles, a bias) do not depend on the product: issued before the group loop, they arrive while
  // the weights stream instead of after the reductions, a wait on memory less at the end.
  let outputs = select(ROWS, ROWS / 2u, PAIRED);
  let ahead = load_ahead(m, min(block * outputs + lid, N - 1u));

  let groups = K / 32u;
  var acc: array<vec4<f32>, MAX_ROWS / 4u>;  // slot s in acc[s / 4][s % 4]
  var total_squares = 0.0;
  for (var j = 0u; j < (groups + WG - 1u) / WG; j++) {
    let g = j * WG + lid;
    let gc = min(g, groups - 1u);
    let valid = g < groups;
    total_squares += select(0.0, group_squares(m, gc), valid);
    var group = prepare_group(m, gc);  // the group's activations, once per step for all the rows
    for (var t = 0u; t < ROWS / 4u; t++) {
      var part = vec4<f32>();
      for (var s = 0u; s < 4u; s++) { part[s] = prepared_dot(rows[4u * t + s], gc, &group); }
      acc[t] += select(vec4<f32>(), part, valid);
    }
  }

  let scale = rms_scale(sum_f32(total_squares, lid));
  for (var t = 0u; t < ROWS / 4u; t++) { acc[t] = sum_vec4(acc[t], lid) * scale; }
  // Invocation i stores output i (in turns of WG where there are more; a later turn loads its
  // epilogue's inputs there): their stores are in flight together. One invocation storing every
  // output waited on each output's loads in turn: a load may not move above a store to another
  // binding, which may alias it.
  for (var first = 0u; first < outputs; first += WG) {
    let mine = first + lid;
    var value = 0.0;
    var partner_value = 0.0;
    for (var s = 0u; s < outputs; s++) {  // (constant indices: acc stays in registers)
      let partner = (s + ROWS / 2u) % ROWS;  // the up row of a gate row (PAIRED); unused otherwise
      if (s == mine) {
        value = acc[s / 4u][s % 4u];
        partner_value = acc[partner / 4u][partner % 4u];
      }
    }
    let n = block * outputs + mine;
    var own = ahead;
    if (first > 0u) { own = load_ahead(m, min(n, N - 1u)); }
    if (mine < outputs && n < N) { store(m, n, value, partner_value, own); }
  }
}
