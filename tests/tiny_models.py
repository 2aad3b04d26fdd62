"""Tiny random-weight Hugging Face checkpoints (Llama with llama3 RoPE scaling, Qwen2 with biases,
Qwen3 with q/k norms and head_dim apart from hidden / heads, Phi-3.5/Phi-4-mini shapes with
fused projections, LongRoPE, partial rotary and a head size that is not a power of two, Gemma 2 with soft-caps, Gemma 3 with
sliding and global layers, and one at each end of the runtime's limits), written as real
safetensors + config + tokenizer files, for tests that need a whole model. Their tensors are those the family table plans."""

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from sitegen.arch import SUPPORTED, architecture
from sitegen.families import expected_tensors

CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome.",
    "def add(a, b):\n    return a + b\n",
    "Numbers 0123456789, prices 3.14 and 42; emoji 🙂 and accents café naïve.",
    "Hello! How can I help you today? I am a small test model.",
] * 20

LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}"
    "{% set messages = messages[1:] %}{% else %}{% set system = 'You are a tiny test model.' %}{% endif %}"
    "{{ '<|start_header_id|>system<|end_header_id|>\n\n' + system + '<|eot_id|>' }}"
    "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\n'"
    " + message['content'] + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
PHI3_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}")

_LLAMA = dict(architectures=["LlamaForCausalLM"], model_type="llama", rms_norm_eps=1e-5, hidden_act="silu")
_QWEN2 = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", rms_norm_eps=1e-6, hidden_act="silu",
              use_sliding_window=False, sliding_window=128)
_QWEN3 = dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", rms_norm_eps=1e-6, hidden_act="silu",
              attention_bias=False, use_sliding_window=False, sliding_window=None, max_window_layers=2)
_PHI3 = dict(architectures=["Phi3ForCausalLM"], model_type="phi3", rms_norm_eps=1e-5, hidden_act="silu",
             bos_token_id=None, eos_token_id=0, pad_token_id=0,  # Phi3Config's 32000 is past the tiny vocabulary
             sliding_window=None)
_GEMMA2 = dict(architectures=["Gemma2ForCausalLM"], model_type="gemma2", rms_norm_eps=1e-6,
               hidden_activation="gelu_pytorch_tanh", attention_bias=False)
_GEMMA3 = dict(architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", rms_norm_eps=1e-6,
               hidden_activation="gelu_pytorch_tanh", attention_bias=False)
# HF config.json of each tiny model, without vocab_size (the trained tokenizer's).
SHAPES = {
    "llama": dict(_LLAMA, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                  intermediate_size=128, rope_theta=500000.0, max_position_embeddings=256, tie_word_embeddings=False,
                  rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
    "qwen2": dict(_QWEN2, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  intermediate_size=96, rope_theta=1000000.0, max_position_embeddings=256, tie_word_embeddings=True),
    # 4 heads of 32 = 128 != hidden_size 64: q/k norms over 32 values per head
    "qwen3": dict(_QWEN3, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  head_dim=32, intermediate_size=96, rope_theta=1000000.0, max_position_embeddings=256,
                  tie_word_embeddings=True),
    # Sliding layers (window 8, RoPE base 10000) and every 2nd layer global (base 1e6), from the
    # pattern as older Gemma 3 configs give it; scores scaled by 24 ** -0.5, not head_dim's
    "gemma3": dict(_GEMMA3, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                   head_dim=32, intermediate_size=96, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                   sliding_window=8, sliding_window_pattern=2, query_pre_attn_scalar=24,
                   max_position_embeddings=256, tie_word_embeddings=True),
    # Phi-3.5-mini's shape: fused qkv_proj and gate_up_proj, LongRoPE past an original context of
    # 64 (the runtime's KV cache of 256, its whole context, takes the long factors; attention factor sqrt(1 + ln 4 / ln 64))
    "phi3": dict(_PHI3, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                 intermediate_size=96, rope_theta=10000.0, max_position_embeddings=256,
                 original_max_position_embeddings=64, tie_word_embeddings=False,
                 rope_scaling={"type": "longrope", "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.0, 3.5],
                               "long_factor": [1.0, 1.5, 2.5, 4.0, 6.0, 9.0, 12.0, 16.0]}),
    # Phi-4-mini's: partial rotary (24 of each head's 32 dimensions turned), grouped KV heads, tied
    # embeddings, LongRoPE whose short factors the runtime's KV cache of 512 (the original context) takes
    "phi4-mini": dict(_PHI3, hidden_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      intermediate_size=96, rope_theta=10000.0, max_position_embeddings=1024,
                      original_max_position_embeddings=512, partial_rotary_factor=0.75, tie_word_embeddings=True,
                      rope_scaling={"type": "longrope", "short_factor": [1.0, 1.2, 1.4, 1.7, 2.0, 2.4, 2.8, 3.3,
                                                                          3.8, 4.4, 5.0, 5.7],
                                    "long_factor": [1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 17.0, 23.0, 30.0, 38.0,
                                                    47.0, 57.0]}),
    # Phi-3.5-mini's head size, not a power of two (its 96 = 3072 / 32; 24 = 96 / 4 here, keeping
    # hidden_size and heads * head_dim multiples of 32), all of it turned (full rotary, LongRoPE's
    # long factors as in "phi3"), with grouped KV heads (Phi-3.5 has none: the kernels' KV mapping)
    "phi3-head24": dict(_PHI3, hidden_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        intermediate_size=128, rope_theta=10000.0, max_position_embeddings=256,
                        original_max_position_embeddings=64, tie_word_embeddings=False,
                        rope_scaling={"type": "longrope",
                                      "short_factor": [1.0, 1.1, 1.2, 1.3, 1.5, 1.7, 2.0, 2.3, 2.6, 3.0, 3.4, 3.8],
                                      "long_factor": [1.0, 1.4, 2.0, 2.8, 4.0, 5.5, 7.0, 9.0, 11.0, 13.0, 15.0, 16.0]}),
    # Gemma 2: soft-caps that bite (scores reach about ±10, logits ±20), window 8 on every other
    # layer from the first as Gemma2Config's default layer_types have it (no layer_types here, as
    # Hub configs give none), one RoPE base
    "gemma2": dict(_GEMMA2, hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                   head_dim=32, intermediate_size=96, rope_theta=10000.0, sliding_window=8,
                   query_pre_attn_scalar=24, attn_logit_softcapping=10.0, final_logit_softcapping=15.0,
                   max_position_embeddings=256, tie_word_embeddings=True),
    # At the low end of kernels/limits.json: head_dim 16 and every width 32 (and linear RoPE scaling).
    "limit-low": dict(_LLAMA, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                      intermediate_size=32, rope_theta=10000.0, max_position_embeddings=256, tie_word_embeddings=True,
                      rope_scaling={"type": "linear", "factor": 2.0}),
    # At the high end: head_dim 256 (num_heads * head_dim 512 != hidden_size 96), an untied LM head with biases.
    "limit-high": dict(_QWEN2, hidden_size=96, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                       head_dim=256, intermediate_size=160, rope_theta=1000000.0, max_position_embeddings=256,
                       tie_word_embeddings=False),
}
SPECIALS = {"llama": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
            "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            "qwen3": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
            "phi3": ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
            "gemma2": ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"],
            "gemma3": ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"]}
# family -> (bos token, end-of-turn token, whether to add bos, chat template)
CHAT = {"llama": ("<|begin_of_text|>", "<|eot_id|>", True, LLAMA3_TEMPLATE),
        "qwen2": (None, "<|im_end|>", False, CHATML_TEMPLATE),
        "qwen3": (None, "<|im_end|>", False, CHATML_TEMPLATE),
        "phi3": (None, "<|end|>", False, PHI3_TEMPLATE),
        "gemma2": ("<bos>", "<end_of_turn>", True, GEMMA_TEMPLATE),
        "gemma3": ("<bos>", "<end_of_turn>", True, GEMMA_TEMPLATE)}


def train_tokenizer(specials: list[str], vocab_size: int = 384) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(CORPUS, trainer)
    return tokenizer


def random_weights(config: dict, seed: int) -> dict[str, np.ndarray]:
    """float32 weights for every tensor the config's family plan expects (sitegen/families.py):
    embedding ~ N(0, 1) once scaled by its embedding_multiplier (else the scaled embedding swamps
    every layer's normalised output, and a tied head repeats the last token), matrices ~ N(0, 9 / K),
    norm weights ~ 1 + N(0, 0.01), biases ~ N(0, 0.01)."""
    rng = np.random.default_rng(seed)
    weights = {}
    arch = architecture(config)
    for name, shape in expected_tensors(arch):
        if name == "model.embed_tokens.weight":
            weights[name] = rng.standard_normal(shape) / arch.embedding_multiplier
        elif len(shape) == 2:
            weights[name] = rng.standard_normal(shape) * (3 / np.sqrt(shape[1]))
        elif name.endswith(".bias"):
            weights[name] = 0.1 * rng.standard_normal(shape)
        else:
            weights[name] = 1 + 0.1 * rng.standard_normal(shape)
    return {name: w.astype(np.float32) for name, w in weights.items()}


def write_tiny_model(folder: Path, shape: str, *, dtype=np.float32, shards: int = 1, seed: int = 0,
                     **config) -> dict:
    """Write a complete HF model folder of SHAPES[shape], config.json keys overridden by `config`
    (a shape the build must refuse, say); returns the float32 weights as written (after dtype rounding)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(SHAPES[shape], **config)
    family = SUPPORTED[config["architectures"][0]].name
    specials = SPECIALS[family]
    tokenizer = train_tokenizer(specials)
    config["vocab_size"] = tokenizer.get_vocab_size()
    weights = {name: t.astype(dtype) for name, t in random_weights(config, seed).items()}
    names = sorted(weights)
    if shards == 1:
        save_file(weights, str(folder / "model.safetensors"))
    else:
        weight_map = {}
        for s, chunk in enumerate(np.array_split(np.array(names), shards)):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            save_file({n: weights[n] for n in chunk}, str(folder / file))
            weight_map.update({n: file for n in chunk})
        index = {"metadata": {"total_size": sum(t.nbytes for t in weights.values())}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    tokenizer.save(str(folder / "tokenizer.json"))
    bos, eos, add_bos, template = CHAT[family]
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": bos, "eos_token": eos, "add_bos_token": add_bos, "chat_template": template}))
    (folder / "generation_config.json").write_text(json.dumps(
        {"eos_token_id": tokenizer.token_to_id(eos), "temperature": 0.6, "top_p": 0.9}))
    (folder / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# Tiny {shape}\n\nRandom weights for tests.\n")
    return {name: t.astype(np.float32) for name, t in weights.items()}
