// Matrix-vector product for decoding: y = W · a for the last row of the chunk (the only row when
// decoding; the LM head's row after a prefill). Memory-bound: a workgroup streams TILES tiles of 4
// weight-row slots (a vec4 of accumulators each), its invocations splitting the K / 32 groups;
// each invocation loads a group of activations once and uses it for all the rows (two tiles pay
// off on tall matrices, where there are workgroups enough). The group loop has a trip count fixed
// at pipeline creation and clamped loads, so the compiler can unroll it and keep many loads in
// flight. Where the adapter's subgroup size is fixed the workgroup is one subgroup, and reductions
// need no barrier.
// Parts: a weight scheme (q4g32.wgsl | f16.wgsl), an input (in_plain.wgsl | in_norm.wgsl) and an
// epilogue (out_*.wgsl), which maps slots to weight rows and outputs.

@group(0) @binding(3) var<storage, read> act: array<vec4<T>>;  // input [rows, K]

override TILES: u32 = 1u;  // 1 or 2
const MAX_TILES = 2u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let first_tile = (wid.x + wid.y * grid.x) * TILES;
  let m = params.rows - 1u;
  let last_row = select(N, 2u * N, PAIRED) - 1u;
  var rows: array<array<u32, 4>, MAX_TILES>;
  for (var t = 0u; t < TILES; t++) {
    for (var s = 0u; s < 4u; s++) { rows[t][s] = min(slot_row(first_tile + t, s, 4u), last_row); }
  }

  let groups = K / 32u;
  var acc: array<vec4<f32>, MAX_TILES>;
  for (var j = 0u; j < (groups + WG - 1u) / WG; j++) {
    let g = j * WG + lid;
    let gc = min(g, groups - 1u);
    var a: array<vec4<T>, 8>;
    for (var i = 0u; i < 8u; i++) { a[i] = act[(m * K + 32u * gc) / 4u + i]; }
    for (var t = 0u; t < TILES; t++) {
      var part = vec4<f32>();
      for (var s = 0u; s < 4u; s++) { part[s] = group_dot(rows[t][s], gc, &a); }
      acc[t] += select(vec4<f32>(), part, g < groups);
    }
  }

  let scale = rms_scale(sum_f32(squares(m, lid, WG), lid));
  let outputs = select(4u, 2u, PAIRED);
  for (var t = 0u; t < TILES; t++) {
    let y = sum_vec4(acc[t], lid) * scale;
    if (lid == 0u) {
      for (var s = 0u; s < outputs; s++) {
        let n = (first_tile + t) * outputs + s;
        if (n < N) { store(m, n, y[s], y[(s + 2u) % 4u]); }
      }
    }
  }
}
