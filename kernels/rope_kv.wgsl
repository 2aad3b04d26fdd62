// RoPE on the chunk's queries and keys (HF rotate_half: pairs (i, i + D/2)), with the keys and
// values appended to this layer's KV cache. Rotations come from a cos/sin table built on the host
// from the model's inverse frequencies (rope_scaling included), so no GPU trigonometry on large
// angles. One invocation per (row, head, pair); heads are the query heads then the KV heads, as
// laid out in the fused QKV output.

@group(0) @binding(1) var<storage, read> qkv: array<f32>;            // [rows, (H + 2 KVH) D]
@group(0) @binding(2) var<storage, read> rope: array<vec2<f32>>;     // [CONTEXT, D / 2] (cos, sin)
@group(0) @binding(3) var<storage, read_write> q: array<f32>;        // [rows, H D]
@group(0) @binding(4) var<storage, read_write> k_cache: array<T>;    // [KVH, CONTEXT, D]
@group(0) @binding(5) var<storage, read_write> v_cache: array<T>;    // [KVH, CONTEXT, D]

override HEADS: u32;
override KV_HEADS: u32;
override HEAD_DIM: u32;
override CONTEXT: u32;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
  let index = id.x + id.y * grid.x * WG;
  let half = HEAD_DIM / 2u;
  let pair = index % half;
  let head = (index / half) % (HEADS + KV_HEADS);
  let m = index / (half * (HEADS + KV_HEADS));
  if (m >= params.rows) { return; }
  let pos = params.pos + m;
  let width = (HEADS + 2u * KV_HEADS) * HEAD_DIM;
  let src = m * width + head * HEAD_DIM + pair;
  let a = qkv[src];
  let b = qkv[src + half];
  let turn = rope[pos * half + pair];
  let first = a * turn.x - b * turn.y;
  let second = b * turn.x + a * turn.y;
  if (head < HEADS) {
    let dst = (m * HEADS + head) * HEAD_DIM + pair;
    q[dst] = first;
    q[dst + half] = second;
    return;
  }
  let kv = head - HEADS;
  let dst = (kv * CONTEXT + pos) * HEAD_DIM + pair;
  k_cache[dst] = T(first);
  k_cache[dst + half] = T(second);
  let v = m * width + (HEADS + KV_HEADS + kv) * HEAD_DIM + pair;
  v_cache[dst] = T(qkv[v]);
  v_cache[dst + half] = T(qkv[v + half]);
}
