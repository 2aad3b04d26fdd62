"""sitegen/arch.py: a config.json reduced to an Architecture, and a checkpoint checked against it.
Every problem is one line naming what is wrong (the CLI prints it as is)."""

import copy

import pytest
from transformers import Gemma2Config, Gemma3TextConfig, LlamaConfig, Phi3Config, Qwen3Config

from sitegen.arch import FEATURES, architecture, check_tensors
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
    ("architectures", "LlamaForCausalLM", "config.json's architectures is the string 'LlamaForCausalLM'; it must be a "
     'list of class names, as transformers writes it: "architectures": ["LlamaForCausalLM"]. Fix config.json, or '
     "download it again."),
    ("architectures", [["LlamaForCausalLM"]], "config.json's architectures is [[\"LlamaForCausalLM\"]]; it must be a "
     'list of class names such as ["LlamaForCausalLM"]. Fix config.json, or download it again.'),
    ("architectures", {"name": "x"}, "config.json's architectures is {\"name\": \"x\"}; it must be a list of class "
     'names such as ["LlamaForCausalLM"]. Fix config.json, or download it again.'),
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


def test_features_are_off_unless_the_config_or_the_family_turns_them_on():
    arch = architecture(LLAMA)
    assert {name: getattr(arch, name) for name in FEATURES} == {
        "qk_norm": False, "hidden_activation": "silu", "embedding_multiplier": 1.0, "sandwich_norms": False,
        "query_pre_attn_scalar": None, "attn_logit_softcapping": None, "final_logit_softcapping": None,
        "sliding_window": None, "layer_types": None, "rope_local_base_freq": None, "partial_rotary_factor": 1.0,
        "f32_activations": False}
    assert architecture(dict(SHAPES["qwen3"], vocab_size=384)).qk_norm  # Qwen3's, from the family table
    assert architecture(dict(SHAPES["gemma3"], vocab_size=384)).f32_activations  # Gemma's, likewise


def test_features_are_read_under_transformers_config_names():
    arch = architecture(dict(LLAMA, hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=256,
                             attn_logit_softcapping=50, final_logit_softcapping=30.0, sliding_window=64,
                             layer_types=["sliding_attention", "full_attention"], rope_local_base_freq=10000,
                             partial_rotary_factor=0.75))
    assert (arch.hidden_activation, arch.query_pre_attn_scalar) == ("gelu_pytorch_tanh", 256.0)
    assert (arch.attn_logit_softcapping, arch.final_logit_softcapping) == (50.0, 30.0)
    assert (arch.rope_local_base_freq, arch.partial_rotary_factor) == (10000.0, 0.75)
    assert (arch.sliding_window, arch.layer_types) == (64, ("sliding_attention", "full_attention"))
    assert architecture(dict(LLAMA, hidden_act="gelu_pytorch_tanh")).hidden_activation == "gelu_pytorch_tanh"


@pytest.mark.parametrize("config", [
    dict(SHAPES["qwen2"], vocab_size=384, use_sliding_window=False, sliding_window=64),  # Qwen's switch is off
    dict(LLAMA, architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=256),  # = the context
    dict(LLAMA, architectures=["MistralForCausalLM"], model_type="mistral", sliding_window=None),  # Mistral v0.2+
], ids=["switched-off", "as-long-as-the-context", "null"])
def test_a_window_that_limits_nothing_is_no_window(config):
    arch = architecture(config)
    assert arch.sliding_window is None and arch.layer_types is None


def test_a_gemma2_hub_config_takes_gemma2configs_defaults_and_a_null_soft_cap_is_off():
    """google/gemma-2-2b-it's config.json gives the window but no layer_types: every other layer
    slides, from the first (Gemma2Config's default); a soft-cap set to null is off, as transformers reads it."""
    config = dict(SHAPES["gemma2"], vocab_size=384, sliding_window=4, max_position_embeddings=8192)
    for key in ("attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar"):
        del config[key]
    arch = architecture(config)
    assert (arch.family, arch.qk_norm, arch.sandwich_norms, arch.embedding_multiplier) == ("gemma2", False, True, 8.0)
    assert (arch.attn_logit_softcapping, arch.final_logit_softcapping, arch.query_pre_attn_scalar) == (50.0, 30.0, 256.0)
    assert [arch.sliding(i) for i in range(4)] == [True, False, True, False] and arch.rope_local_base_freq is None
    assert architecture(dict(config, final_logit_softcapping=None)).final_logit_softcapping is None


def test_gemma3s_sliding_layers_keep_their_rope_base_when_the_window_limits_nothing():
    # A window as long as the context attends to everything, but Gemma 3's sliding layers still
    # turn with their own base (transformers: rope_local_base_freq on every sliding layer).
    arch = architecture(dict(SHAPES["gemma3"], vocab_size=384, sliding_window=256))
    assert arch.rope_local_base_freq == 10000.0 and arch.layer_types[0] == "sliding_attention"
    assert arch.sliding_window == 256


@pytest.mark.parametrize("change, problem", [
    ({"layer_types": ["sliding_attention", "chunked_attention", "sliding_attention", "full_attention"]},
     "config.json's layer_types has 'chunked_attention', which sitegen does not run; it runs sliding_attention and "
     "full_attention."),
    ({"partial_rotary_factor": 0.3125, "head_dim": 16},
     "config.json's partial_rotary_factor 0.3125 of head_dim 16 gives 5 rotary dimensions; RoPE turns pairs, so it "
     "must be an even whole number."),
])
def test_layer_kinds_and_rotary_parts_sitegen_cannot_run_are_one_line(change, problem):
    with pytest.raises(SitegenError) as refused:
        architecture(dict(SHAPES["gemma3"], vocab_size=384, **change))
    assert str(refused.value) == problem


def test_null_and_missing_keys_take_the_defaults_transformers_uses():
    assert architecture(dict(LLAMA, rope_theta=None)).rope_theta == 10000.0
    # Phi3Config's original_max_position_embeddings is 4096: a 128k context then runs the long factors
    config = {key: value for key, value in SHAPES["phi3"].items() if key != "original_max_position_embeddings"}
    scaling = architecture(dict(config, vocab_size=384, max_position_embeddings=131072)).rope_scaling
    assert scaling["original_max_position_embeddings"] == 4096 and scaling["attention_factor"] > 1


# --- transformers 5's rope_parameters ---------------------------------------------------------------

def _saved_by_transformers(config_class, config: dict) -> dict:
    """config.json as the installed transformers (5) saves a config of these keys: its RoPE in one
    rope_parameters dict (nested by layer type for Gemma 3), no rope_theta / rope_scaling."""
    saved = config_class(**copy.deepcopy(config)).to_dict()
    assert "rope_parameters" in saved and not {"rope_theta", "rope_scaling", "rope_local_base_freq"} & set(saved)
    return saved


@pytest.mark.parametrize("shape, config_class, change", [
    ("llama", LlamaConfig, {}),  # llama3 scaling
    ("limit-low", LlamaConfig, {}),  # linear scaling
    ("qwen3", Qwen3Config, {}),
    ("phi3", Phi3Config, {}),  # LongRoPE
    ("phi4-mini", Phi3Config, {}),  # LongRoPE and partial rotary
    ("gemma2", Gemma2Config, {"rope_theta": 20000.0}),
    ("gemma3", Gemma3TextConfig, {}),
    ("gemma3", Gemma3TextConfig, {"rope_theta": 2e6, "rope_local_base_freq": 20000.0,
                                  "rope_scaling": {"rope_type": "linear", "factor": 8.0}}),
], ids=["llama3", "linear", "qwen3", "phi3-longrope", "phi4-mini-partial", "gemma2", "gemma3", "gemma3-scaled"])
def test_a_config_saved_by_transformers_5_gives_the_architecture_of_the_old_keys(shape, config_class, change):
    old = dict(SHAPES[shape], vocab_size=384, **change)
    new = _saved_by_transformers(config_class, old)
    assert architecture(new) == architecture(old)
    assert architecture(new).rope_theta == old["rope_theta"]  # not the default: the keys were really read


def test_gemma3s_nested_rope_parameters_give_each_layer_kind_its_own():
    config = dict(SHAPES["gemma3"], vocab_size=384, rope_parameters={
        "full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 500000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 5000.0}})
    del config["rope_theta"], config["rope_local_base_freq"]
    arch = architecture(config)
    assert (arch.rope_theta, arch.rope_scaling, arch.rope_local_base_freq) == (
        500000.0, {"type": "linear", "factor": 4.0}, 5000.0)


def test_an_old_rope_scaling_wins_over_rope_parameters_and_a_value_inside_over_the_top_level_key():
    """As transformers 5's convert_rope_params_to_dict reads a config that has both."""
    arch = architecture(dict(LLAMA, rope_scaling={"rope_type": "linear", "factor": 2.0}, rope_theta=20000.0,
                             rope_parameters={"rope_type": "linear", "factor": 3.0, "rope_theta": 30000.0}))
    assert (arch.rope_scaling, arch.rope_theta) == ({"type": "linear", "factor": 2.0}, 20000.0)
    arch = architecture(dict(LLAMA, rope_scaling=None, rope_theta=20000.0,
                             rope_parameters={"rope_type": "linear", "factor": 3.0, "rope_theta": 30000.0}))
    assert (arch.rope_scaling, arch.rope_theta) == ({"type": "linear", "factor": 3.0}, 30000.0)


@pytest.mark.parametrize("rope_parameters, problem", [
    ("fast", "config.json's rope_parameters is 'fast'; it must be an object of RoPE parameters."),
    ({"full_attention": {"rope_type": "default", "rope_theta": 1e6},
      "sliding_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}},
     "config.json's rope_parameters scale the sliding_attention layers' RoPE (linear); sitegen runs those layers "
     "unscaled."),
])
def test_rope_parameters_sitegen_cannot_read_are_one_line(rope_parameters, problem):
    with pytest.raises(SitegenError) as refused:
        architecture(dict(SHAPES["gemma3"], vocab_size=384, rope_parameters=rope_parameters))
    assert str(refused.value) == problem
