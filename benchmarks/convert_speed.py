"""Benchmark: convert a synthetic Llama-3.2-1B-shaped bf16 checkpoint; print input MB/s and peak RSS.

    python benchmarks/convert_speed.py [--workdir DIR] [--quant q4g32]

Writes the checkpoint (2.5 GB of random bf16, streamed to disk) into DIR, then times
`sitegen build` on it in a child process and reads the child's peak RSS from the kernel.
Goal (issue 2): >= 150 MB/s of bf16 input; peak RSS < 1.5 x the largest tensor + 300 MB.
"""

import argparse
import json
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.tiny_models import CHATML_TEMPLATE, SPECIALS, train_tokenizer  # noqa: E402

LLAMA_3_2_1B = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=2048,
                    num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                    intermediate_size=8192, vocab_size=128256, rope_theta=500000.0, rms_norm_eps=1e-5,
                    max_position_embeddings=131072, tie_word_embeddings=True, hidden_act="silu",
                    rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})


def tensor_shapes(c: dict) -> dict[str, tuple[int, ...]]:
    h, f, v, hd = c["hidden_size"], c["intermediate_size"], c["vocab_size"], c["head_dim"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
                       p + "self_attn.q_proj.weight": (q, h), p + "self_attn.k_proj.weight": (kv, h),
                       p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, q),
                       p + "mlp.gate_proj.weight": (f, h), p + "mlp.up_proj.weight": (f, h),
                       p + "mlp.down_proj.weight": (h, f)})
    return shapes


def write_bf16_safetensors(path: Path, shapes: dict, seed: int = 0) -> int:
    """Stream random bf16 tensors into a safetensors file without holding them in memory."""
    rng, offset, header = np.random.default_rng(seed), 0, {}
    for name, shape in shapes.items():
        size = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for shape in shapes.values():
            count = int(np.prod(shape))
            for start in range(0, count, 1 << 24):
                n = min(1 << 24, count - start)
                f.write((rng.standard_normal(n, dtype=np.float32) * 0.02).view(np.uint32).__rshift__(16)
                        .astype(np.uint16).tobytes())
    return offset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("bench-out"))
    parser.add_argument("--quant", default="q4g32")
    args = parser.parse_args()
    model = args.workdir / "llama-3.2-1b-shaped"
    model.mkdir(parents=True, exist_ok=True)
    if not (model / "model.safetensors").is_file():  # kept between runs: it takes a minute to write
        print("writing the synthetic checkpoint ...", flush=True)
        write_bf16_safetensors(model / "model.safetensors", tensor_shapes(LLAMA_3_2_1B))
    train_tokenizer(SPECIALS["qwen2"]).save(str(model / "tokenizer.json"))
    (model / "config.json").write_text(json.dumps(LLAMA_3_2_1B))
    (model / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|im_end|>", "chat_template": CHATML_TEMPLATE}))
    shapes = tensor_shapes(LLAMA_3_2_1B)
    input_bytes = sum(int(np.prod(s)) * 2 for s in shapes.values())
    largest = max(int(np.prod(s)) * 2 for s in shapes.values())
    site = args.workdir / "site"
    shutil.rmtree(site, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sitegen", "build", "--model", str(model), "--out", str(site),
                    "--quant", args.quant], check=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    budget = 1.5 * largest + 300e6
    print(f"input {input_bytes / 1e6:.0f} MB bf16 in {seconds:.1f} s: {input_bytes / 1e6 / seconds:.0f} MB/s "
          f"(goal >= 150)")
    print(f"peak RSS {peak / 1e6:.0f} MB; largest tensor {largest / 1e6:.0f} MB; budget 1.5 x largest + 300 MB "
          f"= {budget / 1e6:.0f} MB ({'within' if peak < budget else 'OVER'})")


if __name__ == "__main__":
    main()
