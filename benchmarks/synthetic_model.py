"""A manifest of random weights for a real model's shape: benchmark the runtime without the model.

    python3 benchmarks/synthetic_model.py SHAPE     the manifest (JSON) on stdout
    python3 benchmarks/synthetic_model.py --list    the shape names, one per line

Each shape is the model's HF config.json, run through sitegen's architecture() and limits check
like a build; its tensors and how they stack come from the family table (sitegen/families.py).
It prints a format-2 manifest's model keys (format to total_bytes; no tokenizer, chat format,
stop tokens or generation defaults). Every 2-D tensor is q4g32 (codes u32 [N, K/8], scales f16
[N, K/32]), every 1-D one f32; each part lies alone at offset 0 of its own shard, which exists
nowhere: {"file": "synthetic-<n>", "bytes", "sha256": null, "fill"} tells the reader
(benchmarks/bench_model.js, for runtime_bench.js and engine_bench.js) what to make up: "codes"
(random 4-bit codes), "scales" (small f16 scales), "ones" (norm weights) or "zeros" (biases).

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
# microsoft/Phi-3.5-mini-instruct's config.json: 32 heads of 96 (not a power of two), LongRoPE
_PHI3_5_MINI = dict(
    architectures=["Phi3ForCausalLM"], model_type="phi3", vocab_size=32064, hidden_size=3072, num_hidden_layers=32,
    num_attention_heads=32, num_key_value_heads=32, intermediate_size=8192, rope_theta=10000.0, rms_norm_eps=1e-5,
    hidden_act="silu", tie_word_embeddings=False, max_position_embeddings=131072,
    original_max_position_embeddings=4096, sliding_window=262144,
    rope_scaling={"type": "longrope", "long_factor": [
        1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601, 1.5899999141693115,
        1.600000023841858, 1.6200000047683716, 2.620000123977661, 3.2300000190734863, 3.2300000190734863,
        4.789999961853027, 7.400000095367432, 7.700000286102295, 9.09000015258789, 12.199999809265137,
        17.670000076293945, 24.46000099182129, 28.57000160217285, 30.420001983642578, 30.840002059936523,
        32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992, 50.340003967285156,
        50.45000457763672, 57.55000305175781, 57.93000411987305, 58.21000289916992, 60.1400032043457,
        62.61000442504883, 62.62000274658203, 62.71000289916992, 63.1400032043457, 63.1400032043457,
        63.77000427246094, 63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688,
        64.06999969482422, 64.08000183105469, 64.12000274658203, 64.41000366210938, 64.4800033569336,
        64.51000213623047, 64.52999877929688, 64.83999633789062], "short_factor": [
        1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842, 1.0499999523162842,
        1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0699999332427979, 1.0999999046325684,
        1.1099998950958252, 1.1599998474121094, 1.1599998474121094, 1.1699998378753662, 1.2899998426437378,
        1.339999794960022, 1.679999828338623, 1.7899998426437378, 1.8199998140335083, 1.8499997854232788,
        1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745, 2.0199997425079346,
        2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
        2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
        2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0799996852874756,
        2.0899996757507324, 2.189999580383301, 2.2199995517730713, 2.5899994373321533, 2.729999542236328,
        2.749999523162842, 2.8399994373321533]})
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
    "Phi-3.5-mini": _PHI3_5_MINI,
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
