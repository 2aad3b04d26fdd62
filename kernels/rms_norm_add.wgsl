// Residual add through a sandwich norm (sandwich_norms: Gemma's post_attention_layernorm and
// post_feedforward_layernorm, transformers' modeling_gemma3.py, Gemma3DecoderLayer):
// x += RMSNorm(y) ⊙ post_gain, then normed = x ⊙ gain for the RMSNorm that reads x next (see
// in_norm.wgsl). y is a projection's output, stored whole by the matmul first (out_store.wgsl):
// its 1/rms needs every value of the row. One workgroup per row; all arithmetic f32.

@group(0) @binding(1) var<storage, read> y: array<f32>;              // projection output [rows, HIDDEN]
@group(0) @binding(2) var<storage, read> post_gain: array<f32>;      // the sandwich norm's weight [HIDDEN]
@group(0) @binding(3) var<storage, read_write> x: array<f32>;        // residual stream [rows, HIDDEN]
@group(0) @binding(4) var<storage, read> gain: array<f32>;           // next RMSNorm's weight [HIDDEN]
@group(0) @binding(5) var<storage, read_write> normed: array<T>;     // x ⊙ gain [rows, HIDDEN]

override HIDDEN: u32;
override EPS: f32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x * HIDDEN;
  var squares = 0.0;
  for (var i = lid; i < HIDDEN; i += WG) { squares += y[row + i] * y[row + i]; }
  let scale = inverse_rms(sum_f32(squares, lid), HIDDEN, EPS);
  for (var i = lid; i < HIDDEN; i += WG) {
    let sum = x[row + i] + y[row + i] * scale * post_gain[i];
    x[row + i] = sum;
    normed[row + i] = T(sum * gain[i]);
  }
}
