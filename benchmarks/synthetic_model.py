"""A manifest of random weights for a real model's shape: benchmark the runtime without the model.

    python3 benchmarks/synthetic_model.py SHAPE     the manifest (JSON) on stdout
    python3 benchmarks/synthetic_model.py --list    the shape names, one per line

Each shape is the model's HF config.json, run through sitegen's architecture() and limits check
like a build; its tensors and how they stack come from the family table (sitegen/families.py).
It prints a format-2 manifest's model keys (format to total_bytes; no tokenizer, chat format,
stop tokens or generation defaults). Every 2-D tensor is q4g32 (codes u32 [N, K/8], scales f16
[N, K/32]), every 1-D one f32; each part lies alone at offset 0 of its own shard, which exists
nowhere: {"file": "synthetic-<n>", "bytes", "sha256": null, "fill"} tells the reader
(benchmarks/runtime_bench.js) what to make up: "codes" (random 4-bit codes), "scales" (small f16
scales), "ones" (norm weights) or "zeros" (biases).

GPU machines have numpy but not sitegen's other dependencies: this imports only the standard
library, numpy and sitegen modules that do the same (tests/test_synthetic_model.py checks).
"""

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sitegen import manifest as manifest_schema  # noqa: E402
from sitegen.arch import architecture  # noqa: E402
from sitegen.families import expected_tensors, runtime_tensors  # noqa: E402
from sitegen.limits import check_limits  # noqa: E402
from sitegen.quantize import GROUP  # noqa: E402

_LLAMA_3_2 = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=128256, rope_theta=500000.0,
                  rms_norm_eps=1e-5, tie_word_embeddings=True, max_position_embeddings=131072, hidden_act="silu",
                  rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192})
_QWEN2 = dict(architectures=["Qwen2ForCausalLM"], model_type="qwen2", vocab_size=151936, rope_theta=1000000.0,
              rms_norm_eps=1e-6, tie_word_embeddings=True, max_position_embeddings=32768, hidden_act="silu",
              use_sliding_window=False)
_QWEN3 = dict(architectures=["Qwen3ForCausalLM"], model_type="qwen3", vocab_size=151936, rope_theta=1000000.0,
              rms_norm_eps=1e-6, max_position_embeddings=40960, hidden_act="silu", attention_bias=False,
              use_sliding_window=False, sliding_window=None, head_dim=128, num_key_value_heads=8)
# Gemma 3 text: what Gemma3TextConfig's defaults (sitegen/families.py) leave to each model's config.json
_GEMMA3 = dict(architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", head_dim=256, query_pre_attn_scalar=256,
               rope_theta=1000000.0, rope_local_base_freq=10000.0, sliding_window_pattern=6, rms_norm_eps=1e-6,
               hidden_activation="gelu_pytorch_tanh", tie_word_embeddings=True)
# name -> the model's config.json (the keys sitegen reads)
SHAPES = {
    "Llama-3.2-1B": dict(_LLAMA_3_2, hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                         num_key_value_heads=8, head_dim=64, intermediate_size=8192),
    "Llama-3.2-3B": dict(_LLAMA_3_2, hidden_size=3072, num_hidden_layers=28, num_attention_heads=24,
                         num_key_value_heads=8, head_dim=128, intermediate_size=8192),
    "Qwen2-0.5B": dict(_QWEN2, hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                       intermediate_size=4864),
    "Qwen2-1.5B": dict(_QWEN2, hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                       intermediate_size=8960),
    "Qwen2-7B": dict(_QWEN2, hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                     intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False),
    # Qwen3: head_dim 128 whatever hidden_size / heads is (16 heads x 128 = 2048 here, 32 x 128 = 4096 for 8B)
    "Qwen3-1.7B": dict(_QWEN3, hidden_size=2048, num_hidden_layers=28, num_attention_heads=16, intermediate_size=6144,
                       tie_word_embeddings=True),
    "Qwen3-8B": dict(_QWEN3, hidden_size=4096, num_hidden_layers=36, num_attention_heads=32, intermediate_size=12288,
                     tie_word_embeddings=False),
    # google/gemma-3-1b-it's config.json; Gemma-3-4B: google/gemma-3-4b-it's text_config (linear RoPE
    # scaling of 8 on the global layers), its 262208-row vocabulary Gemma3TextConfig's default
    "Gemma-3-1B": dict(_GEMMA3, hidden_size=1152, num_hidden_layers=26, num_attention_heads=4, num_key_value_heads=1,
                       intermediate_size=6912, vocab_size=262144, sliding_window=512, max_position_embeddings=32768),
    "Gemma-3-4B": dict(_GEMMA3, hidden_size=2560, num_hidden_layers=34, num_attention_heads=8, num_key_value_heads=4,
                       intermediate_size=10240, vocab_size=262208, sliding_window=1024, max_position_embeddings=131072,
                       rope_scaling={"rope_type": "linear", "factor": 8.0}),
}
_ELEMENT_BYTES = {"u32": 4, "f16": 2, "f32": 4}


def synthetic_manifest(name: str) -> dict:
    """The manifest of SHAPES[name] (KeyError for an unknown name); SitegenError if sitegen would
    refuse to build that shape."""
    arch = architecture(SHAPES[name])
    check_limits(arch)
    shards, tensors = [], {}

    def part(dtype: str, shape: list[int], fill: str) -> dict:
        size = math.prod(shape) * _ELEMENT_BYTES[dtype]
        shards.append({"file": f"synthetic-{len(shards)}", "bytes": size, "sha256": None, "fill": fill})
        return {"dtype": dtype, "shape": shape, "pieces": [{"shard": len(shards) - 1, "offset": 0, "bytes": size}]}

    for tensor, shape in expected_tensors(arch):
        if len(shape) == 2:
            n, k = shape
            tensors[tensor] = {"shape": [n, k], "scheme": "q4g32", "parts": {
                "codes": part("u32", [n, k // 8], "codes"), "scales": part("f16", [n, k // GROUP], "scales")}}
        else:
            fill = "zeros" if tensor.endswith(".bias") else "ones"
            tensors[tensor] = {"shape": list(shape), "scheme": "f32", "parts": {"data": part("f32", list(shape), fill)}}
    return {
        "format": manifest_schema.FORMAT,
        "format_version": manifest_schema.FORMAT_VERSION,
        "model_id": name,
        "source": f"synthetic {name}",
        "license": None,
        "architecture": arch.to_manifest(),
        "quantization": manifest_schema.QUANTIZATION["q4g32"],
        "tensors": tensors,
        "runtime_tensors": runtime_tensors(arch),
        "shards": shards,
        "total_bytes": sum(shard["bytes"] for shard in shards),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", nargs="?", choices=list(SHAPES), help="the model shape")
    parser.add_argument("--list", action="store_true", help="print the shape names, one per line")
    args = parser.parse_args()
    if args.list:
        print("\n".join(SHAPES))
    elif args.shape:
        print(json.dumps(synthetic_manifest(args.shape)))
    else:
        parser.error("give a SHAPE or --list")


if __name__ == "__main__":
    main()
