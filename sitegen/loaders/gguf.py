"""Read a llama.cpp GGUF file as a Checkpoint: HF names, HF layout, rows dequantized on demand.

The file is memory-mapped by gguf-py's GGUFReader; a tensor's rows are dequantized only when
asked for (quantized blocks run along a row, so a block of rows is a plain slice of the map).
What llama.cpp's converter changed on the way in is undone here: tensor names, the reversed
dimension order, and the row order of Llama's Q/K projections. The HF config is rebuilt from the
metadata (RoPE scaling also from the factor tensors that stand for it: Llama 3's, Phi-3's LongRoPE;
what the file lacks as llama.cpp assumes it), and the tokenizer from the stored vocabulary
(sitegen.loaders.gguf_tokenizer).
"""

import functools
import json
import math
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFReader, GGUFValueType, ReaderTensor
from gguf.quants import dequantize

from sitegen.checkpoint import Checkpoint, TensorEntry
from sitegen.errors import SitegenError
from sitegen.families import FAMILIES, Family
from sitegen.loaders.gguf_tokenizer import (generation_config_from_gguf, tokenizer_config_from_gguf,
                                            tokenizer_json_from_gguf)
from sitegen.rope import inverse_frequencies, longrope_attention_factor

# What llama.cpp's usual quantisation presets write (Q2_K ... Q8_0, IQ4_NL, IQ4_XS; the K-quant
# presets fall back to Q5_0/Q5_1/Q8_0/IQ4_NL for rows that are not a multiple of 256), all
# dequantised by gguf-py. Other types (the 1-3 bit IQ types made with an importance matrix, the
# ternary TQ ones, MXFP4) are refused rather than read untested.
SUPPORTED_TYPES = (Q.F32, Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0,
                   Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.IQ4_NL, Q.IQ4_XS)

_ARCHS = {fam.gguf_name: fam for fam in FAMILIES}  # GGUF general.architecture -> family

_GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
_BLOCK_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",  # Qwen3's per-head q/k RMSNorm gains
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
_ROPE_FREQS = "rope_freqs.weight"  # llama.cpp bakes Llama 3's RoPE scaling into per-dimension factors
_LLAMA3_ORIGINAL_CONTEXT = 8192  # what llama.cpp's converter assumes when building those factors
# Phi-3's LongRoPE factors, one per rotary pair (convert_hf_to_gguf.py, Phi3MiniModel.generate_extra_tensors)
_LONGROPE_FACTORS = {"short_factor": "rope_factors_short.weight", "long_factor": "rope_factors_long.weight"}
_ROPE_TENSORS = (_ROPE_FREQS, *_LONGROPE_FACTORS.values())  # read into rope_scaling, not weights
# Gemma 2/3 GGUFs carry no query_pre_attn_scalar: llama.cpp (src/llama-model.cpp, load_hparams) scales
# scores by (hidden / heads) ** -0.5 for the 27B models, which it recognises by these layer counts, and by
# key_length ** -0.5 otherwise, after gemma_pytorch's config.py (HF configs: 144 and 168 for the 27Bs)
_GEMMA_27B_LAYERS = {"gemma2": 46, "gemma3": 62}
_REQUIRED = object()


class _PastEnd(ValueError):
    pass


class _CheckedReader(GGUFReader):
    """GGUFReader that refuses to read past the end of the file.

    The stock reader slices its memory map, and a slice past the end is silently short: a cut
    file then fails later as a puzzling reshape error, or loops on a corrupt array length. Slicing
    a plain ndarray view of the map (rather than the np.memmap subclass) also makes parsing a
    large vocabulary about three times faster.
    """

    @functools.cached_property
    def _bytes(self) -> np.ndarray:
        return self.data.view(np.ndarray)

    def _get(self, offset: int, dtype: Any, count: int = 1, override_order: str | None = None) -> np.ndarray:
        dtype = np.dtype(dtype)
        end = int(offset) + dtype.itemsize * int(count)
        if end > self._bytes.size:
            raise _PastEnd(f"needs bytes up to offset {end}, the file has {self._bytes.size}")
        order = self.byte_order if override_order is None else override_order
        return self._bytes[offset:end].view(dtype.newbyteorder(order))


def _open(path: Path) -> GGUFReader:
    if not path.is_file():
        raise SitegenError(f"{path}: no such GGUF file")
    try:
        reader = _CheckedReader(path)
    except (ValueError, IndexError, KeyError, OverflowError) as err:  # what a damaged file makes gguf-py raise
        raise SitegenError(f"{path} is not a valid, complete GGUF file ({err}); it may be truncated or "
                           "corrupted: download it again") from None
    if reader.byte_order != "I":
        raise SitegenError(f"{path} is a big-endian GGUF file; sitegen reads little-endian GGUF files only")
    return reader


def _field_value(field) -> Any:
    value = field.contents()
    if field.types == [GGUFValueType.FLOAT32]:
        # Hyper-parameters are stored as float32: give the shortest decimal that round-trips
        # (1e-05, not 9.999999747378752e-06), as HF configs have them.
        return float(str(np.float32(value)))
    return value


def _metadata(reader: GGUFReader) -> dict[str, Any]:
    return {name: _field_value(field) for name, field in reader.fields.items()}


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """Every key/value of a GGUF file's header as plain Python values."""
    return _metadata(_open(path))


def _require(meta: dict[str, Any], key: str) -> Any:
    if key not in meta:
        raise SitegenError(f"the GGUF file lacks the metadata key {key!r}; it may come from an older or "
                           "unusual converter: convert the model again with a recent llama.cpp")
    return meta[key]


def _arch_name(meta: dict[str, Any]) -> str:
    name = _require(meta, "general.architecture")
    if name not in _ARCHS:
        raise SitegenError(f"unsupported architecture {name}; supported: {', '.join(_ARCHS)}")
    if meta.get("split.count", 1) > 1:
        raise SitegenError("this GGUF file is one part of a split model; merge the parts first "
                           "(llama-gguf-split --merge) and give sitegen the merged file")
    return name


def _hf_name(gguf_name: str, family: Family) -> str:
    match = re.fullmatch(r"(?:blk\.(\d+)\.)?(\w+)\.(weight|bias)", gguf_name)
    if match:
        layer, part, kind = match.groups()
        table, prefix = ((_GLOBAL_NAMES, "") if layer is None
                         else (_BLOCK_NAMES | family.gguf_names, f"model.layers.{layer}."))
        if part in table:
            return f"{prefix}{table[part]}.{kind}"
    raise SitegenError(f"unexpected tensor {gguf_name!r} in the GGUF file; sitegen converts plain decoder "
                       f"models of these architectures only: {', '.join(_ARCHS)}")


def _check_type(tensor: ReaderTensor) -> None:
    if tensor.tensor_type not in SUPPORTED_TYPES:
        raise SitegenError(
            f"tensor {tensor.name} is stored as {tensor.tensor_type.name}, which sitegen cannot read; "
            f"supported types: {', '.join(t.name for t in SUPPORTED_TYPES)}. Use a GGUF quantized with one "
            "of those (a preset from Q2_K to Q8_0, e.g. Q4_K_M) or the original Hugging Face checkpoint.")
    if len(tensor.shape) > 2:
        raise SitegenError(f"tensor {tensor.name} has {len(tensor.shape)} dimensions; sitegen expects at most 2")


def _undo_qk_permutation(rows: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of convert_hf_to_gguf.py's `permute`: within each head llama.cpp interleaves the
    two rotary halves row by row (rows 0, half, 1, half + 1, ...); HF keeps the halves apart."""
    half = rows.shape[0] // n_heads // 2
    return rows.reshape(n_heads, half, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


def _row_readers(tensor: ReaderTensor, permuted_heads: int | None) -> tuple[Callable, Callable | None]:
    """(rows [start, stop) dequantized to float32, rows as stored: None for a 1-D tensor), both
    in HF row order."""
    def dequantized(raw: np.ndarray) -> np.ndarray:
        # A fresh, writable float32 array, never a view of the read-only map.
        return np.array(dequantize(raw, tensor.tensor_type), dtype=np.float32, order="C")

    if len(tensor.shape) == 1:  # norms and biases: a few KiB, and a 1-D quantized slice would cut blocks
        def elements(start: int, stop: int) -> np.ndarray:
            whole = dequantized(tensor.data)
            return (whole if permuted_heads is None else _undo_qk_permutation(whole, permuted_heads))[start:stop].copy()
        return elements, None
    # gguf-py maps a 2-D tensor of a block type as bytes [rows, row bytes] (row bytes = columns /
    # block size * block bytes, GGML_QUANT_SIZES; a row always holds whole blocks), so a range of
    # rows is a plain slice whatever the block size, and reordering rows reorders whole blocks.
    if permuted_heads is None:
        def stored(start: int, stop: int) -> np.ndarray:
            return np.array(tensor.data[start:stop])
    else:
        head_rows = int(tensor.shape[1]) // permuted_heads  # GGUF lists [in, out]

        def stored(start: int, stop: int) -> np.ndarray:  # the permutation stays within a head
            first, end = start // head_rows * head_rows, -(-stop // head_rows) * head_rows
            rows = _undo_qk_permutation(tensor.data[first:end], (end - first) // head_rows)
            return rows[start - first:stop - first]
    return lambda start, stop: dequantized(stored(start, stop)), stored


def _permuted_heads(hf_name: str, family: Family, n_heads: int, n_kv_heads: int) -> int | None:
    if not family.permuted_qk:
        return None
    return {"q_proj": n_heads, "k_proj": n_kv_heads}.get(hf_name.split(".")[-2])


def _tensor_entries(reader: GGUFReader, family: Family, n_heads: int, n_kv_heads: int) -> dict[str, TensorEntry]:
    entries = {}
    for tensor in reader.tensors:
        if tensor.name in _ROPE_TENSORS:
            continue
        name = _hf_name(tensor.name, family)
        _check_type(tensor)
        read_rows, read_blocks = _row_readers(tensor, _permuted_heads(name, family, n_heads, n_kv_heads))
        entries[name] = TensorEntry(
            shape=tuple(int(d) for d in reversed(tensor.shape)),  # GGUF lists the contiguous dimension first
            read_rows=read_rows, read_blocks=read_blocks, source_dtype=tensor.tensor_type.name.lower())
    return entries


def _tidy(value: float) -> float:
    """Six significant digits: takes float32 and fit noise off (1.0, not 0.99999994)."""
    return float(f"{value:.6g}")


def _llama3_scaling(factors: np.ndarray, theta: float, head_dim: int, context: int) -> dict | None:
    """Recover HF's llama3 rope_scaling from llama.cpp's per-dimension factors.

    Between the two wavelength limits HF blends linearly in 1/wavelength: with s the blend weight
    (0: divided by `factor`, 1: unscaled), s = (context / wavelength - low) / (high - low). So
    `factor` is the largest divisor, and a line fitted through s of the blended dimensions gives
    low and high for the given context (only the ratios context/low and context/high matter).
    """
    inv_freq = inverse_frequencies(head_dim, theta, None)
    factor = float(factors.max())
    if factor == 1.0:  # nothing is scaled
        return None
    blend = (1 / factors - 1 / factor) / (1 - 1 / factor)
    blended = (blend > 1e-4) & (blend < 1 - 1e-4)
    params = None
    if blended.sum() >= 2 and len(factors) == len(inv_freq):
        slope, intercept = np.polyfit(context * inv_freq[blended] / (2 * math.pi), blend[blended], 1)
        low = -intercept / slope
        params = {"factor": _tidy(factor), "low_freq_factor": _tidy(low), "high_freq_factor": _tidy(low + 1 / slope),
                  "original_max_position_embeddings": context}
    # the divisors these parameters give: unscaled speeds over scaled ones
    if params is None or not np.allclose(
            inv_freq / inverse_frequencies(head_dim, theta, {"type": "llama3", **params}), factors, rtol=1e-4):
        raise SitegenError(f"the GGUF's {_ROPE_FREQS} does not follow Llama 3's RoPE scaling, so sitegen "
                           "cannot express it as an HF rope_scaling; convert the Hugging Face checkpoint instead")
    return {"rope_type": "llama3", **params}


def _rope_factors(tensor: ReaderTensor) -> np.ndarray:
    """A RoPE factor tensor's values, float64 [n]."""
    return dequantize(tensor.data, tensor.tensor_type).astype(np.float64).ravel()


def _longrope_scaling(meta: dict, arch_name: str, tensors: dict[str, ReaderTensor]) -> dict:
    """HF's longrope rope_scaling from llama.cpp's Phi-3 GGUF: the factor tensors (float32: given as
    their shortest round-tripping decimals, as config.json has them), the original context
    (rope.scaling.original_context_length) and, where it is not the one transformers derives
    anyway, the attention factor (rope.scaling.attn_factor, which the converter computes with
    sitegen/rope.py's formula)."""
    missing = [name for name in _LONGROPE_FACTORS.values() if name not in tensors]
    if missing:
        raise SitegenError(f"the GGUF file has LongRoPE factors but not {missing[0]}; it may come from an unusual "
                           "converter: convert the model again with a recent llama.cpp")
    context = _require(meta, f"{arch_name}.context_length")
    original = _require(meta, f"{arch_name}.rope.scaling.original_context_length")
    scaling = {"rope_type": "longrope", "original_max_position_embeddings": original}
    scaling |= {key: [float(str(v)) for v in _rope_factors(tensors[name]).astype(np.float32)]
                for key, name in _LONGROPE_FACTORS.items()}
    stored = meta.get(f"{arch_name}.rope.scaling.attn_factor")
    if stored is not None and not math.isclose(stored, longrope_attention_factor(context / original, original),
                                               rel_tol=1e-6):
        scaling["attention_factor"] = stored
    return scaling


def _rope_scaling(meta: dict, arch_name: str, reader: GGUFReader, theta: float, head_dim: int) -> dict | None:
    kind = meta.get(f"{arch_name}.rope.scaling.type", "none")
    tensors = {t.name: t for t in reader.tensors if t.name in _ROPE_TENSORS}
    freqs = tensors.get(_ROPE_FREQS)
    if tensors and freqs is None and kind in ("none", "longrope"):  # newer converters name the type
        return _longrope_scaling(meta, arch_name, tensors)
    if freqs is not None and len(tensors) == 1 and kind == "none":
        context = meta.get(f"{arch_name}.rope.scaling.original_context_length", _LLAMA3_ORIGINAL_CONTEXT)
        return _llama3_scaling(_rope_factors(freqs), theta, head_dim, context)
    if not tensors and kind == "none":
        return None
    if not tensors and kind == "linear":
        return {"rope_type": "linear", "factor": _require(meta, f"{arch_name}.rope.scaling.factor")}
    raise SitegenError(f"unsupported RoPE scaling in the GGUF file ({kind}"
                       f"{' with ' + ', '.join(tensors) if tensors else ''}); supported: none, linear, "
                       f"Llama 3 ({_ROPE_FREQS}), LongRoPE ({', '.join(_LONGROPE_FACTORS.values())})")


def _query_pre_attn_scalar(arch_name: str, layers: int, hidden: int, n_heads: int, head_dim: int) -> dict:
    """Gemma's query_pre_attn_scalar as llama.cpp derives it (_GEMMA_27B_LAYERS); {} for other families."""
    if arch_name not in _GEMMA_27B_LAYERS:
        return {}
    return {"query_pre_attn_scalar": hidden // n_heads if layers == _GEMMA_27B_LAYERS[arch_name] else head_dim}


def _config(meta: dict, arch_name: str, reader: GGUFReader) -> dict:
    def hp(key: str, default: Any = _REQUIRED) -> Any:  # an architecture hyper-parameter
        return _require(meta, f"{arch_name}.{key}") if default is _REQUIRED else meta.get(f"{arch_name}.{key}", default)

    hidden, n_heads, layers = hp("embedding_length"), hp("attention.head_count"), hp("block_count")
    head_dim = hp("attention.key_length", hidden // n_heads)
    theta = float(hp("rope.freq_base", 10000.0))  # llama.cpp's default
    names = {t.name for t in reader.tensors}
    # the window only (0: none, as the converter writes a Phi-3 config's null): which layers have it
    # (Gemma 3's every 6th layer global) is not in the file, the family's config_defaults give what
    # llama.cpp assumes; nor, before converters wrote rope.freq_base_swa, their RoPE base
    window = hp("attention.sliding_window", None)
    window = {"sliding_window": window} if window else {}
    local_base = hp("rope.freq_base_swa", None)
    local_base = {} if local_base is None else {"rope_local_base_freq": float(local_base)}
    # LongRoPE's pretrained context, where config.json has it (Phi3Config's original_max_position_embeddings)
    original = hp("rope.scaling.original_context_length", None)
    original = {} if original is None else {"original_max_position_embeddings": original}
    # the dimensions of each head RoPE turns (Phi-4-mini's 96 of 128): partial rotary
    rotary = hp("rope.dimension_count", head_dim)
    partial = {} if rotary == head_dim else {"partial_rotary_factor": rotary / head_dim}
    # Gemma 2's soft-caps (absent: the family's defaults, the values llama.cpp assumes too)
    caps = {key: hp(key) for key in ("attn_logit_softcapping", "final_logit_softcapping") if hp(key, None) is not None}
    return {
        "architectures": [_ARCHS[arch_name].hf_classes[0]],
        "model_type": arch_name,
        "hidden_size": hidden,
        "intermediate_size": hp("feed_forward_length"),
        "num_hidden_layers": layers,
        "num_attention_heads": n_heads,
        "num_key_value_heads": hp("attention.head_count_kv", n_heads),
        "head_dim": head_dim,
        "vocab_size": hp("vocab_size", len(_require(meta, "tokenizer.ggml.tokens"))),
        "max_position_embeddings": hp("context_length"),
        "rope_theta": theta,
        "rope_scaling": _rope_scaling(meta, arch_name, reader, theta, head_dim),
        "rms_norm_eps": hp("attention.layer_norm_rms_epsilon"),
        "tie_word_embeddings": "output.weight" not in names,
        "attention_bias": "blk.0.attn_q.bias" in names,
        **window,
        **local_base,
        **original,
        **caps,
        **partial,
        **_query_pre_attn_scalar(arch_name, layers, hidden, n_heads, head_dim),
    }


def load_gguf(path: Path) -> Checkpoint:
    reader = _open(path)
    meta = _metadata(reader)
    arch_name = _arch_name(meta)
    config = _config(meta, arch_name, reader)
    return Checkpoint(
        source=str(path),
        config=config,
        tensors=_tensor_entries(reader, _ARCHS[arch_name], config["num_attention_heads"],
                                config["num_key_value_heads"]),
        tokenizer_json=tokenizer_json_from_gguf(meta),
        tokenizer_config=tokenizer_config_from_gguf(meta),
        generation_config=generation_config_from_gguf(meta),
        model_card=_model_card(meta),
    )


# general.* keys shown on the about page, in this order
_CARD_FIELDS = (("general.organization", "Organization"), ("general.basename", "Model"),
                ("general.finetune", "Fine-tune"), ("general.size_label", "Size"),
                ("general.quantized_by", "Quantized by"), ("general.url", "URL"),
                ("general.source.url", "Source"), ("general.description", "Description"))


def _model_card(meta: dict) -> str | None:
    """A model card in the Hub's format (YAML front matter + markdown) from the GGUF's general.*
    metadata: a GGUF carries no README, but usually its name, licence and provenance."""
    lines = [f"- {label}: {meta[key]}" for key, label in _CARD_FIELDS if meta.get(key)]
    name, license_id = meta.get("general.name"), meta.get("general.license")
    if not (lines or name or license_id):
        return None
    front = f"---\nlicense: {json.dumps(str(license_id))}\n---\n" if license_id else ""
    title = f"# {name}\n\n" if name else ""
    return front + title + "From the GGUF file's metadata:\n\n" + "\n".join(lines) + "\n"
