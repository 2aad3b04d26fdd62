"""sitegen/rope.py against HF transformers' RoPE initialisation (the rotary embedding a Llama model
builds from the same config.json), and the GGUF loader's Llama 3 recovery against it."""

import copy

import numpy as np
import pytest
from transformers import LlamaConfig, Phi3Config
from transformers.modeling_rope_utils import _compute_longrope_parameters
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

from sitegen.arch import architecture
from sitegen.loaders.gguf import _llama3_scaling
from sitegen.rope import inverse_frequencies, longrope_attention_factor
from tests.tiny_models import SHAPES

LLAMA_3_2 = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
             "original_max_position_embeddings": 8192}
CASES = [  # (head_dim, rope_theta, config.json rope_scaling)
    (64, 10000.0, None), (128, 1000000.0, None), (16, 10000.0, None), (256, 1000000.0, None),
    (64, 10000.0, {"rope_type": "linear", "factor": 4.0}), (128, 500000.0, {"type": "linear", "factor": 2.0}),
    (64, 500000.0, LLAMA_3_2), (128, 500000.0, LLAMA_3_2),
    (16, 500000.0, SHAPES["llama"]["rope_scaling"]),  # the tiny llama's: every kind of wavelength
    (128, 10000.0, {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 2.0, "high_freq_factor": 8.0,
                    "original_max_position_embeddings": 4096}),
]


def _config(head_dim: int, theta: float, scaling: dict | None) -> dict:
    return dict(SHAPES["llama"], vocab_size=1, head_dim=head_dim, num_attention_heads=2, hidden_size=2 * head_dim,
                rope_theta=theta, rope_scaling=scaling, max_position_embeddings=131072)


@pytest.mark.parametrize("head_dim, theta, scaling", CASES)
def test_inverse_frequencies_match_transformers(head_dim, theta, scaling):
    config = _config(head_dim, theta, scaling)
    arch = architecture(config)
    ours = inverse_frequencies(arch.head_dim, arch.rope_theta, arch.rope_scaling)
    assert ours.shape == (head_dim // 2,) and ours.dtype == np.float64
    theirs = LlamaRotaryEmbedding(LlamaConfig(**copy.deepcopy(config))).inv_freq.numpy()  # float32; it edits rope_scaling
    np.testing.assert_allclose(ours.astype(np.float32), theirs, rtol=3e-6)


@pytest.mark.parametrize("head_dim, theta, scaling",
                         [case for case in CASES if case[2] and "low_freq_factor" in case[2] and case[0] >= 64])
def test_gguf_llama3_recovery_round_trips(head_dim, theta, scaling):
    """llama.cpp stores Llama 3's scaling as per-pair divisors (unscaled / scaled speeds); the
    loader recovers the config.json parameters from them (given two blended pairs to fit a line
    through: not the tiny llama's 8 pairs)."""
    params = {k: v for k, v in scaling.items() if k != "rope_type"}
    divisors = inverse_frequencies(head_dim, theta, None) / inverse_frequencies(head_dim, theta, {"type": "llama3", **params})
    recovered = _llama3_scaling(divisors.astype(np.float32).astype(np.float64), theta, head_dim,
                                params["original_max_position_embeddings"])
    assert recovered == {"rope_type": "llama3", **params}


@pytest.mark.parametrize("context, original", [(131072, 4096), (256, 64), (4096, 4096), (2048, 4096)])
def test_longrope_attention_factor_is_the_one_transformers_derives(context, original):
    config = Phi3Config(max_position_embeddings=context, original_max_position_embeddings=original,
                        rope_scaling={"rope_type": "longrope", "short_factor": [1.0] * 48, "long_factor": [1.0] * 48})
    _, theirs = _compute_longrope_parameters(config, "cpu")
    assert longrope_attention_factor(context / original, original) == pytest.approx(theirs, rel=1e-12)
    assert (theirs > 1) == (context > original)
