// Matmul epilogue for the fused QKV projection where RoPE needs nothing but the pair it turns (no
// qk_norm): the rotation and the KV-cache append happen as the outputs are stored, so no
// rope_kv.wgsl dispatch follows (a dispatch less per layer). Its results are rope_kv's after
// out_store.wgsl: q rotated into `q`, k rotated and v appended at each row's position.
// Each output is a pair of weight rows of one head: a pair's first dimension in a tile's first half
// of slots, the dimension it turns with in the second half. Pair j of a head: dimensions j and
// j + R/2 for j < R/2 (rotate_half: transformers' apply_rotary_pos_emb; R = ROTARY_DIM), turned in
// q and k heads; the dimensions from R on (partial rotary) pair up alike and pass through, as all
// of v's do. The bias (Qwen2's) comes from bias_add.wgsl, or none from bias_none.wgsl.

@group(0) @binding(12) var<storage, read> rope: array<vec2<f32>>;   // [CONTEXT, R / 2] (cos, sin)
@group(0) @binding(13) var<storage, read_write> q: array<f32>;      // [rows, H D]
@group(0) @binding(14) var<storage, read_write> k_cache: array<T>;  // [KVH, CONTEXT, D]
@group(0) @binding(15) var<storage, read_write> v_cache: array<T>;  // [KVH, CONTEXT, D]

override N: u32;            // outputs per row: pairs, (H + 2 KVH) D / 2
override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;     // D, even
override CONTEXT: u32;
override ROTARY_DIM: u32;   // R: the dimensions turned, the first of each head (even, <= D)

const PAIRED = true;        // two weight rows per output: slots s and s + width / 2

// The dimension of pair j's first member (second = false) or of the one it turns with.
fn pair_dimension(j: u32, second: bool) -> u32 {
  let half = ROTARY_DIM / 2u;
  if (j < half) {
    return j + select(0u, half, second);
  }
  return ROTARY_DIM + (j - half) + select(0u, (HEAD_DIM - ROTARY_DIM) / 2u, second);
}

fn slot_row(tile: u32, slot: u32, width: u32) -> u32 {
  let half = width / 2u;
  let pair = tile * half + slot % half;
  return (pair / (HEAD_DIM / 2u)) * HEAD_DIM + pair_dimension(pair % (HEAD_DIM / 2u), slot >= half);
}

struct Ahead { bias: vec2<f32>, angle: vec2<f32> }  // the pair's biases; its (cos, sin), where it turns

fn load_ahead(m: u32, n: u32) -> Ahead {
  let head = n / (HEAD_DIM / 2u);
  let j = n % (HEAD_DIM / 2u);
  let row = head * HEAD_DIM;
  let turned = min(j, ROTARY_DIM / 2u - 1u);  // a pair past R does not turn: any angle in range will do
  return Ahead(vec2<f32>(bias_of(row + pair_dimension(j, false)), bias_of(row + pair_dimension(j, true))),
               rope[(params.pos + m) * (ROTARY_DIM / 2u) + turned]);
}

fn store(m: u32, n: u32, first: f32, second: f32, ahead: Ahead) {
  let head = n / (HEAD_DIM / 2u);
  let j = n % (HEAD_DIM / 2u);
  let dims = vec2<u32>(pair_dimension(j, false), pair_dimension(j, true));
  var value = vec2<f32>(first, second) + ahead.bias;
  let pos = params.pos + m;
  if (head < HEADS + KV_HEADS && j < ROTARY_DIM / 2u) {
    value = turn_pair(value.x, value.y, ahead.angle);
  }
  if (head < HEADS) {
    let at = (m * HEADS + head) * HEAD_DIM;
    q[at + dims.x] = value.x;
    q[at + dims.y] = value.y;
  } else if (head < HEADS + KV_HEADS) {
    let at = ((head - HEADS) * CONTEXT + pos) * HEAD_DIM;
    k_cache[at + dims.x] = T(value.x);
    k_cache[at + dims.y] = T(value.y);
  } else {
    let at = ((head - HEADS - KV_HEADS) * CONTEXT + pos) * HEAD_DIM;
    v_cache[at + dims.x] = T(value.x);
    v_cache[at + dims.y] = T(value.y);
  }
}
