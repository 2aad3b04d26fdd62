// Rotary position embedding (RoPE) on the host: the per-pair rotation speeds with the model's
// rope_scaling, and the cos/sin table kernels/rope_kv.wgsl reads. The one JavaScript computation
// of them; sitegen/rope.py is the Python one, and tests/js/rope.test.js checks this against its
// output.

import { UnsupportedModelError } from '../errors.js';

/**
 * Float32Array [head_dim / 2]: pair i (dimensions i and i + head_dim / 2) turns by position *
 * result[i] radians. Computed in float64 as HF transformers does, then rounded to float32 (as the
 * reference forward pass uses them).
 * architecture: the manifest's; reads head_dim, rope_theta and rope_scaling: null, { type:
 *   'linear', factor } (every speed divided by factor) or { type: 'llama3', factor,
 *   low_freq_factor, high_freq_factor, original_max_position_embeddings } (wavelengths longer
 *   than original / low_freq_factor slowed by factor, those shorter than original /
 *   high_freq_factor kept, those between blended linearly in original / wavelength).
 * Throws UnsupportedModelError for another rope_scaling type.
 */
export function ropeInverseFrequencies({ head_dim: d, rope_theta: theta, rope_scaling: scaling }) {
  if (scaling && !['linear', 'llama3'].includes(scaling.type)) {
    throw new UnsupportedModelError(`rope_scaling type ${scaling.type} is not supported (linear and llama3 are).`);
  }
  const result = new Float32Array(d / 2);
  for (let i = 0; i < d / 2; i++) {
    let inv = 1 / theta ** ((2 * i) / d);
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
 * Float32Array [positions, head_dim / 2, 2]: (cos, sin) of pos * inverseFrequencies[i], the angle
 * rounded to float32 as the reference has it.
 */
export function ropeTable(inverseFrequencies, positions) {
  const half = inverseFrequencies.length;
  const table = new Float32Array(positions * half * 2);
  for (let pos = 0; pos < positions; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * inverseFrequencies[i]);
      table[2 * (pos * half + i)] = Math.cos(angle);
      table[2 * (pos * half + i) + 1] = Math.sin(angle);
    }
  }
  return table;
}
