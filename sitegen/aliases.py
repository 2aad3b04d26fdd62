"""The model alias table (`models.yml`, data) and the facts `sitegen models` shows about it."""

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from sitegen.chat_sampling import check_published

Q4G32_BITS_PER_WEIGHT = 4 + 16 / 32  # 4-bit code plus one f16 scale per group of 32


@dataclass(frozen=True)
class Alias:
    name: str
    repo: str
    params_billion: float
    license: str
    gated: bool
    demo_package: str | None = None
    demo_file: str | None = None
    chat_sampling: dict | None = None  # {temperature, top_p} its authors publish (chat_sampling.py)

    def site_bytes_estimate(self) -> float:
        return self.params_billion * 1e9 * Q4G32_BITS_PER_WEIGHT / 8

    def demo_gguf(self) -> Path | None:
        """The GGUF shipped in this alias's PyPI demo package, if that package is installed.

        The package is located without importing it: its __init__ imports the `llm` CLI, which
        sitegen neither needs nor installs.
        """
        if not self.demo_package:
            return None
        spec = importlib.util.find_spec(self.demo_package.replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]) / self.demo_file
        return path if path.is_file() else None


@cache
def aliases() -> dict[str, Alias]:
    table = yaml.safe_load((Path(__file__).parent / "models.yml").read_text(encoding="utf-8"))
    for name, fields in table.items():
        if "chat_sampling" in fields:
            fields["chat_sampling"] = check_published(fields["chat_sampling"], f"models.yml {name}")
    return {name: Alias(name=name, **fields) for name, fields in table.items()}
