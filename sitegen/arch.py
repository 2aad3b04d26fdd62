"""Which model architectures sitegen runs: an HF config.json reduced to one typed description.

`architecture(config)` checks that an HF config.json dict describes a model of a family sitegen
runs (sitegen/families.py), read as HF transformers reads it, and returns its `Architecture`: the
description the manifest carries, which the runtime, the reference forward pass and the site read
back. Whether the runtime's kernels can run that shape is sitegen/limits.py's check;
`check_tensors` checks that a checkpoint holds the tensors the family's table expects.
"""

import dataclasses
import json
from dataclasses import dataclass

from sitegen.errors import SitegenError
from sitegen.families import FAMILIES, expected_tensors
from sitegen.rope import longrope_attention_factor

# HF `architectures[0]` -> its family, from the family table.
SUPPORTED = {hf_class: fam for fam in FAMILIES for hf_class in fam.hf_classes}
ROPE_TYPES = ("default", "linear", "llama3", "longrope", "su")  # "su": Phi-3's first name for longrope
LAYER_TYPES = ("sliding_attention", "full_attention")  # transformers' layer_types values sitegen runs
IGNORED_TENSORS = ("rotary_emb.inv_freq",)  # recomputed from rope_theta; old checkpoints store it


@dataclass(frozen=True)
class Architecture:
    """A model's shape and features, as the manifest's `architecture` object holds it
    (sitegen/manifest.py).

    Field names and meanings follow HF transformers' configs (num_heads is num_attention_heads,
    num_layers num_hidden_layers, ffn_size intermediate_size, context_length
    max_position_embeddings). Sizes are element counts; rope_theta is the RoPE base.
    rope_scaling: None, {"type": "linear", "factor"}, {"type": "llama3", "factor",
      "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"} or {"type":
      "longrope", "short_factor", "long_factor", "original_max_position_embeddings",
      "attention_factor"} (Phi-3; sitegen/rope.py).
    tie_word_embeddings: no lm_head tensor; the LM head reads the embedding.
    attention_bias: the q/k/v projections have biases.

    The fields with defaults are the *features*: what a family computes beyond the Llama decoder
    block, named as transformers' configs name them where a config key exists. Each default means
    "off" (the Llama computation); a family turns one on by config.json or by its `features` in
    sitegen/families.py. Which values the runtime runs is kernels/limits.json's "features" list,
    read by the build (sitegen/limits.py refuses any other value, naming the feature) and the
    runtime alike. The reference forward pass (sitegen/reference.py) and the runtime's
    (runtime/webgpu/model.js) each compute a feature in one place.
    qk_norm: RMSNorm over each head of q and of k (gains [head_dim], eps rms_norm_eps) before RoPE
      (Qwen3, Gemma 3). Runs.
    hidden_activation: the MLP's gate activation: "silu" (SwiGLU; runs) or "gelu_pytorch_tanh"
      (Gemma's GeGLU). config.json's hidden_activation, else hidden_act.
    embedding_multiplier: the embedding rows are multiplied by this before the first layer (Gemma:
      √hidden_size); the tied LM head reads the unscaled table.
    sandwich_norms: RMSNorms after attention and after the MLP too, before each residual add
      (Gemma 2/3: post_attention_layernorm, pre/post_feedforward_layernorm).
    query_pre_attn_scalar: attention scores are scaled by query_pre_attn_scalar ** -0.5 instead of
      head_dim ** -0.5 (Gemma 2/3); None: head_dim.
    attn_logit_softcapping, final_logit_softcapping: scores s become c * tanh(s / c) before the
      softmax, and logits before sampling (Gemma 2); None: off.
    sliding_window: layers of type "sliding_attention" attend to the last sliding_window positions
      only, their own included (Mistral v0.1, Gemma 2/3; transformers' sliding_window_overlay:
      key > query - sliding_window); None: no window, or one at least as long as the context.
    layer_types: per layer "sliding_attention" or "full_attention" (transformers' layer_types, else
      built from Gemma's sliding_window_pattern as Gemma3TextConfig does: every pattern-th layer
      full); None: every layer alike (all sliding where sliding_window is set, else all full).
    rope_local_base_freq: the RoPE base of sliding layers (Gemma 3), which rope_scaling leaves
      unscaled (Gemma3TextConfig applies rope_scaling to full_attention only); None: rope_theta
      everywhere.
    partial_rotary_factor: RoPE turns the first partial_rotary_factor * head_dim dimensions of each
      head and leaves the rest (Phi-4-mini: 0.75).
    f32_activations: the runtime keeps activations and the KV cache in float32 even where the GPU
      has shader-f16: the model's residual stream outgrows f16's range (65504), and the f16 path
      stores x ⊙ g unnormalised (kernels/in_norm.wgsl). Gemma 2/3: Gemma 3 270M's reaches 3e5.
    Gemma's RMSNorm computes x * (1 + w): that offset is no feature here. It belongs in the weights:
    the conversion writes 1 + w, so the manifest holds plain gains (llama.cpp's converter already
    adds the 1 to Gemma GGUFs' norms: a GGUF source must not add it again).
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
    qk_norm: bool = False
    hidden_activation: str = "silu"
    embedding_multiplier: float = 1.0
    sandwich_norms: bool = False
    query_pre_attn_scalar: float | None = None
    attn_logit_softcapping: float | None = None
    final_logit_softcapping: float | None = None
    sliding_window: int | None = None
    layer_types: tuple[str, ...] | None = None
    rope_local_base_freq: float | None = None
    partial_rotary_factor: float = 1.0
    f32_activations: bool = False

    def sliding(self, layer: int) -> bool:
        """Whether layer `layer` (0-based) attends through the sliding window."""
        if self.sliding_window is None:
            return False
        return self.layer_types is None or self.layer_types[layer] == "sliding_attention"

    @property
    def q_size(self) -> int:
        """Rows of the Q projection (and the output projection's K): num_heads * head_dim."""
        return self.num_heads * self.head_dim

    @property
    def kv_size(self) -> int:
        """Rows of each of the K and V projections: num_kv_heads * head_dim."""
        return self.num_kv_heads * self.head_dim

    @property
    def qkv_size(self) -> int:
        """Rows of the fused QKV projection (Phi-3's qkv_proj): q_size + 2 kv_size."""
        return self.q_size + 2 * self.kv_size

    @property
    def gate_up_size(self) -> int:
        """Rows of the fused gate/up projection (Phi-3's gate_up_proj): 2 ffn_size."""
        return 2 * self.ffn_size

    @property
    def rotary_dim(self) -> int:
        """The dimensions of each head RoPE turns, the first ones: head_dim * partial_rotary_factor,
        rounded down as transformers' modeling_rope_utils.py does."""
        return int(self.head_dim * self.partial_rotary_factor)

    def to_manifest(self) -> dict:
        """The manifest's `architecture` object (JSON types, fields in declaration order)."""
        data = dataclasses.asdict(self)
        return dict(data, layer_types=list(self.layer_types) if self.layer_types else None)

    @classmethod
    def from_manifest(cls, data: dict) -> "Architecture":
        """Read back a manifest's `architecture` object (our own build's: every field present)."""
        return cls(**dict(data, layer_types=tuple(data["layer_types"]) if data.get("layer_types") else None))


# The features: the Architecture fields with defaults, each default meaning "off".
FEATURES = tuple(f.name for f in dataclasses.fields(Architecture) if f.default is not dataclasses.MISSING)


def _rope_scaling(config: dict, head_dim: int, partial_rotary_factor: float) -> dict | None:
    scaling = config.get("rope_scaling")
    if not scaling:
        return None
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise SitegenError(f"rope_scaling type {kind!r} is not supported; supported: {', '.join(ROPE_TYPES)}.")
    if kind == "default":
        return None
    if kind in ("longrope", "su"):
        return _longrope(config, scaling, int(head_dim * partial_rotary_factor))
    keys = {"linear": ("factor",),
            "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")}[kind]
    missing = [k for k in keys if k not in scaling]
    if missing:
        raise SitegenError(f"rope_scaling of type {kind} lacks {', '.join(missing)} in config.json.")
    return {"type": kind, **{k: scaling[k] for k in keys}}


def _longrope(config: dict, scaling: dict, rotary_dim: int) -> dict:
    """Phi-3's LongRoPE as transformers' _compute_longrope_parameters (modeling_rope_utils.py) reads
    it: the pretrained context is config.json's original_max_position_embeddings (transformers
    gives Phi3Config's attribute priority over rope_scaling's), else rope_scaling's, else the
    context itself; the cos/sin attention factor, unless given, sitegen/rope.py's
    longrope_attention_factor of the stretch max_position_embeddings / original."""
    missing = [k for k in ("short_factor", "long_factor") if k not in scaling]
    if missing:
        raise SitegenError(f"rope_scaling of type longrope lacks {', '.join(missing)} in config.json.")
    for key in ("short_factor", "long_factor"):
        if len(scaling[key]) != rotary_dim // 2:
            raise SitegenError(f"rope_scaling's {key} has {len(scaling[key])} values; the model turns "
                               f"{rotary_dim // 2} pairs per head.")
    context = config.get("max_position_embeddings")
    original = config.get("original_max_position_embeddings") or scaling.get("original_max_position_embeddings")
    factor = context / original if original and context else scaling.get("factor", 1.0)
    original = original or context
    attention = scaling.get("attention_factor") or longrope_attention_factor(factor, original)
    return {"type": "longrope", "short_factor": [float(f) for f in scaling["short_factor"]],
            "long_factor": [float(f) for f in scaling["long_factor"]],
            "original_max_position_embeddings": original, "attention_factor": attention}


def _first(*values):
    """The first value that is not None (None if all are)."""
    return next((value for value in values if value is not None), None)


def legacy_rope_keys(config: dict) -> dict:
    """`config` with its RoPE under the keys transformers 4 saved: rope_theta, rope_scaling (the
    scaling parameters, rope_type among them; None for plain RoPE), rope_local_base_freq (Gemma 3's
    sliding layers) and partial_rotary_factor; what `architecture` reads.

    transformers 5 saves one `rope_parameters` dict instead (modeling_rope_utils.py,
    RotaryEmbeddingConfigMixin): flat, {"rope_type", "rope_theta", "factor", ...,
    "partial_rotary_factor", "original_max_position_embeddings"}, or nested by layer type,
    {"full_attention": {...}, "sliding_attention": {...}} (Gemma3TextConfig: the global layers'
    base and scaling, the sliding layers' base). Read as its convert_rope_params_to_dict and
    standardize_rope_params read a config: an old `rope_scaling` wins over `rope_parameters`, a
    value inside the dict over the top-level rope_theta / partial_rotary_factor. A config without
    either dict, or a key neither sets, is returned as it is (the family's defaults then apply).
    Raises SitegenError for a rope_parameters / rope_scaling that is not a dict, or one that scales
    the sliding layers' RoPE (sitegen turns them at rope_local_base_freq, unscaled, as Gemma 3 does).
    """
    key = "rope_scaling" if config.get("rope_scaling") else "rope_parameters"
    params = config.get(key)
    if not params:
        return config
    if not isinstance(params, dict):
        raise SitegenError(f"config.json's {key} is {params!r}; it must be an object of RoPE parameters.")
    nested = any(isinstance(params.get(kind), dict) for kind in LAYER_TYPES)
    full = (params.get("full_attention") or {}) if nested else params
    sliding = (params.get("sliding_attention") or {}) if nested else {}
    sliding_kind = sliding.get("rope_type", sliding.get("type", "default"))
    if sliding_kind != "default":
        raise SitegenError(f"config.json's rope_parameters scale the sliding_attention layers' RoPE ({sliding_kind}); "
                           "sitegen runs those layers unscaled.")
    found = {"rope_theta": _first(full.get("rope_theta"), config.get("rope_theta")),
             "rope_local_base_freq": _first(sliding.get("rope_theta"), config.get("rope_local_base_freq")),
             "partial_rotary_factor": _first(full.get("partial_rotary_factor"), config.get("partial_rotary_factor"))}
    scaling = {key: value for key, value in full.items() if key not in ("rope_theta", "partial_rotary_factor")}
    return {**config, "rope_scaling": scaling or None,
            **{key: value for key, value in found.items() if value is not None}}


def architecture_classes(config: dict) -> list[str]:
    """config.json's `architectures`: the model's class names, first the one sitegen reads ([] for
    none or null). transformers keeps a lone string as it is and then reads it as a list, its first
    letter as the class (`config.architectures[0]`): a string is refused here, as is a list of
    anything but names, with the fix."""
    names = config.get("architectures") or []
    if isinstance(names, str):
        raise SitegenError(f"config.json's architectures is the string {names!r}; it must be a list of class names, "
                           f'as transformers writes it: "architectures": {json.dumps([names])}. Fix config.json, or '
                           "download it again.")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise SitegenError(f"config.json's architectures is {json.dumps(names)}; it must be a list of class names such "
                           f'as ["LlamaForCausalLM"]. Fix config.json, or download it again.')
    return names


def config_family(config: dict):
    """The sitegen/families.py family of config.json's first architecture class (the one
    transformers builds), or None where sitegen has none or the config names no class. Raises what
    architecture_classes raises."""
    names = architecture_classes(config)
    return SUPPORTED.get(names[0]) if names else None


def architecture(config: dict) -> Architecture:
    """The Architecture of an HF config.json dict.

    A key the file leaves out (or sets to null) takes the family's default (`config_defaults` in
    sitegen/families.py), else transformers' usual one. Where the family nests its language model's
    config under `text_config` (Gemma3ForConditionalGeneration), that is the config read. RoPE is
    read from transformers 4's keys or transformers 5's `rope_parameters` alike (`legacy_rope_keys`).
    Raises SitegenError (one line) for a family
    sitegen does not run, a missing key, a size that is not a whole number >= 1, MLP biases or a
    RoPE scaling type sitegen lacks. Whether the runtime runs the shape and the features is
    sitegen/limits.py's check.
    """
    names = architecture_classes(config)
    fam = config_family(config)
    if fam is None:
        found = names[0] if names else config.get("model_type", "none given")
        raise SitegenError(f"Unsupported architecture {found}; supported: {', '.join(SUPPORTED)}.")
    if fam.text_config and isinstance(config.get("text_config"), dict):
        config = dict(config["text_config"], architectures=names)
    config = legacy_rope_keys(config)

    def get(key: str, default=None):
        value = config.get(key)  # null: the default, as transformers reads it
        return fam.config_defaults.get(key, default) if value is None else value

    def size(key: str, default=None) -> int:
        value = get(key, default)
        if value is None:
            raise SitegenError(f"config.json lacks {key!r}, which a {fam.name} model needs.")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SitegenError(f"config.json's {key} is {value!r}; it must be a whole number >= 1.")
        return value

    def number(key: str, default=None) -> float:
        value = get(key, default)
        if value is None:
            raise SitegenError(f"config.json lacks {key!r}, which a {fam.name} model needs.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise SitegenError(f"config.json's {key} is {value!r}; it must be a number > 0.")
        return float(value)

    def optional(key: str) -> float | None:
        # a feature's number: None (off) when config.json sets it null, as transformers' config
        # classes take it (Gemma2Config(final_logit_softcapping=None)), or when the file and the
        # family's defaults both leave it out
        value = config[key] if key in config else fam.config_defaults.get(key)
        return None if value is None else number(key)

    hidden, heads = size("hidden_size"), size("num_attention_heads")
    context = size("max_position_embeddings")
    # transformers' Qwen configs ignore sliding_window unless use_sliding_window; a window as long
    # as the context limits nothing, unless its layers differ otherwise (Gemma 3's sliding layers
    # keep their own RoPE base whatever the window)
    window = size("sliding_window") if get("sliding_window") is not None and get("use_sliding_window", True) else None
    if window is not None and window >= context and optional("rope_local_base_freq") is None:
        window = None
    layers = size("num_hidden_layers")
    head_dim, partial_rotary_factor = size("head_dim", hidden // heads), number("partial_rotary_factor", 1.0)
    rotary_dim = head_dim * partial_rotary_factor
    if rotary_dim != int(rotary_dim) or int(rotary_dim) % 2:
        raise SitegenError(f"config.json's partial_rotary_factor {partial_rotary_factor} of head_dim {head_dim} gives "
                           f"{rotary_dim:g} rotary dimensions; RoPE turns pairs, so it must be an even whole number.")
    layer_types = get("layer_types")
    unknown = sorted(set(layer_types or ()) - set(LAYER_TYPES))
    if unknown:
        raise SitegenError(f"config.json's layer_types has {', '.join(map(repr, unknown))}, which sitegen does not run; "
                           f"it runs {' and '.join(LAYER_TYPES)}.")
    if layer_types is None and get("sliding_window_pattern") is not None:  # as Gemma3TextConfig.__post_init__
        pattern = size("sliding_window_pattern")
        layer_types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    if window is None:  # no layer has a window: every layer alike
        layer_types = None
    elif layer_types is not None and len(layer_types) != layers:
        raise SitegenError(f"config.json's layer_types lists {len(layer_types)} layers; the model has {layers}.")
    sliding_layers = window is not None and (layer_types is None or "sliding_attention" in layer_types)
    arch = Architecture(
        family=fam.name,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=size("num_key_value_heads", heads),
        head_dim=head_dim,
        ffn_size=size("intermediate_size"),
        vocab_size=size("vocab_size"),
        rope_theta=number("rope_theta", 10000.0),
        # the family's defaults where the file is silent (Phi3Config: original_max_position_embeddings 4096)
        rope_scaling=_rope_scaling({**fam.config_defaults, **{k: v for k, v in config.items() if v is not None}},
                                   head_dim, partial_rotary_factor),
        rms_norm_eps=number("rms_norm_eps"),
        tie_word_embeddings=bool(get("tie_word_embeddings", False)),
        context_length=context,
        attention_bias=bool(get("attention_bias", False)),
        hidden_activation=str(get("hidden_activation") or get("hidden_act", "silu")),
        query_pre_attn_scalar=optional("query_pre_attn_scalar"),
        attn_logit_softcapping=optional("attn_logit_softcapping"),
        final_logit_softcapping=optional("final_logit_softcapping"),
        sliding_window=window,
        layer_types=tuple(layer_types) if layer_types else None,
        rope_local_base_freq=optional("rope_local_base_freq") if sliding_layers else None,
        partial_rotary_factor=partial_rotary_factor,
        **{name: value(get) if callable(value) else value for name, value in fam.features.items()},
    )
    if arch.num_heads % arch.num_kv_heads:
        raise SitegenError(f"{arch.num_heads} attention heads do not divide into {arch.num_kv_heads} KV heads.")
    if get("mlp_bias"):
        raise SitegenError("MLP biases (mlp_bias: true) are not supported.")
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
