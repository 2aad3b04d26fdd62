"""Rotary position embedding (RoPE): the per-pair rotation speeds of a model, with its scaling.

The one Python computation of them: the reference forward pass rotates with it and the GGUF loader
recovers Llama 3's rope_scaling against it. The runtime's JavaScript twin is tested against its
output (build/js-fixtures/rope.expected.json, written by tests/js/fixtures/make_model_fixtures.py).
"""

import math

import numpy as np


def inverse_frequencies(rotary_dim: int, rope_theta: float, rope_scaling: dict | None,
                        context_length: int | None = None) -> np.ndarray:
    """float64 [rotary_dim / 2]: pair i (dimensions i and i + rotary_dim/2 of a head; the dimensions
    from rotary_dim on are not turned) turns by position * result[i] radians. The reference and the
    runtime use them rounded to float32.

    rope_scaling is an `Architecture.rope_scaling` (sitegen/arch.py): None; {"type": "linear",
    "factor"} (every speed divided by factor); or {"type": "llama3", "factor", "low_freq_factor",
    "high_freq_factor", "original_max_position_embeddings"}, as HF transformers'
    `_compute_llama3_parameters` (modeling_rope_utils.py): wavelengths longer than
    original / low_freq_factor are slowed by factor, those shorter than original / high_freq_factor
    are kept, and those between blend the two linearly in original / wavelength; or {"type":
    "longrope", "short_factor", "long_factor", "original_max_position_embeddings", ...} (Phi-3,
    transformers' _compute_longrope_parameters): speed i divided by long_factor[i] for a model run
    with a context_length (its KV cache's length) beyond original_max_position_embeddings, else by
    short_factor[i]. transformers chooses per call instead, by the longest position it is given
    (modeling_rope_utils.py, longrope_frequency_update), so its cached keys of a conversation
    that grows past the original context were turned at the short speeds: here a model's every
    position turns at one set of speeds, fixed by the context it runs. A prompt longer than the
    original context in one call, or a short one in a context within it, gives transformers' values.
    context_length is needed for longrope only.
    """
    inv_freq = 1.0 / rope_theta ** (np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)
    if rope_scaling is None:
        return inv_freq
    if rope_scaling["type"] == "longrope":
        long = context_length > rope_scaling["original_max_position_embeddings"]
        return inv_freq / np.array(rope_scaling["long_factor" if long else "short_factor"], dtype=np.float64)
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


def longrope_attention_factor(factor: float, original_context_length: int) -> float:
    """LongRoPE's default cos/sin multiplier for a model whose context was stretched `factor` times
    (usually max_position_embeddings / original_max_position_embeddings) from
    original_context_length tokens: sqrt(1 + ln(factor) / ln(original)), 1 where factor <= 1. The
    formula of transformers' _compute_longrope_parameters (modeling_rope_utils.py), which
    llama.cpp's converter also writes into Phi-3 GGUF files as {arch}.rope.scaling.attn_factor
    (convert_hf_to_gguf.py, Phi3MiniModel.generate_extra_tensors)."""
    return 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original_context_length))


def attention_factor(rope_scaling: dict | None) -> float:
    """What cos and sin are multiplied by (LongRoPE's attention factor; 1 for every other kind)."""
    return rope_scaling.get("attention_factor", 1.0) if rope_scaling else 1.0
