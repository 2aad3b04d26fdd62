// RoPE on the chunk's queries and keys (HF rotate_half: pairs (i, i + R/2) of the first R =
// ROTARY_DIM dimensions, the rest passed through: partial rotary, transformers' modeling_phi3.py,
// apply_rotary_pos_emb), with the keys and
// values appended to this layer's KV cache. With QK_NORM, each head of q and k is first
// RMS-normalised over its D values and multiplied by its gain (Qwen3, Gemma 3: transformers'
// modeling_qwen3.py, Qwen3Attention: q_norm / k_norm before apply_rotary_pos_emb). Rotations come
// from a cos/sin table built on the host from the model's inverse frequencies (rope_scaling
// included), so no GPU trigonometry on large angles. One workgroup per (head, row), heads being
// the query heads then the KV heads as laid out in the fused QKV output; invocation i writes
// dimensions i, i + WG, ... (WG a power of two dividing D, for the reduction and a loop without a
// bounds test; D itself need not be one: Phi-3's 96 runs with WG 32). All arithmetic is f32; only
// the cache stores T.

@group(0) @binding(1) var<storage, read> qkv: array<f32>;            // [rows, (H + 2 KVH) D]
@group(0) @binding(2) var<storage, read> rope: array<vec2<f32>>;     // [CONTEXT, R / 2] (cos, sin)
@group(0) @binding(3) var<storage, read_write> q: array<f32>;        // [rows, H D]
@group(0) @binding(4) var<storage, read_write> k_cache: array<T>;    // [KVH, CONTEXT, D]
@group(0) @binding(5) var<storage, read_write> v_cache: array<T>;    // [KVH, CONTEXT, D]
@group(0) @binding(6) var<storage, read> qk_gain: array<f32>;        // [2 D]: q's gain, then k's (QK_NORM only)

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;         // D, a multiple of WG
override CONTEXT: u32;
override ROTARY_DIM: u32;        // R: the dimensions turned, the first of each head (even, <= HEAD_DIM)
override QK_NORM: bool = false;
override EPS: f32 = 0.0;         // the q/k RMSNorm's epsilon (rms_norm_eps)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let m = wid.y;
  let half = ROTARY_DIM / 2u;
  let steps = HEAD_DIM / WG;  // dimensions per invocation
  let pos = params.pos + m;
  let width = (HEADS + 2u * KV_HEADS) * HEAD_DIM;
  let src = m * width + head * HEAD_DIM;

  // the head's 1 / rms, times its gain below (1 without QK_NORM)
  var scale = 1.0;
  if (QK_NORM) {
    var squares = 0.0;
    for (var j = 0u; j < steps; j++) {
      let a = qkv[src + j * WG + lid];
      squares += a * a;
    }
    scale = inverse_rms(sum_f32(squares, lid), HEAD_DIM, EPS);
  }
  let gain = select(0u, HEAD_DIM, head >= HEADS);  // k heads read the second half of qk_gain

  for (var j = 0u; j < steps; j++) {
    let d = j * WG + lid;
    // dimension d turns with its partner: d + R/2 in the first half of the turned ones, d - R/2 in
    // the second (rotate_half's sign); from R on it is passed through
    var partner = d;
    if (d < half) {
      partner = d + half;
    } else if (d < ROTARY_DIM) {
      partner = d - half;
    }
    var a = qkv[src + d] * scale;
    var b = qkv[src + partner] * scale;
    if (QK_NORM) {
      a *= qk_gain[gain + d];
      b *= qk_gain[gain + partner];
    }
    var value = a;
    if (d < ROTARY_DIM) {
      let turn = rope[pos * half + d % half];
      value = select(turn_pair(b, a, turn).y, turn_pair(a, b, turn).x, d < half);
    }
    if (head < HEADS) {
      q[(m * HEADS + head) * HEAD_DIM + d] = value;
    } else {
      let kv = head - HEADS;
      let dst = (kv * CONTEXT + pos) * HEAD_DIM + d;
      k_cache[dst] = T(value);
      v_cache[dst] = T(qkv[m * width + (HEADS + KV_HEADS + kv) * HEAD_DIM + d]);
    }
  }
}
