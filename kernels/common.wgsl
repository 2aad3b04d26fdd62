// Included first in every kernel (after the preamble that runtime/webgpu/kernels.js writes: `enable f16;`
// where the f16 path runs, `enable subgroups;` where subgroups exist, and `alias T = f16 | f32`,
// the element type of activations and of the KV cache). Then come the numeric path's helpers
// (numeric_f16.wgsl | numeric_f32.wgsl) and the reduction library (reduce_subgroups.wgsl |
// reduce_workgroup.wgsl), then the kernel's parts and main file.

// The one uniform of a step, written by the host once per submit and shared by every dispatch.
// The host reads its layout from here (runtime/webgpu/kernels.js, StepUniform): fields are
// u32 / i32 / f32 only, and are set by these names.
struct Params {
  rows: u32,                // tokens in this chunk (1 when decoding)
  pos: u32,                 // cache position of the chunk's first token
  temperature: f32,         // 0: greedy
  top_p: f32,
  top_k: u32,               // 0: off
  random: f32,              // the caller's uniform draw in [0, 1)
  frequency_penalty: f32,
  presence_penalty: f32,
  repetition_penalty: f32,  // 1: off
  bias_count: u32,          // entries in the logit-bias list
  logprobs: u32,            // 1: report the chosen token's log-probability
  top_logprobs: u32,        // how many alternatives to report (0..MAX_TOP_LOGPROBS, runtime/sampling_limits.js)
  masked: u32,              // 1: only the tokens the token mask allows may be sampled (sample_scores.wgsl)
}

@group(0) @binding(0) var<uniform> params: Params;

override WG: u32 = 64;      // workgroup size; the reduction helpers rely on it too

// Built on the reduction library's sum_vec4(value, lid) and argmax(best, lid).
fn sum_f32(value: f32, lid: u32) -> f32 {
  return sum_vec4(vec4<f32>(value, 0.0, 0.0, 0.0), lid).x;
}

// Order of (key, index) pairs for argmax: larger key first, then smaller index.
fn better(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  return select(a, b, b.x > a.x || (b.x == a.x && b.y < a.y));
}

// f32 <-> u32 keys with the same order (for argmax and bisection over values): positive floats get
// the sign bit set, negative ones have every bit flipped.
fn key_of(value: f32) -> u32 {
  let bits = bitcast<u32>(value);
  return select(bits | 0x80000000u, ~bits, (bits >> 31u) == 1u);
}

fn value_of(key: u32) -> f32 {
  return bitcast<f32>(select(~key, key & 0x7fffffffu, (key >> 31u) == 1u));
}

// tanh without the NaN some backends give for a large |x| (their exp overflows): tanh(±10) is
// ±1 in f32 already. For GeGLU's GELU (out_swiglu.wgsl) and soft-capping (soft_cap).
fn tanh_f32(x: f32) -> f32 {
  return tanh(clamp(x, -10.0, 10.0));
}

// cap * tanh(value / cap) (Gemma 2's attn_logit_softcapping and final_logit_softcapping:
// transformers' modeling_gemma2.py); cap 0: value itself.
fn soft_cap(value: f32, cap: f32) -> f32 {
  return select(value, cap * tanh_f32(value / cap), cap > 0.0);
}

fn max_f32(value: f32, lid: u32) -> f32 {
  return value_of(argmax(vec2<u32>(key_of(value), 0u), lid).x);
}

// 1 / rms(x) = 1 / sqrt(Σ x² / count + eps), RMSNorm's scale (transformers' LlamaRMSNorm), from
// the sum of squares of the count values of x.
fn inverse_rms(sum_squares: f32, count: u32, eps: f32) -> f32 {
  return inverseSqrt(sum_squares / f32(count) + eps);
}

// RoPE's turn of one pair (rotate_half: dimension d with d + R/2, transformers'
// apply_rotary_pos_emb): (first cos - second sin, second cos + first sin), turn = (cos, sin) of the
// pair's angle at the position. For rope_kv.wgsl and out_rope_kv.wgsl.
fn turn_pair(first: f32, second: f32, turn: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(first * turn.x - second * turn.y, second * turn.x + first * turn.y);
}

// Half i % 2 of a word holding two f16 (element i of an f16 array read as u32 words: `word` is
// word i / 2), as f32. For the weight schemes' scales.
fn half_at(word: u32, i: u32) -> f32 {
  let pair = unpack2x16float(word);
  return select(pair.x, pair.y, (i & 1u) == 1u);
}
