"""The model families sitegen runs: the one place a family's names and tensors are written down.

Each `Family` says how a checkpoint names it (HF config.json `architectures` classes, GGUF
`general.architecture`), what llama.cpp changed in its GGUF files, and which tensors it has and
how the runtime stacks them into GPU tensors. Everything else derives from this table:
- `expected_tensors(arch)`: every tensor (HF name, shape) a checkpoint of that shape must hold,
  in the order the build writes them to the shards (the order of `runtime_tensors`);
- `runtime_tensors(arch)`: the manifest's `runtime_tensors` (sitegen/manifest.py), which the
  runtime loads as they are, in order;
- sitegen/arch.py's family lookup and sitegen/loaders/gguf.py's table of GGUF architectures.

Adding a family starts with one `Family` entry here; README.md ("Adding a model family") lists the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from sitegen.arch import Architecture


@dataclass(frozen=True)
class Stack:
    """One runtime (GPU) tensor: checkpoint tensors of one row width, stacked by rows in order.

    name: the runtime's name for it (per-layer stacks get the prefix "layers.{i}.").
    tensors: (HF name, rows) pairs; per-layer HF names are relative to "model.layers.{i}.".
      rows, like cols, names an `Architecture` attribute (a field or a property such as q_size).
      A checkpoint that stores the stack fused (Phi-3's qkv_proj, gate_up_proj) lists that one
      tensor, its rows the whole stack's (qkv_size): the runtime's tensor is the same either way.
    cols: the row width (the matmul's K), or None for 1-D tensors (norm weights, biases).
    split: the runtime may split it into row blocks, each within one storage binding (the
      vocabulary-sized embedding and LM head); everything else must fit one binding.
    when: whether a model of a given shape has this tensor (default: always).
    """

    name: str
    tensors: tuple[tuple[str, str], ...]
    cols: str | None = None
    split: bool = False
    when: Callable[[Architecture], bool] = lambda arch: True


@dataclass(frozen=True)
class Family:
    """A model family: its names in checkpoints and its tensors.

    name: our name, written into the manifest's `architecture.family`.
    hf_classes: config.json `architectures[0]` values that mean this family; the first is the
      one a GGUF file's config is given.
    gguf_name: the GGUF `general.architecture` value (llama.cpp's name for it).
    permuted_qk: llama.cpp's converter reordered the Q/K projection rows for its interleaved RoPE
      (convert_hf_to_gguf.py's `permute`): the GGUF loader undoes it.
    model: the whole-model stacks, in load order; layer: each layer's stacks, in load order.
    config_defaults: what this family's transformers config class assumes for config.json keys the
      file leaves out, where that differs from sitegen/arch.py's general defaults (Qwen2's q/k/v
      always have biases; Qwen3Config's head_dim is 128 whatever hidden_size / heads is).
    features: `Architecture` features every model of the family has and no config.json key states
      (sitegen/arch.py lists the features; kernels/limits.json says which values the runtime runs);
      a value may be a function of the config reader `get(key)` (Gemma's √hidden_size).
    gguf_names: llama.cpp's per-layer tensor names that mean another HF tensor in this family than
      in Llama's (sitegen/loaders/gguf.py's table, overridden).
    norm_offset: the model computes RMSNorm as x * (norm_offset + w) and its HF checkpoints store w
      (Gemma: transformers' modeling_gemma3.py, Gemma3RMSNorm, `1.0 + self.weight`): the HF loader
      adds it to every norm weight, so the manifest holds plain gains. llama.cpp's converter already
      added it to GGUF files (transformers' modeling_gguf_pytorch_utils.py, Gemma2TensorProcessor,
      takes it off again), so the GGUF loader leaves them.
    text_config: config.json nests the language model's config under `text_config` and its
      checkpoint prefixes the language model's tensors with one of these (Gemma 3's
      image-text-to-text checkpoints); every other tensor (the vision tower) is left out.
    """

    name: str
    hf_classes: tuple[str, ...]
    gguf_name: str
    permuted_qk: bool
    model: tuple[Stack, ...]
    layer: tuple[Stack, ...]
    config_defaults: dict = field(default_factory=dict)
    features: dict = field(default_factory=dict)
    gguf_names: dict = field(default_factory=dict)
    norm_offset: float = 0.0
    text_config: tuple[str, ...] = ()


# Llama, Qwen2, Qwen3 and Gemma 2/3 decoders (pre-norm, grouped-query attention, gated MLP): HF's LlamaModel naming.
_DECODER_MODEL = (
    Stack("embed", (("model.embed_tokens.weight", "vocab_size"),), cols="hidden_size", split=True),
    Stack("final_norm", (("model.norm.weight", "hidden_size"),)),
    Stack("lm_head", (("lm_head.weight", "vocab_size"),), cols="hidden_size", split=True,
          when=lambda arch: not arch.tie_word_embeddings),
)
_ATTN_NORM = Stack("attn_norm", (("input_layernorm.weight", "hidden_size"),))
_QKV = Stack("qkv", (("self_attn.q_proj.weight", "q_size"), ("self_attn.k_proj.weight", "kv_size"),
                     ("self_attn.v_proj.weight", "kv_size")), cols="hidden_size")
_QKV_BIAS = Stack("qkv_bias", (("self_attn.q_proj.bias", "q_size"), ("self_attn.k_proj.bias", "kv_size"),
                               ("self_attn.v_proj.bias", "kv_size")), when=lambda arch: arch.attention_bias)
# Qwen3's and Gemma 3's RMSNorm gains over each head of q and of k, one [head_dim] each
_QK_NORM = Stack("qk_norm", (("self_attn.q_norm.weight", "head_dim"), ("self_attn.k_norm.weight", "head_dim")),
                 when=lambda arch: arch.qk_norm)
_O = Stack("o", (("self_attn.o_proj.weight", "hidden_size"),), cols="q_size")
_GATE_UP = Stack("gate_up", (("mlp.gate_proj.weight", "ffn_size"), ("mlp.up_proj.weight", "ffn_size")),
                 cols="hidden_size")
# Phi-3's fused projections (transformers' modeling_phi3.py: qkv_proj's rows are q, k, v in turn,
# gate_up_proj's the gate's then up's, as the stacks above put them)
_FUSED_QKV = Stack("qkv", (("self_attn.qkv_proj.weight", "qkv_size"),), cols="hidden_size")
_FUSED_GATE_UP = Stack("gate_up", (("mlp.gate_up_proj.weight", "gate_up_size"),), cols="hidden_size")
_DOWN = Stack("down", (("mlp.down_proj.weight", "hidden_size"),), cols="ffn_size")
_FFN_NORM = Stack("ffn_norm", (("post_attention_layernorm.weight", "hidden_size"),))
_DECODER_LAYER = (_ATTN_NORM, _QKV, _QKV_BIAS, _QK_NORM, _O, _FFN_NORM, _GATE_UP, _DOWN)
# Gemma 2/3 (sandwich_norms): an RMSNorm after attention and after the MLP too, before each residual
# add; in these checkpoints post_attention_layernorm is the one after attention, and the MLP's input
# norm is pre_feedforward_layernorm (transformers' modeling_gemma3.py, Gemma3DecoderLayer).
_SANDWICH_LAYER = (_ATTN_NORM, _QKV, _QKV_BIAS, _QK_NORM, _O,
                   Stack("post_attn_norm", (("post_attention_layernorm.weight", "hidden_size"),)),
                   Stack("ffn_norm", (("pre_feedforward_layernorm.weight", "hidden_size"),)), _GATE_UP, _DOWN,
                   Stack("post_ffn_norm", (("post_feedforward_layernorm.weight", "hidden_size"),)))

# Gemma 2 and 3: sandwich norms, and embeddings scaled by transformers' embed_scale, hidden_size ** 0.5
# (Gemma3TextScaledWordEmbedding; Gemma2Model's `normalizer`); llama.cpp's names for the sandwich norms.
# Their residual stream outgrows f16 (Gemma 3 270M: |x ⊙ g| up to 3e5 on the France prompt, measured
# with the reference): f32_activations.
_GEMMA_FEATURES = {"sandwich_norms": True, "embedding_multiplier": lambda get: float(get("hidden_size")) ** 0.5,
                   "f32_activations": True}
_GEMMA_GGUF_NAMES = {"post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
                     "post_ffw_norm": "post_feedforward_layernorm"}

FAMILIES = (
    # Mistral is Llama-shaped; its sliding window is the `sliding_window` feature.
    Family("llama", hf_classes=("LlamaForCausalLM", "MistralForCausalLM"), gguf_name="llama", permuted_qk=True,
           model=_DECODER_MODEL, layer=_DECODER_LAYER),
    Family("qwen2", hf_classes=("Qwen2ForCausalLM",), gguf_name="qwen2", permuted_qk=False,
           model=_DECODER_MODEL, layer=_DECODER_LAYER,
           config_defaults={"attention_bias": True, "use_sliding_window": False}),
    # Qwen3 dense: Qwen2 without q/k/v biases, with an RMSNorm over each head of q and k before RoPE
    # (transformers' modeling_qwen3.py, Qwen3Attention); llama.cpp does not permute its Q/K rows.
    Family("qwen3", hf_classes=("Qwen3ForCausalLM",), gguf_name="qwen3", permuted_qk=False,
           model=_DECODER_MODEL, layer=_DECODER_LAYER,
           config_defaults={"attention_bias": False, "use_sliding_window": False, "head_dim": 128},
           features={"qk_norm": True}),
    # Phi-3/3.5-mini and Phi-4-mini (Phi3ForCausalLM): a Llama decoder whose checkpoints fuse q/k/v
    # and gate/up (llama.cpp's attn_qkv and ffn_up hold them fused too), with LongRoPE scaling and,
    # in Phi-4-mini, partial rotary (sitegen/rope.py)
    Family("phi3", hf_classes=("Phi3ForCausalLM",), gguf_name="phi3", permuted_qk=False,
           model=_DECODER_MODEL, layer=(_ATTN_NORM, _FUSED_QKV, _O, _FFN_NORM, _FUSED_GATE_UP, _DOWN),
           gguf_names={"attn_qkv": "self_attn.qkv_proj", "ffn_up": "mlp.gate_up_proj"},
           config_defaults={"original_max_position_embeddings": 4096}),  # as transformers' Phi3Config
    # Gemma 2 (transformers' modeling_gemma2.py): Gemma 3's decoder without q/k norms or a local
    # RoPE base, with soft-capped attention scores and final logits (eager attention). The defaults
    # are transformers' Gemma2Config's (configuration_gemma2.py): its layer_types make every other
    # layer sliding, from the first (the sliding_window_pattern 2 here); Hub configs give neither.
    Family("gemma2", hf_classes=("Gemma2ForCausalLM",), gguf_name="gemma2", permuted_qk=False,
           model=_DECODER_MODEL, layer=_SANDWICH_LAYER,
           config_defaults={"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216,
                            "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                            "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
                            "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
                            "rope_theta": 10000.0, "attention_bias": False, "query_pre_attn_scalar": 256,
                            "sliding_window": 4096, "sliding_window_pattern": 2,
                            "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0},
           features=_GEMMA_FEATURES, gguf_names=_GEMMA_GGUF_NAMES, norm_offset=1.0),
    # Gemma 3 text (Gemma3ForCausalLM; the language model of Gemma3ForConditionalGeneration). The
    # defaults are transformers' Gemma3TextConfig's (configuration_gemma3.py): its configs on the
    # Hub leave many keys out, and a GGUF holds neither the layer pattern nor, before converters
    # wrote rope.freq_base_swa, the local RoPE base (llama.cpp assumes these same values: every 6th
    # layer global, base 10000); its query_pre_attn_scalar the GGUF loader derives as llama.cpp does.
    Family("gemma3", hf_classes=("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"), gguf_name="gemma3",
           permuted_qk=False, model=_DECODER_MODEL, layer=_SANDWICH_LAYER,
           config_defaults={"vocab_size": 262208, "hidden_size": 2304, "intermediate_size": 9216,
                            "num_hidden_layers": 26, "num_attention_heads": 8, "num_key_value_heads": 4,
                            "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
                            "max_position_embeddings": 131072, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
                            "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "attention_bias": False,
                            "query_pre_attn_scalar": 256, "sliding_window": 4096, "sliding_window_pattern": 6},
           features={**_GEMMA_FEATURES, "qk_norm": True}, gguf_names=_GEMMA_GGUF_NAMES,
           norm_offset=1.0, text_config=("model.language_model.", "language_model.model.")),
)


def family(name: str) -> Family:
    """The family called `name` (an `Architecture.family`); KeyError for an unknown one."""
    return {f.name: f for f in FAMILIES}[name]


def _stacks(arch: Architecture):
    """(runtime name, HF name prefix, Stack) of every stack a model of this shape has, in load order."""
    fam = family(arch.family)
    for stack in fam.model:
        if stack.when(arch):
            yield stack.name, "", stack
    for i in range(arch.num_layers):
        for stack in fam.layer:
            if stack.when(arch):
                yield f"layers.{i}.{stack.name}", f"model.layers.{i}.", stack


def runtime_tensors(arch: Architecture) -> list[dict]:
    """The manifest's `runtime_tensors`: [{"name", "tensors": [HF names stacked by rows], "split"}],
    in load order (whole-model tensors, then layer by layer)."""
    return [{"name": name, "tensors": [prefix + hf for hf, _ in stack.tensors], "split": stack.split}
            for name, prefix, stack in _stacks(arch)]


def expected_tensors(arch: Architecture) -> list[tuple[str, tuple[int, ...]]]:
    """Every checkpoint tensor (HF name, HF shape [rows] or [rows, cols]) in shard write order:
    the runtime tensors' order, each one's stacked tensors in turn."""
    def shape(rows: str, cols: str | None) -> tuple[int, ...]:
        return (getattr(arch, rows),) if cols is None else (getattr(arch, rows), getattr(arch, cols))
    return [(prefix + hf, shape(rows, stack.cols)) for _, prefix, stack in _stacks(arch) for hf, rows in stack.tensors]
