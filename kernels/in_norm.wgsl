// Matmul input RMSNorm(x) = (x ⊙ g) / rms(x), fused: the residual epilogue that last wrote x also
// wrote x ⊙ g (the matmul's `act`), so only 1/rms(x) is left, and it factors out of every dot
// product. The matmul computes it for the rows it needs from the sum of squares of x.

@group(0) @binding(4) var<storage, read> norm_x: array<vec4<f32>>;  // residual stream [rows, K]

override EPS: f32;

// Σ x[m, k]^2 over the 32 values of group g (k = 32 g ..): the GEMV sums it with the same group
// of activations it multiplies, so these loads travel with that step's others.
fn group_squares(m: u32, g: u32) -> f32 {
  var total = 0.0;
  for (var i = 0u; i < 8u; i++) {
    let v = norm_x[m * (K / 4u) + 8u * g + i];
    total += dot(v, v);
  }
  return total;
}

fn rms_scale(total_squares: f32) -> f32 {
  return inverse_rms(total_squares, K, EPS);
}
