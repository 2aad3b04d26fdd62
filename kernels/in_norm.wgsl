// Matmul input RMSNorm(x) = (x ⊙ g) / rms(x), fused: the residual epilogue that last wrote x also
// wrote x ⊙ g (the matmul's `act`), so only 1/rms(x) is left, and it factors out of every dot
// product. The matmul computes it for the rows it needs from the sum of squares of x.

@group(0) @binding(4) var<storage, read> norm_x: array<vec4<f32>>;  // residual stream [rows, K]

override EPS: f32;

// Σ x[m, k]^2 over the vec4s k/4 = first, first + stride, ... (first < stride). A loop with a
// trip count known at pipeline creation and clamped loads lets the compiler issue loads together.
fn squares(m: u32, first: u32, stride: u32) -> f32 {
  var total = 0.0;
  for (var j = 0u; j < (K / 4u + stride - 1u) / stride; j++) {
    let i = j * stride + first;
    let v = norm_x[m * (K / 4u) + min(i, K / 4u - 1u)];
    total += select(0.0, dot(v, v), i < K / 4u);
  }
  return total;
}

fn rms_scale(total_squares: f32) -> f32 {
  return inverseSqrt(total_squares / f32(K) + EPS);
}
