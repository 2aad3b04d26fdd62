// Rotary position embedding (RoPE) on the host: the per-pair rotation speeds with the model's
// rope_scaling, and the cos/sin tables both backends' kernels read (kernels/rope_kv.wgsl,
// runtime/wasm/rope.c). The one JavaScript computation of them; sitegen/rope.py is the Python one,
// and tests/js/rope.test.js checks this against its output.

import { UnsupportedModelError } from './errors.js';

/**
 * Float32Array [R / 2], R = rotaryDim(architecture): pair i (dimensions i and i + R / 2 of a head)
 * turns by position * result[i] radians. Computed in float64 as HF transformers does, then rounded
 * to float32 (as the reference forward pass uses them).
 * architecture: the manifest's; reads head_dim, partial_rotary_factor, rope_theta and
 *   rope_scaling: null, { type: 'linear', factor } (every speed divided by factor), { type:
 *   'llama3', factor, low_freq_factor, high_freq_factor, original_max_position_embeddings }
 *   (wavelengths longer than original / low_freq_factor slowed by factor, those shorter than
 *   original / high_freq_factor kept, those between blended linearly in original / wavelength) or
 *   { type: 'longrope', short_factor, long_factor, original_max_position_embeddings } (speed i
 *   divided by long_factor[i] when contextLength exceeds the original context, else by
 *   short_factor[i]: sitegen/rope.py says where this differs from transformers).
 * contextLength: the context the model runs (its KV cache's length); longrope only.
 * Throws UnsupportedModelError for another rope_scaling type.
 */
export function ropeInverseFrequencies(architecture, contextLength) {
  const { rope_theta: theta, rope_scaling: scaling } = architecture;
  if (scaling && !['linear', 'llama3', 'longrope'].includes(scaling.type)) {
    throw new UnsupportedModelError(`rope_scaling type ${scaling.type} is not supported (linear, llama3 and longrope are).`);
  }
  const d = rotaryDim(architecture);
  const longrope = scaling?.type === 'longrope'
    && scaling[contextLength > scaling.original_max_position_embeddings ? 'long_factor' : 'short_factor'];
  const result = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) {
    let inv = 1 / theta ** ((2 * i) / d);
    if (longrope) inv /= longrope[i];
    if (scaling?.type === 'linear') inv /= scaling.factor;
    if (scaling?.type === 'llama3') {
      const { factor, low_freq_factor: low, high_freq_factor: high,
        original_max_position_embeddings: old } = scaling;
      const wavelength = (2 * Math.PI) / inv;
      const smooth = (old / wavelength - low) / (high - low);
      if (wavelength > old / low) inv /= factor;          // long waves: slowed down
      else if (wavelength >= old / high) inv = (1 - smooth) * (inv / factor) + smooth * inv;
    }
    result[i] = inv;
  }
  return result;
}

/**
 * The dimensions of each head RoPE turns, the first ones: head_dim * partial_rotary_factor rounded
 * down (sitegen/arch.py's Architecture.rotary_dim).
 */
export function rotaryDim({ head_dim: d, partial_rotary_factor: factor = 1 }) {
  return Math.floor(d * factor);
}

/**
 * Float32Array [positions, R / 2, 2]: (cos, sin) of pos * inverseFrequencies[i], the angle
 * rounded to float32 as the reference has it, times rope_scaling's attention_factor (LongRoPE's;
 * 1 for the other kinds).
 */
export function ropeTable(inverseFrequencies, positions, { rope_scaling: scaling } = {}) {
  const factor = scaling?.attention_factor ?? 1;
  const half = inverseFrequencies.length;
  const table = new Float32Array(positions * half * 2);
  for (let pos = 0; pos < positions; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inverseFrequencies[i]);
      table[2 * (pos * half + i)] = Math.cos(angle) * factor;
      table[2 * (pos * half + i) + 1] = Math.sin(angle) * factor;
    }
  }
  return table;
}

/**
 * The model's (cos, sin) tables for a KV cache of `contextLength` positions, each a ropeTable()
 * Float32Array [contextLength, R / 2, 2]: { global: every layer's (the full-attention layers' where
 * there are sliding ones), local: the sliding layers' own, from rope_local_base_freq (Gemma 3), or
 * null where the model has none }. architecture: the manifest's. Throws as ropeInverseFrequencies.
 */
export function ropeTables(architecture, contextLength) {
  // LongRoPE (Phi-3) picks its factors by the context the model runs: the KV cache's length
  const global = ropeTable(ropeInverseFrequencies(architecture, contextLength), contextLength, architecture);
  if (!architecture.rope_local_base_freq) return { global, local: null };
  // unscaled: Gemma3TextConfig scales the full-attention layers only
  const local = ropeInverseFrequencies({ ...architecture, rope_theta: architecture.rope_local_base_freq, rope_scaling: null });
  return { global, local: ropeTable(local, contextLength) };
}
