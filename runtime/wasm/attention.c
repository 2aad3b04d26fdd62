// Attention of one query position over the KV cache (as kernels/attention.wgsl for one row): query
// head h reads KV head h / (heads / kv_heads) (GQA); score s = scale q.k_s, soft-capped to
// softcap tanh(s / softcap) where softcap > 0 (Gemma 2's attn_logit_softcapping); softmax over
// positions first..length-1 (first > 0: a sliding window); out = Σ p_s v_s.

#include "common.h"

// q f32 [heads, head_dim]; k_cache, v_cache f32 [kv_heads, context, head_dim]; out f32 [heads,
// head_dim] (heads head0..head1-1 written); scores: scratch f32 [length - first], private to the
// caller. 0 <= first < length <= context.
void EXPORT(attention)(const float *q, const float *k_cache, const float *v_cache, float *out, float *scores,
                       int heads, int kv_heads, int head_dim, int context, int first, int length,
                       float scale, float softcap, int head0, int head1) {
  const int count = length - first;
  for (int h = head0; h < head1; h++) {
    const int kv = h / (heads / kv_heads);
    const float *qh = q + h * head_dim;
    const float *keys = k_cache + ((int64_t)kv * context + first) * head_dim;
    const float *values = v_cache + ((int64_t)kv * context + first) * head_dim;
    float top = -3.0e38f;
    for (int s = 0; s < count; s++) {
      float score = scale * dot(qh, keys + (int64_t)s * head_dim, head_dim);
      if (softcap > 0.0f) score = softcap * tanhf_(score / softcap);
      scores[s] = score;
      if (score > top) top = score;
    }
    float total = 0.0f;
    int s = 0;
    for (; s + 4 <= count; s += 4) {
      const v128_t p = exp4(wasm_f32x4_sub(wasm_v128_load(scores + s), wasm_f32x4_splat(top)));
      wasm_v128_store(scores + s, p);
      total += hsum(p);
    }
    for (; s < count; s++) total += (scores[s] = expf_(scores[s] - top));
    float *o = out + h * head_dim;
    for (int i = 0; i < head_dim; i++) o[i] = 0.0f;
    for (s = 0; s < count; s++) {
      const float p = scores[s] / total;
      const float *v = values + (int64_t)s * head_dim;
      int i = 0;
      for (; i + 4 <= head_dim; i += 4) {
        wasm_v128_store(o + i, wasm_f32x4_add(wasm_v128_load(o + i), wasm_f32x4_mul(wasm_f32x4_splat(p), wasm_v128_load(v + i))));
      }
      for (; i < head_dim; i++) o[i] += p * v[i];
    }
  }
}
