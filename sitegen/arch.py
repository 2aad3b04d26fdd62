"""Which model architectures sitegen runs: an HF config.json reduced to one typed description.

`architecture(config)` checks that an HF config.json dict describes a model of a family sitegen
runs (sitegen/families.py), read as HF transformers reads it, and returns its `Architecture`: the
description the manifest carries, which the runtime, the reference forward pass and the site read
back. Whether the runtime's kernels can run that shape is sitegen/limits.py's check;
`check_tensors` checks that a checkpoint holds the tensors the family's table expects.
"""

import dataclasses
from dataclasses import dataclass

from sitegen.errors import SitegenError
from sitegen.families import FAMILIES, expected_tensors

# HF `architectures[0]` -> its family, from the family table.
SUPPORTED = {hf_class: fam for fam in FAMILIES for hf_class in fam.hf_classes}
ROPE_TYPES = ("default", "linear", "llama3")
IGNORED_TENSORS = ("rotary_emb.inv_freq",)  # recomputed from rope_theta; old checkpoints store it


@dataclass(frozen=True)
class Architecture:
    """A model's shape, as the manifest's `architecture` object holds it (sitegen/manifest.py).

    Field names and meanings follow HF transformers' configs (num_heads is num_attention_heads,
    num_layers num_hidden_layers, ffn_size intermediate_size, context_length
    max_position_embeddings). Sizes are element counts; rope_theta is the RoPE base.
    rope_scaling: None, {"type": "linear", "factor"} or {"type": "llama3", "factor",
      "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"} (sitegen/rope.py).
    tie_word_embeddings: no lm_head tensor; the LM head reads the embedding.
    attention_bias: the q/k/v projections have biases.
    """

    family: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    ffn_size: int
    vocab_size: int
    rope_theta: float
    rope_scaling: dict | None
    rms_norm_eps: float
    tie_word_embeddings: bool
    context_length: int
    attention_bias: bool

    @property
    def q_size(self) -> int:
        """Rows of the Q projection (and the output projection's K): num_heads * head_dim."""
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        """Rows of each of the K and V projections: num_kv_heads * head_dim."""
        return self.num_kv_heads * self.head_dim

    def to_manifest(self) -> dict:
        """The manifest's `architecture` object (JSON types, fields in declaration order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_manifest(cls, data: dict) -> "Architecture":
        """Read back a manifest's `architecture` object (our own build's: every field present)."""
        return cls(**data)


def _rope_scaling(config: dict) -> dict | None:
    scaling = config.get("rope_scaling")
    if not scaling:
        return None
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise SitegenError(f"rope_scaling type {kind!r} is not supported; supported: {', '.join(ROPE_TYPES)}.")
    if kind == "default":
        return None
    keys = {"linear": ("factor",),
            "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}[kind]
    missing = [k for k in keys if k not in scaling]
    if missing:
        raise SitegenError(f"rope_scaling of type {kind} lacks {', '.join(missing)} in config.json.")
    return {"type": kind, **{k: scaling[k] for k in keys}}


def _sliding_window_check(config: dict, context: int) -> None:
    window = config.get("sliding_window")
    in_use = config.get("use_sliding_window", config.get("model_type") == "mistral")
    if window and in_use and window < context:
        raise SitegenError(f"This model uses sliding-window attention (window {window} < context {context}), "
                           "which sitegen does not run. Use a release without it (e.g. Mistral v0.2+).")


def architecture(config: dict) -> Architecture:
    """The Architecture of an HF config.json dict.

    Raises SitegenError (one line) for a family sitegen does not run, a missing key, a size that is
    not a whole number >= 1, or a feature the runtime lacks (MLP biases, other activations than
    SiLU, sliding-window attention, other RoPE scalings). The kernels' size limits are checked
    separately (sitegen/limits.py).
    """
    names = config.get("architectures") or []
    fam = SUPPORTED.get(names[0]) if names else None
    if fam is None:
        found = names[0] if names else config.get("model_type", "none given")
        raise SitegenError(f"Unsupported architecture {found}; supported: {', '.join(SUPPORTED)}.")
    def size(key: str, default=None) -> int:
        value = default if config.get(key) is None else config[key]  # null: the default, as transformers reads it
        if value is None:
            raise SitegenError(f"config.json lacks {key!r}, which a {fam.name} model needs.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SitegenError(f"config.json's {key} is {value!r}; it must be a whole number >= 1.")
        return value

    def number(key: str, default=None) -> float:
        value = config.get(key, default)
        if value is None:
            raise SitegenError(f"config.json lacks {key!r}, which a {fam.name} model needs.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise SitegenError(f"config.json's {key} is {value!r}; it must be a number > 0.")
        return float(value)

    hidden, heads = size("hidden_size"), size("num_attention_heads")
    arch = Architecture(
        family=fam.name,
        hidden_size=hidden,
        num_layers=size("num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=size("num_key_value_heads", heads),
        head_dim=size("head_dim", hidden // heads),
        ffn_size=size("intermediate_size"),
        vocab_size=size("vocab_size"),
        rope_theta=number("rope_theta", 10000.0),
        rope_scaling=_rope_scaling(config),
        rms_norm_eps=number("rms_norm_eps"),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        context_length=size("max_position_embeddings"),
        attention_bias=bool(config.get("attention_bias", fam.attention_bias)),
    )
    if arch.num_heads % arch.num_kv_heads:
        raise SitegenError(f"{arch.num_heads} attention heads do not divide into {arch.num_kv_heads} KV heads.")
    if config.get("mlp_bias"):
        raise SitegenError("MLP biases (mlp_bias: true) are not supported.")
    if config.get("hidden_act", "silu") != "silu":
        raise SitegenError(f"activation {config['hidden_act']!r} is not supported; sitegen runs SiLU (SwiGLU) MLPs.")
    _sliding_window_check(config, arch.context_length)
    return arch


def check_tensors(arch: Architecture, available: dict) -> list[tuple[str, tuple[int, ...]]]:
    """The expected tensors (sitegen/families.py, in shard write order), after checking the
    checkpoint has each with the right shape; SitegenError listing up to 10 problems if not."""
    expected = expected_tensors(arch)
    problems = [f"{name} is missing" for name, _ in expected if name not in available]
    problems += [f"{name} has shape {list(available[name].shape)}, expected {list(shape)}"
                 for name, shape in expected if name in available and tuple(available[name].shape) != shape]
    known = {name for name, _ in expected} | ({"lm_head.weight"} if arch.tie_word_embeddings else set())
    extra = [n for n in available if n not in known and not n.endswith(IGNORED_TENSORS)]
    problems += [f"{name} is not part of a {arch.family} model" for name in extra[:5]]
    if problems:
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise SitegenError(f"The checkpoint does not match its config.json: {'; '.join(problems[:10])}{more}. "
                           "Check that the weights and config.json come from the same model.")
    return expected
