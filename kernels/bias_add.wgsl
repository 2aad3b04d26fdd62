// A matmul epilogue's bias (a part of out_store.wgsl and out_rope_kv.wgsl kernels): bias[row], added to y.
// Its other form, bias_none.wgsl, binds nothing: a projection without a bias (most models' QKV,
// every LM head) binds a storage buffer fewer, which lets out_rope_kv's QKV matmul fit WebGPU's
// default of 8 per kernel.

@group(0) @binding(5) var<storage, read> bias: array<f32>;  // [weight rows]

fn bias_of(row: u32) -> f32 {
  return bias[row];
}
