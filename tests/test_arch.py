"""sitegen/arch.py: a config.json reduced to an Architecture, and a checkpoint checked against it.
Every problem is one line naming what is wrong (the CLI prints it as is)."""

import pytest

from sitegen.arch import architecture, check_tensors
from sitegen.errors import SitegenError
from sitegen.families import expected_tensors
from tests.tiny_models import SHAPES

LLAMA = dict(SHAPES["llama"], vocab_size=384)


@pytest.mark.parametrize("key, value, problem", [
    ("num_attention_heads", 0, "config.json's num_attention_heads is 0; it must be a whole number >= 1."),
    ("hidden_size", "sixty", "config.json's hidden_size is 'sixty'; it must be a whole number >= 1."),
    ("intermediate_size", 1.5, "config.json's intermediate_size is 1.5; it must be a whole number >= 1."),
    ("num_hidden_layers", True, "config.json's num_hidden_layers is True; it must be a whole number >= 1."),
    ("rms_norm_eps", "tiny", "config.json's rms_norm_eps is 'tiny'; it must be a number > 0."),
    ("vocab_size", None, "config.json lacks 'vocab_size', which a llama model needs."),
])
def test_a_malformed_config_is_one_line_naming_the_key(key, value, problem):
    with pytest.raises(SitegenError) as refused:
        architecture(dict(LLAMA, **{key: value}))
    assert str(refused.value) == problem


class Tensor:
    def __init__(self, *shape):
        self.shape = shape


def test_a_checkpoint_that_does_not_match_is_one_line_naming_each_problem():
    arch = architecture(LLAMA)
    tensors = {name: Tensor(*shape) for name, shape in expected_tensors(arch)}
    del tensors["model.norm.weight"]
    tensors["model.layers.0.mlp.down_proj.weight"] = Tensor(64, 64)
    tensors["model.layers.0.mlp.extra.weight"] = Tensor(4)
    with pytest.raises(SitegenError) as refused:
        check_tensors(arch, tensors)
    assert str(refused.value) == (
        "The checkpoint does not match its config.json: model.norm.weight is missing; "
        "model.layers.0.mlp.down_proj.weight has shape [64, 64], expected [64, 128]; "
        "model.layers.0.mlp.extra.weight is not part of a llama model. "
        "Check that the weights and config.json come from the same model.")
