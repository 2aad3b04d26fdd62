// The int16 GEMV's activations quantised before it, once per step (act_int16_write.wgsl, a dispatch
// of its own): the GEMV reads the stored groups, 80 bytes each, and does no quantising. A part of
// gemv.wgsl with act_int16.wgsl and dot_q4g32_int16.wgsl (act_int16_here.wgsl is the other source).

@group(0) @binding(11) var<storage, read> act_int16: array<vec4<u32>>;  // [K / 32, STORED_VEC4S]

// Σ x² of group g of the decode row's RMSNorm input (0 for an input without one): in_norm_read.wgsl.
fn stored_squares(g: u32) -> f32 {
  return bitcast<f32>(act_int16[STORED_VEC4S * g + 4u].z);
}

// Group g of the activations of the decode row (the one act_int16_write.wgsl quantised; m is that row).
fn prepare_group(m: u32, g: u32) -> Int16Group {
  let at = STORED_VEC4S * g;
  let high = array<vec4<u32>, 2>(act_int16[at], act_int16[at + 1u]);
  let low = array<vec4<u32>, 2>(act_int16[at + 2u], act_int16[at + 3u]);
  let rest = act_int16[at + 4u];
  var group: Int16Group;
  for (var w = 0u; w < 8u; w++) {
    group.high[w] = high[w / 4u][w % 4u];
    group.low[w] = low[w / 4u][w % 4u];
  }
  group.sum = bitcast<i32>(rest.x);
  group.scale = bitcast<f32>(rest.y);
  return group;
}
