"""The family table (sitegen/families.py), the Architecture it is read with, and what the manifest
carries from them: `architecture` (with `family`) and `runtime_tensors`."""

import dataclasses
import json

import numpy as np
import pytest
from gguf import GGUFWriter

from sitegen.arch import Architecture, architecture, check_tensors
from sitegen.commands.build import build
from sitegen.config import BuildConfig
from sitegen.errors import SitegenError
from sitegen.families import FAMILIES, expected_tensors, family, runtime_tensors
from sitegen.loaders.gguf import load_gguf
from sitegen.manifest import FORMAT_VERSION, read_manifest
from tests.gguf_fixtures import TINY_TOKENS, finish, gguf_name
from tests.gguf_fixtures import _add_tiny_tokenizer as add_tiny_tokenizer
from tests.tiny_models import SHAPES, random_weights

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


def test_qwen3_runtime_tensors_add_the_q_k_norm_gains():
    arch = ARCHS["qwen3"]  # tied embeddings, no biases, q/k norms over head_dim 32 (hidden / heads is 16)
    assert arch.family == "qwen3" and arch.qk_norm and not arch.attention_bias and arch.head_dim == 32
    layer = ["attn_norm", "qkv", "qk_norm", "o", "ffn_norm", "gate_up", "down"]
    qwen3 = runtime_tensors(arch)
    assert [t["name"] for t in qwen3] == ["embed", "final_norm"] + [f"layers.{i}.{n}" for i in range(2) for n in layer]
    p = "model.layers.1."
    assert {t["name"]: t["tensors"] for t in qwen3}["layers.1.qk_norm"] == [
        f"{p}self_attn.q_norm.weight", f"{p}self_attn.k_norm.weight"]
    shapes = dict(expected_tensors(arch))
    assert shapes[f"{p}self_attn.q_norm.weight"] == shapes[f"{p}self_attn.k_norm.weight"] == (32,)
    assert shapes[f"{p}self_attn.q_proj.weight"] == (128, 64) and shapes[f"{p}self_attn.o_proj.weight"] == (64, 128)
    assert not any(arch.qk_norm for name, arch in ARCHS.items() if name not in ("qwen3", "gemma3"))  # a feature's stack


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
    bare_qwen3 = {k: v for k, v in SHAPES["qwen3"].items() if k not in ("head_dim", "attention_bias")}
    assert architecture(dict(bare_qwen3, vocab_size=1)).head_dim == 128  # Qwen3Config's, not hidden / heads
    assert not architecture(dict(bare_qwen3, vocab_size=1)).attention_bias
    mistral = architecture(dict(SHAPES["llama"], vocab_size=1, architectures=["MistralForCausalLM"],
                                model_type="mistral", sliding_window=None))
    assert mistral.family == "llama" and family("llama").permuted_qk and not family("qwen2").permuted_qk
    assert not family("qwen3").permuted_qk  # llama.cpp's Qwen3Model converts as Qwen2Model does


@pytest.mark.parametrize("shape", ["llama", "qwen3"])
def test_architecture_goes_through_the_manifest_unchanged(shape):
    arch = ARCHS[shape]
    data = json.loads(json.dumps(arch.to_manifest()))
    assert list(data)[:2] == ["family", "hidden_size"] and "arch" not in data
    assert Architecture.from_manifest(data) == arch
    windowed = dataclasses.replace(arch, sliding_window=64, layer_types=("sliding_attention", "full_attention"))
    data = json.loads(json.dumps(windowed.to_manifest()))
    assert data["layer_types"] == ["sliding_attention", "full_attention"]
    assert Architecture.from_manifest(data) == windowed


def test_llama3_rope_scaling_goes_into_the_manifest():
    arch = ARCHS["llama"]
    data = json.loads(json.dumps(arch.to_manifest()))
    assert data["rope_scaling"] == {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 64}
    assert Architecture.from_manifest(data) == arch


@pytest.mark.parametrize("fixture", ["tiny_llama", "tiny_qwen2", "tiny_qwen3"])
def test_a_built_manifest_stacks_every_tensor_once(fixture, request, tmp_path):
    manifest = build(BuildConfig(model=str(request.getfixturevalue(fixture)[0]), out=tmp_path / "site"),
                     log=lambda *_: None)
    assert manifest["format_version"] == FORMAT_VERSION == 3
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
    assert "version 1; this sitegen reads sitegen-model version 3. Rebuild the site" in str(refused.value)


def test_a_qwen3_gguf_reads_back_as_its_hf_checkpoint(tmp_path):
    """llama.cpp's Qwen3 files: q/k norms as blk.N.attn_q_norm / attn_k_norm, Q/K rows not permuted
    (convert_hf_to_gguf.py's Qwen3Model converts as Qwen2Model does), head_dim in key_length."""
    config = dict(SHAPES["qwen3"], vocab_size=len(TINY_TOKENS))
    weights = random_weights(config, seed=5)
    writer = GGUFWriter(tmp_path / "qwen3.gguf", "qwen3")
    for add, value in ((writer.add_block_count, 2), (writer.add_context_length, 256), (writer.add_embedding_length, 64),
                       (writer.add_feed_forward_length, 96), (writer.add_head_count, 4), (writer.add_head_count_kv, 2),
                       (writer.add_key_length, 32), (writer.add_value_length, 32), (writer.add_rope_freq_base, 1e6),
                       (writer.add_layer_norm_rms_eps, 1e-6), (writer.add_vocab_size, len(TINY_TOKENS))):
        add(value)
    add_tiny_tokenizer(writer)
    for name, w in weights.items():
        writer.add_tensor(gguf_name(name), w)
    finish(writer)
    checkpoint = load_gguf(tmp_path / "qwen3.gguf")
    arch = architecture(checkpoint.config)
    assert (arch.family, arch.qk_norm, arch.attention_bias, arch.head_dim) == ("qwen3", True, False, 32)
    check_tensors(arch, checkpoint.tensors)
    for name, w in weights.items():
        np.testing.assert_array_equal(checkpoint.tensors[name].read(), w, err_msg=name)
