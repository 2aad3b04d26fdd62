"""benchmarks/synthetic_model.py: valid format-2 manifests of random weights, made with nothing but
the standard library, numpy and sitegen (as on a GPU machine without sitegen's dependencies)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sitegen.arch import Architecture
from sitegen.families import expected_tensors, runtime_tensors
from sitegen.limits import check_limits
from sitegen.manifest import FORMAT_VERSION

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "synthetic_model.py"
BYTES = {"u32": 4, "f16": 2, "f32": 4}


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """Runs the script in an isolated Python (-I -S: no site-packages, no PYTHON* variables) that
    sees numpy alone, the way a GPU machine's python3 without sitegen's dependencies would."""
    site = tmp_path_factory.mktemp("numpy-only")
    numpy_dir = Path(np.__file__).parent
    for package in (numpy_dir, numpy_dir.with_name("numpy.libs")):
        if package.exists():
            (site / package.name).symlink_to(package)
    launcher = (f"import runpy, sys; sys.path.append({str(site)!r}); sys.argv[0] = {str(SCRIPT)!r}; "
                f"runpy.run_path(sys.argv[0], run_name='__main__')")

    def run(*args: str) -> str:
        result = subprocess.run([sys.executable, "-I", "-S", "-c", launcher, *args], capture_output=True, text=True,
                                cwd=ROOT)
        assert result.returncode == 0, result.stderr
        return result.stdout
    return run


def test_list_names_the_shapes(bare_python):
    assert bare_python("--list").split() == ["Llama-3.2-1B", "Llama-3.2-3B", "Qwen2-0.5B", "Qwen2-1.5B", "Qwen2-7B",
                                             "Qwen3-1.7B", "Qwen3-8B", "Gemma-3-1B", "Gemma-3-4B", "Phi-3.5-mini"]


@pytest.mark.parametrize("shape", ["Llama-3.2-1B", "Llama-3.2-3B", "Qwen2-0.5B", "Qwen2-1.5B", "Qwen2-7B",
                                   "Qwen3-1.7B", "Qwen3-8B", "Phi-3.5-mini"])
def test_each_shape_is_a_valid_manifest(bare_python, shape):
    manifest = json.loads(bare_python(shape))
    assert manifest["format_version"] == FORMAT_VERSION and manifest["model_id"] == shape
    arch = Architecture.from_manifest(manifest["architecture"])
    check_limits(arch)
    assert manifest["runtime_tensors"] == runtime_tensors(arch)
    assert [(name, tuple(t["shape"])) for name, t in manifest["tensors"].items()] == expected_tensors(arch)
    used = []
    for name, tensor in manifest["tensors"].items():
        if len(tensor["shape"]) == 2:
            n, k = tensor["shape"]
            assert tensor["scheme"] == "q4g32"
            assert {role: p["shape"] for role, p in tensor["parts"].items()} == {"codes": [n, k // 8], "scales": [n, k // 32]}
        else:
            assert tensor["scheme"] == "f32" and tensor["parts"]["data"]["shape"] == tensor["shape"]
        for part in tensor["parts"].values():
            (piece,) = part["pieces"]
            shard = manifest["shards"][piece["shard"]]
            size = math.prod(part["shape"]) * BYTES[part["dtype"]]
            assert piece["offset"] == 0 and piece["bytes"] == shard["bytes"] == size
            assert shard["file"] == f"synthetic-{piece['shard']}" and shard["sha256"] is None
            expected_fill = {"u32": "codes", "f16": "scales"}.get(part["dtype"]) or (
                "zeros" if name.endswith(".bias") else "ones")
            assert shard["fill"] == expected_fill
            used.append(piece["shard"])
    assert sorted(used) == list(range(len(manifest["shards"])))  # each shard holds exactly one part
    assert manifest["total_bytes"] == sum(s["bytes"] for s in manifest["shards"])
    if shape == "Qwen2-7B":
        assert not arch.tie_word_embeddings and arch.attention_bias and arch.vocab_size == 152064
    if shape.startswith("Qwen3"):  # q/k norms, no biases, head_dim 128 from the config
        assert arch.qk_norm and not arch.attention_bias and arch.head_dim == 128
        assert manifest["runtime_tensors"][-5]["name"] == f"layers.{arch.num_layers - 1}.qk_norm"
    if shape == "Phi-3.5-mini":  # a head of 96, not a power of two; LongRoPE's 48 factors a list
        assert arch.head_dim == 96 and arch.num_kv_heads == 32 and len(arch.rope_scaling["long_factor"]) == 48
