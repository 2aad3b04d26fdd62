"""The numpy reference forward pass over a converted model: the oracle the WebGPU runtime is tested
against. Plain float32 numpy, one obvious step after another, no cleverness.

It reads the artifact exactly as the runtime will (manifest, shards, each weight scheme's decoding), so a test
that matches it checks the build and the runtime together.
"""

import math
from pathlib import Path

import numpy as np

from sitegen.arch import Architecture
from sitegen.manifest import read_manifest
from sitegen.quantize import dequantize
from sitegen.rope import attention_factor, inverse_frequencies

_NUMPY_DTYPES = {"u32": "<u4", "f16": "<f2", "f32": "<f4"}


def _read_part(model_dir: Path, shards: list, part: dict) -> np.ndarray:
    chunks = []
    for piece in part["pieces"]:
        with (model_dir / shards[piece["shard"]]["file"]).open("rb") as f:
            f.seek(piece["offset"])
            chunks.append(f.read(piece["bytes"]))
    return np.frombuffer(b"".join(chunks), dtype=_NUMPY_DTYPES[part["dtype"]]).reshape(part["shape"])


def load_weights(model_dir: Path, manifest: dict) -> dict[str, np.ndarray]:
    """Every tensor decoded to float32, by HF name."""
    weights = {}
    for name, record in manifest["tensors"].items():
        parts = {role: _read_part(model_dir, manifest["shards"], part) for role, part in record["parts"].items()}
        if "codes" in parts:  # q4g32, q8g32, q4g32m
            weights[name] = dequantize(record["scheme"], parts["codes"], parts["scales"])
        else:
            weights[name] = parts["data"].astype(np.float32)
    return weights


def runtime_weights(manifest: dict, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The manifest's runtime tensors (float32, by runtime name: "embed", "layers.0.qkv", ...) from
    the checkpoint tensors (by HF name): each stacks its tensors by rows, as the runtime loads them
    (a fused checkpoint tensor such as Phi-3's qkv_proj is the whole stack already)."""
    return {t["name"]: np.concatenate([weights[name] for name in t["tensors"]]) for t in manifest["runtime_tensors"]}


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """RMSNorm over the last axis (of any leading shape: rows, or rows x heads), times weight."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def apply_rope(x: np.ndarray, positions: np.ndarray, inv_freq: np.ndarray, factor: float = 1.0) -> np.ndarray:
    """x [T, heads, head_dim]; rotates pairs (i, i + R/2) of the first R = 2 len(inv_freq) dimensions
    as HF's rotate_half does, the rest passed through (partial rotary: transformers'
    modeling_phi3.py, apply_rotary_pos_emb); cos and sin times `factor` (LongRoPE's attention factor)."""
    angles = positions[:, None].astype(np.float32) * inv_freq[None, :]  # [T, R/2]
    cos, sin = np.cos(angles)[:, None, :] * factor, np.sin(angles)[:, None, :] * factor
    turned, passed = x[..., :2 * len(inv_freq)], x[..., 2 * len(inv_freq):]
    first, second = np.split(turned, 2, axis=-1)
    return np.concatenate([first * cos - second * sin, second * cos + first * sin, passed], axis=-1)


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """GELU's tanh approximation (PyTorch's gelu(approximate="tanh"), transformers' gelu_pytorch_tanh)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


# Architecture.hidden_activation -> the MLP's gate activation
ACTIVATIONS = {"silu": silu, "gelu_pytorch_tanh": gelu_tanh}


def soft_cap(x: np.ndarray, cap: float | None) -> np.ndarray:
    """cap * tanh(x / cap) (Gemma 2's attention and final logit soft-capping); x itself for None."""
    return x if cap is None else cap * np.tanh(x / cap)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class ReferenceModel:
    """A converted model run in numpy. context_length: the context the model is run with (the
    runtime's KV-cache length; default the model's): LongRoPE picks its speeds by it
    (sitegen/rope.py)."""

    def __init__(self, model_dir: Path, context_length: int | None = None):
        self.manifest = read_manifest(model_dir)
        self.arch = Architecture.from_manifest(self.manifest["architecture"])
        self.w = runtime_weights(self.manifest, load_weights(model_dir, self.manifest))
        a = self.arch
        context = context_length or a.context_length
        global_freq = inverse_frequencies(a.rotary_dim, a.rope_theta, a.rope_scaling, context).astype(np.float32)
        self.rope_factor = attention_factor(a.rope_scaling)
        # rope_local_base_freq: sliding layers turn at their own, unscaled base (Gemma 3)
        local_freq = (global_freq if a.rope_local_base_freq is None
                      else inverse_frequencies(a.rotary_dim, a.rope_local_base_freq, None).astype(np.float32))
        self.inv_freq = [local_freq if a.sliding(i) else global_freq for i in range(a.num_layers)]
        self.reset()

    def reset(self) -> None:
        """Forget the conversation: empty the key/value cache."""
        self.keys = [None] * self.arch.num_layers
        self.values = [None] * self.arch.num_layers
        self.length = 0

    def forward(self, tokens: list[int], every_position: bool = False) -> np.ndarray:
        """Run `tokens` after what is already cached; returns the logits of the last one (float32
        [vocab]), or with every_position those of each (float32 [len(tokens), vocab], for perplexity)."""
        a, w = self.arch, self.w
        heads, kv_heads, head_dim = a.num_heads, a.num_kv_heads, a.head_dim
        group = heads // kv_heads
        count = len(tokens)
        positions = np.arange(self.length, self.length + count)
        # embedding_multiplier: Gemma's √hidden (transformers' Gemma3TextScaledWordEmbedding)
        x = w["embed"][tokens] * np.float32(a.embedding_multiplier)  # [T, hidden]
        scale = (a.query_pre_attn_scalar or head_dim) ** -0.5  # a Python float keeps float32
        activation = ACTIVATIONS[a.hidden_activation]

        for i in range(a.num_layers):
            p = f"layers.{i}."
            # attention block
            h = rms_norm(x, w[p + "attn_norm"], a.rms_norm_eps)
            qkv = h @ w[p + "qkv"].T + w.get(p + "qkv_bias", 0)  # q, k, v side by side
            q, k, v = np.split(qkv, [a.q_size, a.q_size + a.kv_size], axis=-1)
            q = q.reshape(count, heads, head_dim)
            k, v = k.reshape(count, kv_heads, head_dim), v.reshape(count, kv_heads, head_dim)
            if a.qk_norm:  # RMSNorm over each head of q and k (transformers' modeling_qwen3.py, Qwen3Attention)
                q_gain, k_gain = np.split(w[p + "qk_norm"], 2)
                q, k = rms_norm(q, q_gain, a.rms_norm_eps), rms_norm(k, k_gain, a.rms_norm_eps)
            q = apply_rope(q, positions, self.inv_freq[i], self.rope_factor)
            k = apply_rope(k, positions, self.inv_freq[i], self.rope_factor)
            self.keys[i] = k if self.keys[i] is None else np.concatenate([self.keys[i], k])
            self.values[i] = v if self.values[i] is None else np.concatenate([self.values[i], v])
            keys = np.repeat(self.keys[i], group, axis=1)  # [S, heads, head_dim]: each KV head serves `group` heads
            values = np.repeat(self.values[i], group, axis=1)
            scores = np.einsum("thd,shd->hts", q, keys) * scale
            scores = soft_cap(scores, a.attn_logit_softcapping)
            # query t sees keys up to its position, and in a sliding layer only the last sliding_window of them
            offset = positions[:, None] - np.arange(len(keys))[None, :]
            hidden = (offset < 0) | (offset >= a.sliding_window if a.sliding(i) else False)
            scores = np.where(hidden[None], -np.inf, scores)
            attended = np.einsum("hts,shd->thd", softmax(scores), values).reshape(count, heads * head_dim)
            out = attended @ w[p + "o"].T
            # sandwich_norms: Gemma's post_attention_layernorm normalises the attention output, and
            # the MLP's own input norm follows (transformers' modeling_gemma3.py, Gemma3DecoderLayer)
            if a.sandwich_norms:
                out = rms_norm(out, w[p + "post_attn_norm"], a.rms_norm_eps)
            x = x + out
            # feed-forward block (SwiGLU, or GeGLU with hidden_activation gelu_pytorch_tanh)
            h = rms_norm(x, w[p + "ffn_norm"], a.rms_norm_eps)
            gate, up = np.split(h @ w[p + "gate_up"].T, 2, axis=-1)
            out = (activation(gate) * up) @ w[p + "down"].T
            if a.sandwich_norms:
                out = rms_norm(out, w[p + "post_ffn_norm"], a.rms_norm_eps)
            x = x + out

        self.length += count
        head = w["embed"] if a.tie_word_embeddings else w["lm_head"]
        if every_position:
            logits = rms_norm(x, w["final_norm"], a.rms_norm_eps) @ head.T
        else:
            logits = head @ rms_norm(x[-1], w["final_norm"], a.rms_norm_eps)
        return soft_cap(logits, a.final_logit_softcapping)


def sample(logits: np.ndarray, *, temperature: float, top_p: float, top_k: int, rng: np.random.Generator) -> int:
    """Greedy at temperature 0; otherwise top-k, then nucleus (top-p), then a draw from rng."""
    if temperature == 0:
        return int(np.argmax(logits))
    order = np.argsort(-logits, kind="stable")
    if top_k:
        order = order[:top_k]
    probs = softmax(logits[order].astype(np.float64) / temperature)
    # smallest prefix reaching top_p (the sum may fall a rounding error short of 1.0)
    keep = min(int(np.searchsorted(np.cumsum(probs), top_p)) + 1, len(probs))
    probs = probs[:keep] / probs[:keep].sum()
    return int(order[rng.choice(keep, p=probs)])
