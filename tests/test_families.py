"""The family table (sitegen/families.py), the Architecture it is read with, and what the manifest
carries from them: `architecture` (with `family`) and `runtime_tensors`."""

import json

import pytest

from sitegen.arch import Architecture, architecture
from sitegen.commands.build import build
from sitegen.config import BuildConfig
from sitegen.errors import SitegenError
from sitegen.families import FAMILIES, expected_tensors, family, runtime_tensors
from sitegen.manifest import FORMAT_VERSION, read_manifest
from tests.tiny_models import SHAPES

ARCHS = {name: architecture(dict(config, vocab_size=384)) for name, config in SHAPES.items()}


def test_the_table_names_each_family_once():
    for key in ("name", "gguf_name"):
        names = [getattr(f, key) for f in FAMILIES]
        assert len(names) == len(set(names)), key
    classes = [c for f in FAMILIES for c in f.hf_classes]
    assert len(classes) == len(set(classes))
    for f in FAMILIES:
        stacks = [s.name for s in f.model + f.layer]
        assert len(stacks) == len(set(stacks)), f.name


def test_llama_and_qwen2_runtime_tensors_are_the_ones_the_runtime_binds():
    layer = ["attn_norm", "qkv", "qkv_bias", "o", "ffn_norm", "gate_up", "down"]
    qwen2 = runtime_tensors(ARCHS["qwen2"])  # tied embeddings, attention biases
    assert [t["name"] for t in qwen2] == ["embed", "final_norm"] + [f"layers.{i}.{n}" for i in range(2) for n in layer]
    llama = runtime_tensors(ARCHS["llama"])  # an LM head of its own, no biases
    assert [t["name"] for t in llama[:9]] == ["embed", "final_norm", "lm_head"] + [
        f"layers.0.{n}" for n in layer if n != "qkv_bias"]
    p = "model.layers.1."
    assert {t["name"]: (t["tensors"], t["split"]) for t in qwen2}["layers.1.qkv_bias"] == (
        [f"{p}self_attn.q_proj.bias", f"{p}self_attn.k_proj.bias", f"{p}self_attn.v_proj.bias"], False)
    assert llama[:3] == [{"name": "embed", "tensors": ["model.embed_tokens.weight"], "split": True},
                         {"name": "final_norm", "tensors": ["model.norm.weight"], "split": False},
                         {"name": "lm_head", "tensors": ["lm_head.weight"], "split": True}]
    assert {t["name"]: t["tensors"] for t in llama}["layers.1.gate_up"] == [
        f"{p}mlp.gate_proj.weight", f"{p}mlp.up_proj.weight"]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_runtime_tensors_stack_every_expected_tensor_once_in_shard_order(shape):
    arch = ARCHS[shape]
    expected = expected_tensors(arch)
    stacked = [name for t in runtime_tensors(arch) for name in t["tensors"]]
    assert stacked == [name for name, _ in expected]  # each once, in the order the shards hold them
    shapes = dict(expected)
    for t in runtime_tensors(arch):
        widths = {shapes[name][1:] for name in t["tensors"]}
        assert len(widths) == 1, t["name"]  # stacked by rows: one row width (or all 1-D)


def test_expected_shapes_follow_the_architecture():
    arch = ARCHS["limit-high"]  # num_heads * head_dim (512) != hidden_size (96)
    shapes = dict(expected_tensors(arch))
    assert shapes["model.layers.0.self_attn.q_proj.weight"] == (512, 96)
    assert shapes["model.layers.0.self_attn.k_proj.weight"] == (256, 96)
    assert shapes["model.layers.0.self_attn.o_proj.weight"] == (96, 512)
    assert shapes["model.layers.1.mlp.down_proj.weight"] == (96, 160)
    assert shapes["model.layers.1.self_attn.v_proj.bias"] == (256,)
    assert shapes["lm_head.weight"] == (384, 96)


def test_architecture_defaults_come_from_the_family():
    assert ARCHS["qwen2"].attention_bias and not ARCHS["llama"].attention_bias
    mistral = architecture(dict(SHAPES["llama"], vocab_size=1, architectures=["MistralForCausalLM"],
                                model_type="mistral", sliding_window=None))
    assert mistral.family == "llama" and family("llama").permuted_qk and not family("qwen2").permuted_qk


def test_architecture_goes_through_the_manifest_unchanged():
    arch = ARCHS["llama"]
    data = json.loads(json.dumps(arch.to_manifest()))
    assert list(data)[:2] == ["family", "hidden_size"] and "arch" not in data
    assert data["rope_scaling"] == {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 64}
    assert Architecture.from_manifest(data) == arch


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2"])
def test_a_built_manifest_stacks_every_tensor_once(fixture, request, tmp_path):
    manifest = build(BuildConfig(model=str(request.getfixturevalue(fixture)[0]), out=tmp_path / "site"),
                     log=lambda *_: None)
    assert manifest["format_version"] == FORMAT_VERSION == 2
    arch = Architecture.from_manifest(manifest["architecture"])
    assert manifest["runtime_tensors"] == runtime_tensors(arch)
    stacked = [name for t in manifest["runtime_tensors"] for name in t["tensors"]]
    assert sorted(stacked) == sorted(manifest["tensors"])  # every tensor in exactly one runtime tensor
    assert stacked == list(manifest["tensors"])  # the shards hold them in load order
    for t in manifest["runtime_tensors"]:
        members = [manifest["tensors"][name] for name in t["tensors"]]
        assert len({(m["scheme"], tuple(m["shape"][1:])) for m in members}) == 1, t["name"]


def test_a_version_1_manifest_is_refused_with_one_line(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "sitegen-model", "format_version": 1}))
    with pytest.raises(SitegenError) as refused:
        read_manifest(tmp_path)
    assert "\n" not in str(refused.value)
    assert "version 1; this sitegen reads sitegen-model version 2. Rebuild the site" in str(refused.value)
