"""GGUF files for the loader and tokenizer tests, written the way llama.cpp's converter writes them.

- tiny random Llama/Qwen2 models (Q/K rows permuted for Llama exactly as convert_hf_to_gguf.py
  does), either quantized from known weights (gguf-py quantizes the simple types, and Q4_K/Q5_K/Q6_K
  blocks, which gguf-py cannot produce, are packed here from the GGML block layout) or holding
  random blocks of any block type (only the fp16 scale fields made finite);
- the tokenizer of a real HF tokenizer.json, turned into GGUF metadata as the converter does;
- whole HF checkpoints (tests/tiny_models.py's Phi-3 and Gemma 3) converted as the converter does;
- a varied text corpus.
"""

import json
import math
from pathlib import Path
from typing import Callable

import numpy as np
import safetensors.torch
from gguf import GGMLQuantizationType as Q
from gguf import (GGML_QUANT_SIZES, MODEL_ARCH, MODEL_ARCH_NAMES, GGUFWriter, RopeScalingType, SpecialVocab, TokenType,
                  get_tensor_name_map)
from gguf.quants import quantize
from gguf.vocab import bytes_to_unicode

CORPUS = [
    "Hello world! This is a test.",
    "The year 2024 had 366 days; pi is 3.14159, a million is 1,000,000 and half is 0.5%.",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "    leading spaces, trailing spaces    ",
    "tabs\tand\t\ttabs, newlines\n\n\nand\r\nwindows line ends",
    "多语言测试：你好，世界！日本語のテキスト。한국어 문장입니다.",
    "Emoji: 😀🎉👍🏽 family 👨‍👩‍👧‍👦 flag 🇫🇷",
    "Accents: café, naïve, Ærøskøbing, São Paulo, Dvořák; decomposed: cafe\u0301",
    "Mixed CASE and contractions: I'M, you'll, they'VE, don't, it's, WE'D",
    "URL https://example.com/path?q=1&x=2#frag and mail a.b@c.org",
    "Arabic: مرحبا بالعالم; Hindi: नमस्ते दुनिया; Greek: Καλημέρα κόσμε; Russian: Привет, мир",
    "Tiếng Việt: nhiều việc hợp tác ngoài trời, đặc biệt là điều đó.",  # Llama 3 words BPE alone would split
    "Symbols: <>{}[]()!@#$%^&*_+-=~`|\\/;:'\",.?",
    "",
    " ",
    "a" * 40 + " " * 17 + "b\n \n",
    "1234567890 12 345 6789 00001",
]

QK_K = 256  # values per K-quant super-block

# --- tiny models ---------------------------------------------------------------------------------

SHAPES = {  # Llama: 8 heads of 64 = 512 != hidden, so head_dim comes from attention.key_length
    "llama": dict(hidden=256, ffn=256, layers=2, heads=8, kv_heads=2, head_dim=64),
    "qwen2": dict(hidden=256, ffn=256, layers=2, heads=4, kv_heads=2, head_dim=64),
}
# HF name part -> GGUF name part: the test's own table, independent of the loader's
_GGUF_NAMES = {
    "model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output",
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
    "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
# A small byte-level vocabulary: the 256 byte symbols, two merges, one control token.
TINY_TOKENS = list(bytes_to_unicode().values()) + ["he", "Ġt", "<|endoftext|>"]


def gguf_name(hf_name: str) -> str:
    stem, kind = hf_name.rsplit(".", 1)
    if stem.startswith("model.layers."):
        _, _, layer, part = stem.split(".", 3)
        return f"blk.{layer}.{_GGUF_NAMES[part]}.{kind}"
    return f"{_GGUF_NAMES[stem]}.{kind}"


def hf_weights(arch: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Random HF-layout weights. Both archs get Q/K/V biases (Llama's exercise the bias
    permutation); Llama ties its embeddings, Qwen2 has an lm_head."""
    s = SHAPES[arch]
    rng = np.random.default_rng(seed)
    q_rows, kv_rows = s["heads"] * s["head_dim"], s["kv_heads"] * s["head_dim"]
    shapes = {"model.embed_tokens.weight": (len(TINY_TOKENS), s["hidden"]), "model.norm.weight": (s["hidden"],)}
    if arch == "qwen2":
        shapes["lm_head.weight"] = (len(TINY_TOKENS), s["hidden"])
    for i in range(s["layers"]):
        p = f"model.layers.{i}."
        shapes |= {p + "input_layernorm.weight": (s["hidden"],), p + "post_attention_layernorm.weight": (s["hidden"],),
                   p + "self_attn.q_proj.weight": (q_rows, s["hidden"]), p + "self_attn.q_proj.bias": (q_rows,),
                   p + "self_attn.k_proj.weight": (kv_rows, s["hidden"]), p + "self_attn.k_proj.bias": (kv_rows,),
                   p + "self_attn.v_proj.weight": (kv_rows, s["hidden"]), p + "self_attn.v_proj.bias": (kv_rows,),
                   p + "self_attn.o_proj.weight": (s["hidden"], q_rows),
                   p + "mlp.gate_proj.weight": (s["ffn"], s["hidden"]),
                   p + "mlp.up_proj.weight": (s["ffn"], s["hidden"]),
                   p + "mlp.down_proj.weight": (s["hidden"], s["ffn"])}
    # Scaled like a trained model's weights: with N(0, 1) weights the activations of a few layers
    # pass f16's 65504, and the runtime's f16 path (T = f16) would see infinities the model never has.
    return {name: (0.1 * rng.standard_normal(shape)).astype(np.float32) for name, shape in shapes.items()}


def llama_cpp_permute(weights: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute, verbatim but for numpy."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def stored_row_order(arch: str, hf_name: str, rows: int) -> np.ndarray:
    """Which HF row each stored row holds: Llama's Q/K (weights and biases) are permuted."""
    s, order = SHAPES[arch], np.arange(rows)
    if arch == "llama" and ".q_proj." in hf_name:
        return llama_cpp_permute(order, s["heads"], s["heads"])
    if arch == "llama" and ".k_proj." in hf_name:
        return llama_cpp_permute(order, s["heads"], s["kv_heads"])
    return order


# --- K-quant blocks, packed from the GGML block layout (ggml-common.h) ---------------------------
# Each packer takes super-blocks [n, 256] of values and returns (bytes [n, block size], step [n, 256]):
# the step is the quantization step of each value's sub-block, so the error is at most step / 2.

def _f16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16)


def _asymmetric_k(blocks: np.ndarray, qmax: int) -> tuple[np.ndarray, ...]:
    """Q4_K/Q5_K: value = d*sc[j]*q - dmin*m[j] over 8 sub-blocks of 32, sc/m 6-bit."""
    sub = blocks.reshape(-1, 8, 32)
    offset_wanted = -np.minimum(sub.min(-1), 0)  # mins are subtracted and unsigned
    dmin = _f16(offset_wanted.max(-1, keepdims=True) / 60)  # 60, not 63: fp16 rounding must not overflow 6 bits
    m = np.ceil(offset_wanted / dmin.astype(np.float32)).astype(np.uint8)
    offset = dmin.astype(np.float32) * m
    step_wanted = (sub.max(-1) + offset) / qmax  # covers [min, max] without clipping
    d = _f16(step_wanted.max(-1, keepdims=True) / 60)
    sc = np.ceil(step_wanted / d.astype(np.float32)).astype(np.uint8)
    step = (d.astype(np.float32) * sc)[..., None]
    q = np.clip(np.rint((sub + offset[..., None]) / step), 0, qmax).astype(np.uint8).reshape(-1, QK_K)
    return d, dmin, sc, m, q, np.broadcast_to(step, sub.shape).reshape(-1, QK_K)


def _pack_6bit_scales(sc: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The 12-byte scales field that ggml's get_scale_min_k4 unpacks."""
    out = np.empty((len(sc), 12), np.uint8)
    out[:, 0:4] = sc[:, :4] | (sc[:, 4:] >> 4) << 6
    out[:, 4:8] = m[:, :4] | (m[:, 4:] >> 4) << 6
    out[:, 8:12] = (sc[:, 4:] & 0xF) | (m[:, 4:] & 0xF) << 4
    return out


def _low_nibbles(q: np.ndarray) -> np.ndarray:
    """qs: for each 64 values, byte l holds value l (low nibble) and value 32 + l (high nibble)."""
    chunks = (q & 0xF).reshape(-1, 4, 2, 32)
    return (chunks[:, :, 0] | chunks[:, :, 1] << 4).reshape(-1, 128)


def pack_q4_k(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d, dmin, sc, m, q, step = _asymmetric_k(blocks, 15)
    raw = np.hstack([d.view(np.uint8), dmin.view(np.uint8), _pack_6bit_scales(sc, m), _low_nibbles(q)])
    return raw, step


def pack_q5_k(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d, dmin, sc, m, q, step = _asymmetric_k(blocks, 31)
    high = (q >> 4).reshape(-1, 8, 32)  # fifth bit of sub-block j goes to bit j of qh[l]
    qh = np.bitwise_or.reduce(high << np.arange(8, dtype=np.uint8)[None, :, None], axis=1).astype(np.uint8)
    raw = np.hstack([d.view(np.uint8), dmin.view(np.uint8), _pack_6bit_scales(sc, m), qh, _low_nibbles(q)])
    return raw, step


def pack_q6_k(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """value = d*sc[j]*(q - 32) over 16 sub-blocks of 16, sc int8, q 6-bit."""
    sub = blocks.reshape(-1, 16, 16)
    step_wanted = np.abs(sub).max(-1) / 31
    d = _f16(step_wanted.max(-1, keepdims=True) / 120)  # int8 scales, with headroom for fp16 rounding
    sc = np.ceil(step_wanted / d.astype(np.float32)).astype(np.int8)
    step = (d.astype(np.float32) * sc)[..., None]
    q = (np.clip(np.rint(sub / step), -32, 31) + 32).astype(np.uint8).reshape(-1, 2, 4, 32)  # halves of 128
    ql = np.concatenate([q[:, :, 0] & 0xF | (q[:, :, 2] & 0xF) << 4,
                         q[:, :, 1] & 0xF | (q[:, :, 3] & 0xF) << 4], axis=2).reshape(-1, 128)
    qh = np.bitwise_or.reduce((q >> 4) << np.array([0, 2, 4, 6], np.uint8)[None, None, :, None], axis=2)
    raw = np.hstack([ql, qh.reshape(-1, 64).astype(np.uint8), sc.view(np.uint8), d.view(np.uint8)])
    return raw, np.broadcast_to(step, sub.shape).reshape(-1, QK_K)


_K_PACKERS: dict[Q, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    Q.Q4_K: pack_q4_k, Q.Q5_K: pack_q5_k, Q.Q6_K: pack_q6_k}


def _blockwise(x: np.ndarray, size: int, stat: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """stat over each block of `size` values along a row, repeated back to x's shape."""
    blocks = x.reshape(-1, size)
    return np.repeat(stat(blocks), size, axis=-1).reshape(x.shape)


# Quantization step of each value for the types gguf-py quantizes (see ggml-quants.c).
_STEPS: dict[Q, Callable[[np.ndarray], np.ndarray]] = {
    Q.F32: lambda x: np.zeros_like(x),
    Q.F16: lambda x: np.abs(x) * 2.0 ** -10,  # 10-bit mantissa
    Q.BF16: lambda x: np.abs(x) * 2.0 ** -7,  # 7-bit mantissa
    Q.Q8_0: lambda x: _blockwise(x, 32, lambda b: np.abs(b).max(-1, keepdims=True) / 127),
    Q.Q4_0: lambda x: _blockwise(x, 32, lambda b: np.abs(b).max(-1, keepdims=True) / 8),
    Q.Q5_0: lambda x: _blockwise(x, 32, lambda b: np.abs(b).max(-1, keepdims=True) / 16),
    Q.Q4_1: lambda x: _blockwise(x, 32, lambda b: (b.max(-1) - b.min(-1))[:, None] / 15),
    Q.Q5_1: lambda x: _blockwise(x, 32, lambda b: (b.max(-1) - b.min(-1))[:, None] / 31),
}
ENCODABLE_TYPES = (*_STEPS, *_K_PACKERS)  # the types `encode` writes from known weights


def encode(w: np.ndarray, qtype: Q) -> tuple[np.ndarray, np.ndarray]:
    """(bytes as a GGUF tensor stores them, each value's quantization step)."""
    if qtype in _K_PACKERS:
        raw, step = _K_PACKERS[qtype](w.reshape(-1, QK_K))
        return raw.reshape(w.shape[0], -1), step.reshape(w.shape)
    return quantize(w, qtype), _STEPS[qtype](w)


def _add_tiny_tokenizer(writer: GGUFWriter) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(TINY_TOKENS)
    writer.add_token_types([TokenType.NORMAL] * (len(TINY_TOKENS) - 1) + [TokenType.CONTROL])
    writer.add_token_merges(["h e", "Ġ t"])
    writer.add_bos_token_id(len(TINY_TOKENS) - 1)
    writer.add_eos_token_id(len(TINY_TOKENS) - 1)


def finish(writer: GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# Byte offsets of the fp16 fields (scales, mins) in one block of each type (ggml-common.h); every
# other byte of a block is a code or an integer scale, valid whatever its value.
_F16_FIELDS = {
    Q.Q4_0: (0,), Q.Q4_1: (0, 2), Q.Q5_0: (0,), Q.Q5_1: (0, 2), Q.Q8_0: (0,),
    Q.Q2_K: (80, 82), Q.Q3_K: (108,), Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,),
    Q.IQ4_NL: (0,), Q.IQ4_XS: (0,), Q.IQ2_XXS: (0,), Q.TQ1_0: (52,),
}
BLOCK_TYPES = tuple(_F16_FIELDS)


def random_blocks(rows: int, columns: int, qtype: Q, rng: np.random.Generator) -> np.ndarray:
    """uint8 [rows, columns / block size * block bytes]: random blocks of `qtype` whose fp16 fields
    hold moderate values (magnitude 0.01 to 1, either sign), so every value decodes finite."""
    block_size, block_bytes = GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, (rows * columns // block_size, block_bytes), dtype=np.uint8)
    for at in _F16_FIELDS[qtype]:
        scale = rng.uniform(0.01, 1, len(blocks)) * rng.choice([-1, 1], len(blocks))
        blocks[:, at:at + 2] = scale.astype(np.float16).view(np.uint8).reshape(-1, 2)
    return blocks.reshape(rows, -1)


def _tiny_writer(path: Path, arch: str, arch_name: str | None, rope_theta: float) -> GGUFWriter:
    """A writer holding a tiny model's metadata and tokenizer, as llama.cpp's converter writes them."""
    s = SHAPES[arch]
    writer = GGUFWriter(path, arch_name or arch)
    writer.add_block_count(s["layers"])
    writer.add_context_length(512)
    writer.add_embedding_length(s["hidden"])
    writer.add_feed_forward_length(s["ffn"])
    writer.add_head_count(s["heads"])
    writer.add_head_count_kv(s["kv_heads"])
    writer.add_rope_freq_base(rope_theta)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_vocab_size(len(TINY_TOKENS))
    writer.add_rope_dimension_count(s["head_dim"])
    if arch == "llama":
        writer.add_key_length(s["head_dim"])
        writer.add_value_length(s["head_dim"])
    _add_tiny_tokenizer(writer)
    return writer


def write_tiny_gguf(path: Path, arch: str, qtype: Q = Q.F32, *, arch_name: str | None = None,
                    rope_theta: float = 10000.0, metadata: Callable[[GGUFWriter], None] = lambda writer: None,
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Write a tiny model as llama.cpp's converter would: 2-D weights in `qtype` (one of
    ENCODABLE_TYPES), norms and biases in F32. Returns the HF-layout originals and each value's
    quantization step."""
    weights = hf_weights(arch)
    writer = _tiny_writer(path, arch, arch_name, rope_theta)
    metadata(writer)
    steps = {}
    for name, w in weights.items():
        order = stored_row_order(arch, name, len(w))  # stored row i is HF row order[i]
        raw, step = encode(w[order], qtype) if w.ndim == 2 else (w[order], np.zeros_like(w))
        writer.add_tensor(gguf_name(name), raw, raw_dtype=qtype if w.ndim == 2 else Q.F32)
        steps[name] = np.empty_like(step)
        steps[name][order] = step
    finish(writer)
    return weights, steps


def write_random_blocks_gguf(path: Path, arch: str, qtype: Q, seed: int = 0) -> dict[str, np.ndarray]:
    """A tiny model whose 2-D weights are random blocks of `qtype` (one of BLOCK_TYPES), norms and
    biases F32. Returns each tensor's bytes as stored, by GGUF name ([rows, row bytes] for blocks)."""
    rng = np.random.default_rng(seed)
    writer = _tiny_writer(path, arch, None, 10000.0)
    stored = {}
    for name, w in hf_weights(arch, seed).items():
        raw = random_blocks(*w.shape, qtype, rng) if w.ndim == 2 else w
        writer.add_tensor(gguf_name(name), raw, raw_dtype=qtype if w.ndim == 2 else Q.F32)
        stored[gguf_name(name)] = raw
    finish(writer)
    return stored


# --- HF tokenizer.json -> GGUF tokenizer metadata, as convert_hf_to_gguf.py does ------------------

def _looks_special(token: str) -> bool:
    """The part of the converter's does_token_look_special that these vocabularies meet."""
    return token.startswith("<|") and token.endswith("|>")


def _byte_level_vocab(hf: dict) -> tuple[list[str], list[int]]:
    """get_vocab_base: added tokens are control (special or looking special) or user-defined,
    ids nobody holds become [PADn]."""
    reverse = {i: token for token, i in hf["model"]["vocab"].items()}
    added = {t["id"]: t for t in hf["added_tokens"]}
    tokens, types = [], []
    for i in range(max(*reverse, *added) + 1):
        if i in added:
            tokens.append(added[i]["content"])
            special = added[i]["special"] or _looks_special(added[i]["content"])
            types.append(TokenType.CONTROL if special else TokenType.USER_DEFINED)
        elif i in reverse:
            tokens.append(reverse[i])
            types.append(TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
    return tokens, types


def _sentencepiece_vocab(hf: dict) -> tuple[list[str], list[float], list[int]]:
    """_create_vocab_sentencepiece, reading pieces from tokenizer.json instead of tokenizer.model.

    The score of a SentencePiece BPE piece is minus the rank of the merge that creates it; the
    merges in tokenizer.json were derived from those scores, so ranking pieces by their first
    merge gives them back. Pieces no merge creates (single characters, bytes, control) score 0.
    """
    vocab = hf["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    first_merge = {}
    for rank, merge in enumerate(hf["model"]["merges"]):
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        first_merge.setdefault(left + right, rank)
    control = {t["content"] for t in hf["added_tokens"] if t["special"]}

    def piece_type(token: str) -> int:
        if token == hf["model"]["unk_token"]:
            return TokenType.UNKNOWN
        if token in control:
            return TokenType.CONTROL
        is_byte = len(token) == 6 and token.startswith("<0x") and token.endswith(">")
        return TokenType.BYTE if is_byte else TokenType.NORMAL

    return tokens, [-float(first_merge.get(t, 0)) for t in tokens], [piece_type(t) for t in tokens]


def add_hf_tokenizer(writer: GGUFWriter, hf_dir: Path, pre: str) -> None:
    """Add the tokenizer of an HF folder (tokenizer.json + tokenizer_config.json) to a GGUF writer.
    Special ids, add_bos/add_eos, merges and the chat template come from gguf-py's own SpecialVocab."""
    hf = json.loads((hf_dir / "tokenizer.json").read_text(encoding="utf-8"))
    if hf["model"].get("byte_fallback"):
        tokens, scores, types = _sentencepiece_vocab(hf)
        writer.add_tokenizer_model("llama")
        writer.add_tokenizer_pre("default")
        writer.add_token_scores(scores)
        special = SpecialVocab(hf_dir, n_vocab=len(tokens))
    else:
        tokens, types = _byte_level_vocab(hf)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(pre)
        special = SpecialVocab(hf_dir, load_merges=True, n_vocab=len(tokens))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special.add_to_gguf(writer, quiet=True)


def write_tokenizer_gguf(path: Path, hf_dir: Path, pre: str) -> None:
    """A GGUF holding only the tokenizer of an HF folder (add_hf_tokenizer)."""
    writer = GGUFWriter(path, "llama")
    add_hf_tokenizer(writer, hf_dir, pre)
    finish(writer)


# --- HF checkpoints -> GGUF, as convert_hf_to_gguf.py converts Phi-3 and Gemma 3 (--outtype f32) ---
# Each metadata writer mirrors the converter's set_gguf_parameters (and generate_extra_tensors) for
# the class, on a config.json as transformers 4 saved it; it returns the extra tensors to write.

def _phi3_metadata(writer: GGUFWriter, config: dict) -> dict[str, np.ndarray]:
    """Phi3MiniModel: the fused attn_qkv / ffn_up as they are, the partial rotary dimensions as
    int(partial_rotary_factor * hidden) // heads, a null sliding window as 0, and for LongRoPE the
    factor tensors and the attention factor sqrt(1 + ln(s) / ln(original)), s = context / original."""
    scaling = config.get("rope_scaling") or {}
    n_embd, n_head, context = config["hidden_size"], config["num_attention_heads"], config["max_position_embeddings"]
    # TextModel.__init__ copies the top-level original_max_position_embeddings into the RoPE parameters
    original = scaling.get("original_max_position_embeddings", config.get("original_max_position_embeddings"))
    writer.add_context_length(context)
    writer.add_rope_scaling_orig_ctx_len(original)
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_dimension_count(int(config.get("partial_rotary_factor", 1.0) * n_embd) // n_head)
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_sliding_window(config.get("sliding_window") or 0)
    if not scaling.get("long_factor"):
        return {}
    scale = context / original
    writer.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1 else 1.0)
    return {"rope_factors_long.weight": np.array(scaling["long_factor"], np.float32),
            "rope_factors_short.weight": np.array(scaling["short_factor"], np.float32)}


def _gemma3_metadata(writer: GGUFWriter, config: dict) -> dict[str, np.ndarray]:
    """Gemma3Model (with TextModel's parameters it keeps): Gemma3TextConfig's defaults for what
    the config leaves out, the global layers' RoPE base and linear scaling, the sliding layers'
    base as rope.freq_base_swa; no layer pattern and no query_pre_attn_scalar."""
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config.get("max_position_embeddings", 131072))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config.get("num_attention_heads", 8))
    writer.add_head_count_kv(config.get("num_key_value_heads", 4))
    if (config.get("rope_scaling") or {}).get("rope_type") == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(config["rope_scaling"]["factor"])
    writer.add_rope_freq_base(config.get("rope_theta", 1_000_000.0))
    if config.get("rope_local_base_freq") is not None:
        writer.add_rope_freq_base_swa(config["rope_local_base_freq"])
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_key_length(config.get("head_dim", 256))
    writer.add_value_length(config.get("head_dim", 256))
    if config.get("final_logit_softcapping"):
        writer.add_final_logit_softcapping(config["final_logit_softcapping"])
    if config.get("sliding_window_pattern") != 1:
        writer.add_sliding_window(config["sliding_window"])
    return {}


# architectures[0] -> (GGUF architecture, metadata writer, value added to every "*norm.weight":
# Gemma3Model.norm_shift, as Gemma3RMSNorm computes x * (1 + w))
_CONVERTERS = {"Phi3ForCausalLM": (MODEL_ARCH.PHI3, _phi3_metadata, 0.0),
               "Gemma3ForCausalLM": (MODEL_ARCH.GEMMA3, _gemma3_metadata, 1.0)}


def _hf_tensors(folder: Path) -> dict[str, np.ndarray]:
    """Every tensor of an HF folder's safetensors files as float32 (the converter widens bf16 to
    float32 before modify_tensors)."""
    tensors = {}
    for file in sorted(folder.glob("*.safetensors")):
        tensors |= {name: t.float().numpy() for name, t in safetensors.torch.load_file(file).items()}
    return tensors


def convert_hf_to_gguf(folder: Path, path: Path) -> None:
    """Write the HF checkpoint in `folder` (a Phi3ForCausalLM or Gemma3ForCausalLM) as the GGUF
    file `path`, as llama.cpp's convert_hf_to_gguf.py --outtype f32 would: names from gguf-py's
    own tensor map, 1-D and 2-D tensors in F32, the class's metadata and extra tensors, the
    tokenizer as a GPT-2 byte-level BPE."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    arch, metadata, norm_shift = _CONVERTERS[config["architectures"][0]]
    names = get_tensor_name_map(arch, config["num_hidden_layers"])
    writer = GGUFWriter(path, MODEL_ARCH_NAMES[arch])
    tensors = metadata(writer, config)
    for name, data in _hf_tensors(folder).items():
        if name.endswith("norm.weight"):
            data = data + np.float32(norm_shift)
        if arch == MODEL_ARCH.GEMMA3 and name == "model.embed_tokens.weight":  # out-of-vocabulary rows dropped
            tokenizer = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
            data = data[:len(tokenizer["model"]["vocab"]) + len(tokenizer["added_tokens"])]
        tensors[names.get_name(name, try_suffixes=(".weight", ".bias"))] = data
    for name, data in tensors.items():
        writer.add_tensor(name, data, raw_dtype=Q.F32)
    add_hf_tokenizer(writer, folder, "gpt-2")
    finish(writer)
