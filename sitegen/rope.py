"""Rotary position embedding (RoPE): the per-pair rotation speeds of a model, with its scaling.

The one Python computation of them: the reference forward pass rotates with it and the GGUF loader
recovers Llama 3's rope_scaling against it. The runtime's JavaScript twin is tested against its
output (build/js-fixtures/rope.expected.json, written by tests/js/fixtures/make_model_fixtures.py).
"""

import math

import numpy as np


def inverse_frequencies(head_dim: int, rope_theta: float, rope_scaling: dict | None) -> np.ndarray:
    """float64 [head_dim / 2]: pair i (dimensions i and i + head_dim/2) turns by position * result[i]
    radians. The reference and the runtime use them rounded to float32.

    rope_scaling is an `Architecture.rope_scaling` (sitegen/arch.py): None; {"type": "linear",
    "factor"} (every speed divided by factor); or {"type": "llama3", "factor", "low_freq_factor",
    "high_freq_factor", "original_max_position_embeddings"}, as HF transformers'
    `_compute_llama3_parameters` (modeling_rope_utils.py): wavelengths longer than
    original / low_freq_factor are slowed by factor, those shorter than original / high_freq_factor
    are kept, and those between blend the two linearly in original / wavelength.
    """
    inv_freq = 1.0 / rope_theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if rope_scaling is None:
        return inv_freq
    factor = rope_scaling["factor"]
    if rope_scaling["type"] == "linear":
        return inv_freq / factor
    if rope_scaling["type"] == "llama3":
        low, high = rope_scaling["low_freq_factor"], rope_scaling["high_freq_factor"]
        old_context = rope_scaling["original_max_position_embeddings"]
        wavelength = 2 * math.pi / inv_freq
        smooth = (old_context / wavelength - low) / (high - low)
        blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
        return np.where(wavelength > old_context / low, inv_freq / factor,          # long waves: slowed
                        np.where(wavelength < old_context / high, inv_freq, blended))  # short ones: kept
    raise ValueError(f"unknown rope_scaling type {rope_scaling['type']!r}")  # arch.py admits only the above
