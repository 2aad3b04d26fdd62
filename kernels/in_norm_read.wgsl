// Matmul input RMSNorm(x) = (x ⊙ g) / rms(x), fused as in_norm.wgsl, for a GEMV whose activations
// were quantised before it (act_int16_read.wgsl): the dispatch that quantised them (act_int16_write.wgsl,
// with in_norm.wgsl) stored each group's Σ x² beside its int16 values, so the GEMV reads one number
// per group instead of the group of x.

override EPS: f32;

fn group_squares(m: u32, g: u32) -> f32 {
  return stored_squares(g);
}

fn rms_scale(total_squares: f32) -> f32 {
  return inverse_rms(total_squares, K, EPS);
}
