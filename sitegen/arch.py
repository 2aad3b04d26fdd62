"""Which model architectures sitegen runs, and what their checkpoints must contain.

`architecture(config)` validates an HF config.json dict and reduces it to the fields the runtime
and the reference forward pass use; `expected_tensors(arch)` lists every tensor (HF name and
shape) a checkpoint of that shape must provide, in the order they are written to the shards.
"""

from sitegen.errors import SitegenError

# HF `architectures[0]` -> our family name. Mistral is Llama-shaped once sliding window is off.
SUPPORTED = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
ROPE_TYPES = ("default", "linear", "llama3")
IGNORED_TENSORS = ("rotary_emb.inv_freq",)  # recomputed from rope_theta; old checkpoints store it


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


def architecture(config: dict) -> dict:
    names = config.get("architectures") or []
    family = SUPPORTED.get(names[0]) if names else None
    if family is None:
        found = names[0] if names else config.get("model_type", "none given")
        raise SitegenError(f"Unsupported architecture {found}; supported: {', '.join(SUPPORTED)}.")
    try:
        hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
        arch = {
            "arch": family,
            "hidden_size": hidden,
            "num_layers": int(config["num_hidden_layers"]),
            "num_heads": heads,
            "num_kv_heads": int(config.get("num_key_value_heads") or heads),
            "head_dim": int(config.get("head_dim") or hidden // heads),
            "ffn_size": int(config["intermediate_size"]),
            "vocab_size": int(config["vocab_size"]),
            "rope_theta": float(config.get("rope_theta", 10000.0)),
            "rope_scaling": _rope_scaling(config),
            "rms_norm_eps": float(config["rms_norm_eps"]),
            "tie_word_embeddings": bool(config.get("tie_word_embeddings", False)),
            "context_length": int(config["max_position_embeddings"]),
            "attention_bias": bool(config.get("attention_bias", family == "qwen2")),
        }
    except KeyError as err:
        raise SitegenError(f"config.json lacks {err.args[0]!r}, which a {family} model needs.") from None
    if arch["num_heads"] % arch["num_kv_heads"]:
        raise SitegenError(f"{arch['num_heads']} attention heads do not divide into {arch['num_kv_heads']} KV heads.")
    if config.get("mlp_bias"):
        raise SitegenError("MLP biases (mlp_bias: true) are not supported.")
    if config.get("hidden_act", "silu") != "silu":
        raise SitegenError(f"activation {config['hidden_act']!r} is not supported; sitegen runs SiLU (SwiGLU) MLPs.")
    _sliding_window_check(config, arch["context_length"])
    return arch


def expected_tensors(arch: dict) -> list[tuple[str, tuple[int, ...]]]:
    h, f, v = arch["hidden_size"], arch["ffn_size"], arch["vocab_size"]
    q, kv = arch["num_heads"] * arch["head_dim"], arch["num_kv_heads"] * arch["head_dim"]
    tensors = [("model.embed_tokens.weight", (v, h))]
    for i in range(arch["num_layers"]):
        p = f"model.layers.{i}."
        tensors.append((p + "input_layernorm.weight", (h,)))
        for proj, rows in (("q_proj", q), ("k_proj", kv), ("v_proj", kv)):
            tensors.append((f"{p}self_attn.{proj}.weight", (rows, h)))
            if arch["attention_bias"]:
                tensors.append((f"{p}self_attn.{proj}.bias", (rows,)))
        tensors += [(p + "self_attn.o_proj.weight", (h, q)),
                    (p + "post_attention_layernorm.weight", (h,)),
                    (p + "mlp.gate_proj.weight", (f, h)),
                    (p + "mlp.up_proj.weight", (f, h)),
                    (p + "mlp.down_proj.weight", (h, f))]
    tensors.append(("model.norm.weight", (h,)))
    if not arch["tie_word_embeddings"]:
        tensors.append(("lm_head.weight", (v, h)))
    return tensors


def check_tensors(arch: dict, available: dict) -> list[tuple[str, tuple[int, ...]]]:
    """The expected tensors, after checking the checkpoint has each with the right shape."""
    expected = expected_tensors(arch)
    problems = [f"{name} is missing" for name, _ in expected if name not in available]
    problems += [f"{name} has shape {list(available[name].shape)}, expected {list(shape)}"
                 for name, shape in expected if name in available and tuple(available[name].shape) != shape]
    known = {name for name, _ in expected} | ({"lm_head.weight"} if arch["tie_word_embeddings"] else set())
    extra = [n for n in available if n not in known and not n.endswith(IGNORED_TENSORS)]
    problems += [f"{name} is not part of a {arch['arch']} model" for name in extra[:5]]
    if problems:
        raise SitegenError("The checkpoint does not match its config.json:\n  " + "\n  ".join(problems[:10]))
    return expected
