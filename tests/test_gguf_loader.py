import math
from pathlib import Path
from typing import Callable

import ml_dtypes
import numpy as np
import pytest
import torch
from gguf import GGMLQuantizationType as Q
from gguf import GGML_QUANT_SIZES, GGUFReader, RopeScalingType
from gguf.quants import dequantize
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

from sitegen.arch import architecture, check_tensors
from sitegen.artifact import model_card_license
from sitegen.commands.build import build
from sitegen.config import BuildConfig
from sitegen.errors import SitegenError
from sitegen.loaders.gguf import SUPPORTED_TYPES, load_gguf
from sitegen.loaders.hf_folder import load_hf_folder
from sitegen.reference import ReferenceModel
from tests.gguf_fixtures import (BLOCK_TYPES, ENCODABLE_TYPES, QK_K, SHAPES, convert_hf_to_gguf, gguf_name, hf_weights,
                                 stored_row_order, write_random_blocks_gguf, write_tiny_gguf)
from tests.tiny_models import write_tiny_model

# --- the real demo model: SmolLM2-135M-Instruct, Q4_1 + Q8_0 + F32 -------------------------------


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf):
    return load_gguf(smollm2_gguf)


def test_smollm2_config(smollm2):
    assert smollm2.config == {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
        "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
        "head_dim": 64, "vocab_size": 49152, "max_position_embeddings": 8192, "rope_theta": 100000.0,
        "rope_scaling": None, "rms_norm_eps": 1e-05, "tie_word_embeddings": True, "attention_bias": False}
    assert smollm2.source.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_smollm2_model_card_from_general_metadata(smollm2):
    assert model_card_license(smollm2.model_card) == "apache-2.0"
    assert "# Smollm2 135M 8k Lc100K Mix1 Ep2" in smollm2.model_card
    assert "- Organization: HuggingFaceTB" in smollm2.model_card


def test_smollm2_tensor_names_shapes_and_types(smollm2):
    per_layer = {"input_layernorm.weight": ((576,), "f32"), "post_attention_layernorm.weight": ((576,), "f32"),
                 "self_attn.q_proj.weight": ((576, 576), "q4_1"), "self_attn.k_proj.weight": ((192, 576), "q4_1"),
                 "self_attn.v_proj.weight": ((192, 576), "q4_1"), "self_attn.o_proj.weight": ((576, 576), "q4_1"),
                 "mlp.gate_proj.weight": ((1536, 576), "q4_1"), "mlp.up_proj.weight": ((1536, 576), "q4_1"),
                 "mlp.down_proj.weight": ((576, 1536), "q4_1")}
    expected = {"model.embed_tokens.weight": ((49152, 576), "q8_0"), "model.norm.weight": ((576,), "f32")}
    expected |= {f"model.layers.{i}.{name}": spec for i in range(30) for name, spec in per_layer.items()}
    assert {name: (t.shape, t.source_dtype) for name, t in smollm2.tensors.items()} == expected


@pytest.mark.parametrize("name, start, stop", [
    ("model.embed_tokens.weight", 49000, 49152),  # Q8_0
    ("model.layers.7.mlp.down_proj.weight", 5, 37),  # Q4_1
    ("model.layers.0.self_attn.q_proj.weight", 63, 130),  # permuted: rows cross a head boundary
    ("model.layers.29.self_attn.k_proj.weight", 0, 1),
    ("model.norm.weight", 100, 200),  # F32, 1-D
])
def test_smollm2_read_rows_is_a_slice_of_read(smollm2, name, start, stop):
    entry = smollm2.tensors[name]
    rows, whole = entry.read_rows(start, stop), entry.read()
    assert rows.dtype == np.float32 and rows.flags.c_contiguous and rows.flags.writeable
    assert whole.shape == entry.shape
    np.testing.assert_array_equal(rows, whole[start:stop])
    assert np.isfinite(whole).all() and np.abs(whole).max() > 0.01


def _forward_logits(ckpt, ids: list[int]) -> np.ndarray:
    """A plain numpy Llama forward pass over the loaded tensors: logits [len(ids), vocab]."""
    c, w = ckpt.config, lambda name: ckpt.tensors[name].read()
    n, heads, kv_heads, hd = len(ids), c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    angles = np.arange(n)[:, None] / c["rope_theta"] ** (np.arange(0, hd, 2) / hd)
    cos, sin = (np.tile(f(angles), 2)[:, None].astype(np.float32) for f in (np.cos, np.sin))

    def rope(x):  # HF's rotate_half convention: what the Q/K un-permutation must produce
        return x * cos + np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], -1) * sin

    def norm(x, weight):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + c["rms_norm_eps"]) * weight

    embed = w("model.embed_tokens.weight")
    x = embed[ids]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = norm(x, w(p + "input_layernorm.weight"))
        q = rope((h @ w(p + "self_attn.q_proj.weight").T).reshape(n, heads, hd))
        k = np.repeat(rope((h @ w(p + "self_attn.k_proj.weight").T).reshape(n, kv_heads, hd)), heads // kv_heads, 1)
        v = np.repeat((h @ w(p + "self_attn.v_proj.weight").T).reshape(n, kv_heads, hd), heads // kv_heads, 1)
        causal = np.triu(np.full((n, n), -np.inf, np.float32), 1)
        scores = np.einsum("qhd,khd->hqk", q, k) / np.float32(math.sqrt(hd)) + causal
        attn = np.exp(scores - scores.max(-1, keepdims=True))
        attn /= attn.sum(-1, keepdims=True)
        x = x + np.einsum("hqk,khd->qhd", attn, v).reshape(n, -1) @ w(p + "self_attn.o_proj.weight").T
        h = norm(x, w(p + "post_attention_layernorm.weight"))
        gate = h @ w(p + "mlp.gate_proj.weight").T
        x = x + (gate / (1 + np.exp(-gate)) * (h @ w(p + "mlp.up_proj.weight").T)) @ w(p + "mlp.down_proj.weight").T
    return norm(x, w("model.norm.weight")) @ embed.T


def test_smollm2_loaded_weights_model_language(smollm2):
    """The loaded model predicts English well. With Q/K left in llama.cpp's row order the mean NLL
    of this text is 4.5 instead of 3.2, so this checks the un-permutation on real weights."""
    tokenizer = Tokenizer.from_str(smollm2.tokenizer_json)
    prompt = tokenizer.encode("The capital of France is").ids
    ids = tokenizer.encode("The capital of France is Paris. Once upon a time, in a small village by the sea, "
                           "there lived an old fisherman who went out every morning before sunrise.").ids
    assert ids[:len(prompt)] == prompt
    logits = _forward_logits(smollm2, ids).astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    assert -logp[np.arange(len(ids) - 1), ids[1:]].mean() < 3.7
    assert tokenizer.decode([int(np.argmax(logits[len(prompt) - 1]))]) == " Paris"


# --- tiny models in every supported type, Llama (permuted Q/K) and Qwen2 -------------------------

@pytest.mark.parametrize("qtype", [t for t in SUPPORTED_TYPES if t in ENCODABLE_TYPES], ids=lambda q: q.name)
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tiny_model_reads_back_within_quantization_error(tmp_path, arch, qtype):
    originals, steps = write_tiny_gguf(tmp_path / "m.gguf", arch, qtype)
    ckpt = load_gguf(tmp_path / "m.gguf")
    assert set(ckpt.tensors) == set(originals)
    for name, want in originals.items():
        entry = ckpt.tensors[name]
        got = entry.read()
        assert entry.shape == want.shape and got.shape == want.shape, name
        assert entry.source_dtype == (qtype.name.lower() if want.ndim == 2 else "f32")
        # Within one quantization step: rounding costs half a step, Q4_0's clipped extreme a whole
        # one, and the fp16 block scale is itself rounded (up to 8 * 2**-11 of a step more).
        assert (np.abs(got - want) <= steps[name] * 1.01 + 1e-6).all(), name
        np.testing.assert_array_equal(entry.read_rows(3, 9), got[3:9])


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tiny_model_config(tmp_path, arch):
    write_tiny_gguf(tmp_path / "m.gguf", arch)
    s = SHAPES[arch]
    assert load_gguf(tmp_path / "m.gguf").config == {
        "architectures": [{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}[arch]], "model_type": arch,
        "hidden_size": 256, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": s["heads"],
        "num_key_value_heads": 2, "head_dim": 64, "vocab_size": 259, "max_position_embeddings": 512,
        "rope_theta": 10000.0, "rope_scaling": None, "rms_norm_eps": 1e-06,
        "tie_word_embeddings": arch == "llama", "attention_bias": True}


def _q4_k_block(b: bytes) -> list[float]:
    """ggml-quants.c dequantize_row_q4_K for one block, transliterated."""
    d, dmin = np.frombuffer(b[0:4], np.float16).astype(np.float32)
    scales, qs = b[4:16], b[16:144]
    return _k_values(d, dmin, scales, lambda j, l, high: (qs[32 * j + l] >> (4 * high)) & 0xF)


def _q5_k_block(b: bytes) -> list[float]:
    d, dmin = np.frombuffer(b[0:4], np.float16).astype(np.float32)
    scales, qh, qs = b[4:16], b[16:48], b[48:176]
    return _k_values(d, dmin, scales, lambda j, l, high: ((qs[32 * j + l] >> (4 * high)) & 0xF)
                     + (16 if qh[l] & (1 << (2 * j + high)) else 0))


def _scale_min_k4(j: int, q: bytes) -> tuple[int, int]:
    if j < 4:
        return q[j] & 63, q[j + 4] & 63
    return (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)


def _k_values(d, dmin, scales, code) -> list[float]:
    out = []
    for j in range(4):  # 64 values per step: a low-nibble sub-block, then a high-nibble one
        for high in (0, 1):
            sc, m = _scale_min_k4(2 * j + high, scales)
            out += [d * sc * code(j, l, high) - dmin * m for l in range(32)]
    return out


def _q6_k_block(b: bytes) -> list[float]:
    ql, qh, sc = b[0:128], b[128:192], np.frombuffer(b[192:208], np.int8)
    d = float(np.frombuffer(b[208:210], np.float16)[0])
    out = [0.0] * QK_K
    for n in range(2):
        for l in range(32):
            lo, hi, s = ql[64 * n:], qh[32 * n:], sc[8 * n:]
            q1 = ((lo[l] & 0xF) | (((hi[l] >> 0) & 3) << 4)) - 32
            q2 = ((lo[l + 32] & 0xF) | (((hi[l] >> 2) & 3) << 4)) - 32
            q3 = ((lo[l] >> 4) | (((hi[l] >> 4) & 3) << 4)) - 32
            q4 = ((lo[l + 32] >> 4) | (((hi[l] >> 6) & 3) << 4)) - 32
            is_ = l // 16
            out[128 * n + l] = d * s[is_] * q1
            out[128 * n + l + 32] = d * s[is_ + 2] * q2
            out[128 * n + l + 64] = d * s[is_ + 4] * q3
            out[128 * n + l + 96] = d * s[is_ + 6] * q4
    return out


@pytest.mark.parametrize("qtype, decode", [(Q.Q4_K, _q4_k_block), (Q.Q5_K, _q5_k_block), (Q.Q6_K, _q6_k_block)],
                         ids=["Q4_K", "Q5_K", "Q6_K"])
def test_k_quant_block_matches_reference_decoder(tmp_path, qtype, decode):
    originals, _ = write_tiny_gguf(tmp_path / "m.gguf", "qwen2", qtype)
    name = "model.layers.1.mlp.up_proj.weight"  # not permuted: GGUF rows are HF rows
    stored = next(t for t in GGUFReader(tmp_path / "m.gguf").tensors if t.name == gguf_name(name)).data
    assert stored.shape == (256, {Q.Q4_K: 144, Q.Q5_K: 176, Q.Q6_K: 210}[qtype])  # one super-block per row
    row = load_gguf(tmp_path / "m.gguf").tensors[name].read_rows(5, 6)[0]
    np.testing.assert_allclose(row, decode(bytes(stored[5])), rtol=1e-6, atol=1e-7)
    assert 0 < np.abs(row - originals[name][5]).max()  # really quantized


# --- every supported block type, decoded exactly as gguf-py decodes it -------------------------------

SUPPORTED_BLOCK_TYPES = [t for t in SUPPORTED_TYPES if GGML_QUANT_SIZES[t][0] > 1]


def test_every_block_type_llama_cpp_presets_write_is_supported():
    assert set(SUPPORTED_BLOCK_TYPES) == {Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q2_K, Q.Q3_K, Q.Q4_K,
                                          Q.Q5_K, Q.Q6_K, Q.IQ4_NL, Q.IQ4_XS} <= set(BLOCK_TYPES)


@pytest.mark.parametrize("qtype", SUPPORTED_BLOCK_TYPES, ids=lambda q: q.name)
def test_random_blocks_read_as_gguf_py_dequantizes_them(tmp_path, qtype):
    """Whole tensors and row ranges equal gguf-py's dequantize of the stored bytes, for blocks of
    32 and of 256 values (Qwen2: no Q/K permutation, so stored rows are HF rows)."""
    stored = write_random_blocks_gguf(tmp_path / "m.gguf", "qwen2", qtype)
    ckpt = load_gguf(tmp_path / "m.gguf")
    block_size, block_bytes = GGML_QUANT_SIZES[qtype]
    reader_tensors = {t.name: t for t in GGUFReader(tmp_path / "m.gguf").tensors}
    for name, want_shape in ((n, w.shape) for n, w in hf_weights("qwen2").items() if w.ndim == 2):
        raw, entry = stored[gguf_name(name)], ckpt.tensors[name]
        rows, columns = want_shape
        assert reader_tensors[gguf_name(name)].data.shape == (rows, columns // block_size * block_bytes) == raw.shape
        want = dequantize(raw, qtype)
        assert want.shape == want_shape and np.isfinite(want).all() and 0 < np.abs(want).max() < 1e4
        assert entry.shape == want_shape and entry.source_dtype == qtype.name.lower()
        got = entry.read()
        assert got.dtype == np.float32 and got.flags.writeable
        np.testing.assert_array_equal(got, want, err_msg=name)
        np.testing.assert_array_equal(entry.read_rows(3, 9), want[3:9], err_msg=name)
        np.testing.assert_array_equal(entry.read_rows(rows - 1, rows), want[rows - 1:], err_msg=name)


@pytest.mark.parametrize("qtype", [Q.Q5_0, Q.Q3_K, Q.IQ4_XS], ids=lambda q: q.name)
def test_random_blocks_in_permuted_llama_q_k_rows(tmp_path, qtype):
    """Llama's Q/K rows un-permuted head by head: a row range across a head boundary is a slice of
    the whole tensor, and the whole tensor is gguf-py's rows in HF order."""
    stored = write_random_blocks_gguf(tmp_path / "m.gguf", "llama", qtype)
    entry = load_gguf(tmp_path / "m.gguf").tensors["model.layers.1.self_attn.k_proj.weight"]
    order = stored_row_order("llama", "model.layers.1.self_attn.k_proj.weight", entry.shape[0])
    want = np.empty(entry.shape, np.float32)
    want[order] = dequantize(stored["blk.1.attn_k.weight"], qtype)
    np.testing.assert_array_equal(entry.read(), want)
    np.testing.assert_array_equal(entry.read_rows(60, 70), want[60:70])
    # the stored blocks come in the same (HF) row order, for the schemes that copy them
    np.testing.assert_array_equal(dequantize(entry.read_blocks(60, 70), qtype), want[60:70])


# --- RoPE scaling -----------------------------------------------------------------------------------

def _llama_cpp_rope_factors(base: float, dim: int, factor: float, low: float, high: float, old_context: int):
    """convert_hf_to_gguf.py LlamaModel.generate_extra_tensors, for numpy."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    low_freq_wavelen, high_freq_wavelen = old_context / low, old_context / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            factors.append(1)
        elif wavelen > low_freq_wavelen:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


@pytest.mark.parametrize("theta, factor, low, high", [(500000.0, 32.0, 1.0, 4.0), (500000.0, 8.0, 1.0, 4.0),
                                                       (10000.0, 4.0, 2.0, 8.0)])
def test_llama3_rope_scaling_is_recovered_from_rope_freqs(tmp_path, theta, factor, low, high):
    factors = _llama_cpp_rope_factors(theta, 64, factor, low, high, 8192)
    assert (factors > 1).any() and (factors < factor).any()  # a real blend, not all-or-nothing
    write_tiny_gguf(tmp_path / "m.gguf", "llama", rope_theta=theta,
                    metadata=lambda writer: writer.add_tensor("rope_freqs.weight", factors))
    ckpt = load_gguf(tmp_path / "m.gguf")
    assert ckpt.config["rope_scaling"] == {"rope_type": "llama3", "factor": factor, "low_freq_factor": low,
                                           "high_freq_factor": high, "original_max_position_embeddings": 8192}
    assert ckpt.config["rope_theta"] == theta
    assert "rope_freqs.weight" not in ckpt.tensors and len(ckpt.tensors) == 2 + 2 * 12


def test_rope_freqs_that_are_not_llama3_scaling_are_refused(tmp_path):
    factors = _llama_cpp_rope_factors(500000.0, 64, 8.0, 1.0, 4.0, 8192)
    factors[3] = 2.5  # a factor where the Llama 3 formula has 1
    write_tiny_gguf(tmp_path / "m.gguf", "llama", rope_theta=500000.0,
                    metadata=lambda writer: writer.add_tensor("rope_freqs.weight", factors))
    with pytest.raises(SitegenError, match="does not follow Llama 3's RoPE scaling"):
        load_gguf(tmp_path / "m.gguf")


def test_linear_rope_scaling(tmp_path):
    def linear(writer):
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(4.0)
    write_tiny_gguf(tmp_path / "m.gguf", "qwen2", metadata=linear)
    assert load_gguf(tmp_path / "m.gguf").config["rope_scaling"] == {"rope_type": "linear", "factor": 4.0}


def test_yarn_is_refused(tmp_path):
    write_tiny_gguf(tmp_path / "yarn.gguf", "qwen2", metadata=lambda w: w.add_rope_scaling_type(RopeScalingType.YARN))
    with pytest.raises(SitegenError, match=r"unsupported RoPE scaling in the GGUF file \(yarn\)"):
        load_gguf(tmp_path / "yarn.gguf")


def test_a_sliding_window_is_the_sliding_window_feature(tmp_path):
    write_tiny_gguf(tmp_path / "swa.gguf", "llama", metadata=lambda w: w.add_sliding_window(64))
    assert load_gguf(tmp_path / "swa.gguf").config["sliding_window"] == 64


def test_the_gemma3_270m_gguf_reads_as_its_family_table_says(gemma3_270m_gguf):
    """llama.cpp's names for Gemma's sandwich norms, its window; the pattern, local RoPE base and
    query_pre_attn_scalar from the family's defaults."""
    checkpoint = load_gguf(gemma3_270m_gguf)
    arch = architecture(checkpoint.config)
    check_tensors(arch, checkpoint.tensors)
    assert (arch.family, arch.sliding_window, arch.rope_local_base_freq, arch.query_pre_attn_scalar) == \
        ("gemma3", 512, 10000.0, 256.0)
    assert [i for i in range(arch.num_layers) if not arch.sliding(i)] == [5, 11, 17]
    assert arch.embedding_multiplier == 640 ** 0.5 and arch.sandwich_norms and arch.vocab_size == 262144


def test_gemma2_soft_caps_come_from_the_metadata(tmp_path):
    def caps(writer):
        writer.add_attn_logit_softcapping(20.0)
        writer.add_final_logit_softcapping(10.0)
    write_tiny_gguf(tmp_path / "m.gguf", "qwen2", arch_name="gemma2", metadata=caps)
    config = load_gguf(tmp_path / "m.gguf").config
    assert (config["architectures"], config["attn_logit_softcapping"], config["final_logit_softcapping"]) == (
        ["Gemma2ForCausalLM"], 20.0, 10.0)


# --- whole checkpoints converted as llama.cpp's convert_hf_to_gguf.py converts them -----------------

# tests/tiny_models.py shape -> config.json changes: what the GGUF can carry (Gemma 3: the layer
# pattern llama.cpp assumes, every 6th layer global, and query_pre_attn_scalar = head_dim)
CONVERTED = {"phi3": {}, "phi4-mini": {},
             "gemma3": {"num_hidden_layers": 6, "sliding_window_pattern": 6, "query_pre_attn_scalar": 32}}


@pytest.fixture(scope="module", params=CONVERTED)
def converted(request, tmp_path_factory) -> tuple[Path, Path]:
    """(HF folder, the GGUF converted from it) of a tiny bf16 checkpoint."""
    folder = tmp_path_factory.mktemp(request.param)
    write_tiny_model(folder / "hf", request.param, dtype=ml_dtypes.bfloat16, seed=9, **CONVERTED[request.param])
    convert_hf_to_gguf(folder / "hf", folder / "m.gguf")
    return folder / "hf", folder / "m.gguf"


def test_a_converted_checkpoint_loads_to_the_architecture_and_tensors_of_its_safetensors(converted):
    """Phi-3's fused qkv / gate_up and LongRoPE factor tensors (partial rotary for Phi-4-mini),
    Gemma 3's norms stored with the 1 added, its local RoPE base: the same manifest architecture,
    the same tensors bit for bit (float32 from bf16 either way)."""
    folder, path = converted
    ours, theirs = load_gguf(path), load_hf_folder(folder)
    arch = architecture(ours.config)
    assert arch == architecture(theirs.config)
    assert check_tensors(arch, ours.tensors) and set(ours.tensors) == set(theirs.tensors)
    for name, entry in theirs.tensors.items():
        np.testing.assert_array_equal(ours.tensors[name].read(), entry.read(), err_msg=name)
    if arch.family == "phi3":
        assert arch.rope_scaling["type"] == "longrope" and arch.rope_scaling["attention_factor"] > 1
        assert ours.config["rope_scaling"]["long_factor"] == theirs.config["rope_scaling"]["long_factor"]
    else:
        assert (arch.query_pre_attn_scalar, arch.rope_local_base_freq) == (32.0, 10000.0)
        assert [arch.sliding(i) for i in range(6)] == [True] * 5 + [False]


def test_a_converted_checkpoints_reference_logits_are_transformers(converted, tmp_path):
    """The site built from the GGUF (f16 weights) computes the logits transformers computes on the
    original checkpoint. transformers turns a prompt within LongRoPE's original context with the
    short factors: the reference runs in a context that long to take them too (sitegen/rope.py)."""
    folder, path = converted
    manifest = build(BuildConfig(model=str(path), out=tmp_path / "site", quant="f16"), log=lambda *_: None)
    scaling = manifest["architecture"]["rope_scaling"]
    ours = ReferenceModel(tmp_path / "site" / "models" / manifest["model_id"],
                          scaling["original_max_position_embeddings"] if scaling else None)
    theirs = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
    ids = [5, 17, 200, 3, 99, 150, 42, 7, 250, 11, 300, 64]  # past Gemma's window of 8
    with torch.no_grad():
        expected = theirs(torch.tensor([ids])).logits[0].numpy()
    np.testing.assert_allclose(ours.forward(ids, every_position=True), expected, atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("arch_name, layers, hidden, heads, scalar", [
    ("gemma2", 46, 4608, 32, 144),  # Gemma 2 27B: hidden / heads
    ("gemma3", 62, 5376, 32, 168),  # Gemma 3 27B
    ("gemma2", 42, 3584, 16, 64),  # Gemma 2 9B: key_length (the tiny llama's 64), not hidden / heads (224)
    ("gemma3", 48, 3840, 16, 64),  # Gemma 3 12B: likewise (not 240)
])
def test_gemmas_query_pre_attn_scalar_is_derived_as_llama_cpp_derives_it(tmp_path, arch_name, layers, hidden,
                                                                         heads, scalar):
    def size(writer):  # the sizes llama.cpp reads it from; the tensors stay the tiny llama's
        writer.add_block_count(layers)
        writer.add_embedding_length(hidden)
        writer.add_head_count(heads)
    write_tiny_gguf(tmp_path / "m.gguf", "llama", arch_name=arch_name, metadata=size)
    assert load_gguf(tmp_path / "m.gguf").config["query_pre_attn_scalar"] == scalar


def test_only_gemma_gets_a_query_pre_attn_scalar(tmp_path):
    write_tiny_gguf(tmp_path / "m.gguf", "llama", metadata=lambda writer: writer.add_block_count(62))
    assert "query_pre_attn_scalar" not in load_gguf(tmp_path / "m.gguf").config


def _longrope(short: list[float], long: list[float]) -> Callable:
    def add(writer):
        writer.add_rope_scaling_orig_ctx_len(128)
        writer.add_tensor("rope_factors_short.weight", np.array(short, np.float32))
        writer.add_tensor("rope_factors_long.weight", np.array(long, np.float32))
    return add


def test_longrope_factors_become_rope_scaling_and_a_stored_attention_factor_is_kept(tmp_path):
    """The context is 512 (4 times 128): the attention factor the converter writes is the one
    transformers derives, so it is left for sitegen/arch.py to derive; another one is kept."""
    short, long = [1.0, 1.1, 1.3, 1.7] * 8, [2.0, 3.5, 7.0, 12.5] * 8
    write_tiny_gguf(tmp_path / "m.gguf", "qwen2", arch_name="phi3", metadata=_longrope(short, long))
    config = load_gguf(tmp_path / "m.gguf").config
    assert config["rope_scaling"] == {"rope_type": "longrope", "original_max_position_embeddings": 128,
                                      "short_factor": short, "long_factor": long}
    assert config["original_max_position_embeddings"] == 128

    def with_factor(factor):
        def add(writer):
            _longrope(short, long)(writer)
            writer.add_rope_scaling_attn_factors(factor)
        return add
    derived = math.sqrt(1 + math.log(4) / math.log(128))
    write_tiny_gguf(tmp_path / "derived.gguf", "qwen2", arch_name="phi3", metadata=with_factor(derived))
    assert "attention_factor" not in load_gguf(tmp_path / "derived.gguf").config["rope_scaling"]
    write_tiny_gguf(tmp_path / "own.gguf", "qwen2", arch_name="phi3", metadata=with_factor(1.5))
    assert load_gguf(tmp_path / "own.gguf").config["rope_scaling"]["attention_factor"] == 1.5


def test_longrope_needs_both_factor_tensors(tmp_path):
    def short_only(writer):
        writer.add_rope_scaling_orig_ctx_len(128)
        writer.add_tensor("rope_factors_short.weight", np.ones(32, np.float32))
    write_tiny_gguf(tmp_path / "m.gguf", "qwen2", arch_name="phi3", metadata=short_only)
    with pytest.raises(SitegenError, match="has LongRoPE factors but not rope_factors_long.weight"):
        load_gguf(tmp_path / "m.gguf")


def test_a_zero_sliding_window_is_none(tmp_path):
    """What the converter writes for a Phi-3 config whose sliding_window is null."""
    write_tiny_gguf(tmp_path / "m.gguf", "qwen2", arch_name="phi3", metadata=lambda w: w.add_sliding_window(0))
    assert "sliding_window" not in load_gguf(tmp_path / "m.gguf").config


# --- what sitegen refuses -------------------------------------------------------------------------

def test_unsupported_architecture(tmp_path):
    write_tiny_gguf(tmp_path / "m.gguf", "llama", arch_name="falcon")
    with pytest.raises(SitegenError, match="^unsupported architecture falcon; supported: llama, qwen2, qwen3, phi3, "
                                           "gemma2, gemma3$"):
        load_gguf(tmp_path / "m.gguf")


@pytest.mark.parametrize("qtype", [Q.IQ2_XXS, Q.TQ1_0], ids=lambda q: q.name)
def test_unsupported_tensor_type_names_tensor_type_and_supported_list(tmp_path, qtype):
    write_random_blocks_gguf(tmp_path / "m.gguf", "qwen2", qtype)
    with pytest.raises(SitegenError) as err:
        load_gguf(tmp_path / "m.gguf")
    message = str(err.value)
    assert message.startswith(f"tensor token_embd.weight is stored as {qtype.name}, which sitegen cannot read")
    assert "F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS" in message
    assert "e.g. Q4_K_M" in message and "\n" not in message


def test_unknown_tensor_is_refused(tmp_path):
    write_tiny_gguf(tmp_path / "m.gguf", "llama",
                    metadata=lambda w: w.add_tensor("blk.0.ffn_gate_inp.weight", np.ones((4, 256), np.float32)))
    with pytest.raises(SitegenError, match="unexpected tensor 'blk.0.ffn_gate_inp.weight'"):
        load_gguf(tmp_path / "m.gguf")


@pytest.fixture(scope="module")
def tiny_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("tiny") / "m.gguf"
    write_tiny_gguf(path, "llama", Q.Q8_0)
    return path.read_bytes()


def _huge_token_count(data: bytes) -> bytes:
    """The token array's length field set to 2**40."""
    key = b"tokenizer.ggml.tokens"
    at = data.index(key) + len(key) + 4 + 4  # value type, element type, then the uint64 length
    return data[:at] + (2 ** 40).to_bytes(8, "little") + data[at + 8:]


@pytest.mark.parametrize("damage", [
    lambda data: b"",
    lambda data: b"GGML" + data[4:],  # bad magic
    lambda data: data[:300],  # cut inside the metadata
    lambda data: data[:data.index(b"blk.1.attn_q.weight") + 10],  # cut inside the tensor infos
    lambda data: data[:-5000],  # cut inside the tensor data
    _huge_token_count,
], ids=["empty", "bad-magic", "cut-metadata", "cut-tensor-info", "cut-data", "corrupt-array-length"])
def test_damaged_file_gets_a_clear_message(tmp_path, tiny_bytes, damage):
    (tmp_path / "m.gguf").write_bytes(damage(tiny_bytes))
    with pytest.raises(SitegenError, match="is not a valid, complete GGUF file .*download it again"):
        load_gguf(tmp_path / "m.gguf")


def test_truncated_demo_model_gets_a_clear_message(tmp_path, smollm2_gguf):
    with smollm2_gguf.open("rb") as f:
        (tmp_path / "cut.gguf").write_bytes(f.read(40_000_000))  # header intact, tensor data cut
    with pytest.raises(SitegenError, match="not a valid, complete GGUF file .*download it again"):
        load_gguf(tmp_path / "cut.gguf")


def test_missing_file(tmp_path):
    with pytest.raises(SitegenError, match="no such GGUF file"):
        load_gguf(tmp_path / "absent.gguf")


def test_split_model_part_is_refused(tmp_path):
    def split(writer):
        writer.add_uint16("split.no", 0)
        writer.add_uint16("split.count", 2)
    write_tiny_gguf(tmp_path / "m.gguf", "llama", metadata=split)
    with pytest.raises(SitegenError, match="one part of a split model"):
        load_gguf(tmp_path / "m.gguf")
