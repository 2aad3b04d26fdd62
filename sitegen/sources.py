"""Turn what the user passed to `--model` into a loaded checkpoint.

A model is named by an alias (`sitegen models`), a Hub repo id (`org/name`, optionally
`@revision`), a local Hugging Face folder, or a `.gguf` file, tried in that order.
"""

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from sitegen import hub
from sitegen.aliases import aliases
from sitegen.checkpoint import Checkpoint
from sitegen.errors import SitegenError

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "gguf" | "folder" | "hub"
    location: str  # file or folder path, or repo id
    revision: str | None
    model_id: str  # the folder name under site/models/
    chat_sampling: dict | None = None  # an alias's published {temperature, top_p} (chat_sampling.py)

    def load(self) -> Checkpoint:
        if self.kind == "gguf":
            from sitegen.loaders.gguf import load_gguf
            return load_gguf(Path(self.location))
        from sitegen.loaders.hf_folder import load_hf_folder
        if self.kind == "folder":
            return load_hf_folder(Path(self.location))
        at = f"@{self.revision}" if self.revision else ""
        return load_hf_folder(hub.download(self.location, self.revision), source=self.location + at)

    def public_name(self) -> str:
        """How the site names its source: never a local path (the site is public)."""
        if self.kind == "hub":
            return self.location + (f"@{self.revision}" if self.revision else "")
        return Path(self.location).name


def _model_id(name: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.") or "model"


def resolve(spec: str) -> ModelSource:
    table = aliases()
    if spec in table:
        alias = table[spec]
        demo = alias.demo_gguf()
        if demo is not None:
            return ModelSource("gguf", str(demo), None, alias.name, alias.chat_sampling)
        return ModelSource("hub", alias.repo, None, alias.name, alias.chat_sampling)
    path = Path(spec).expanduser()
    if spec.lower().endswith(".gguf"):
        if not path.is_file():
            raise SitegenError(f"GGUF file {spec} does not exist.")
        return ModelSource("gguf", str(path.resolve()), None, _model_id(path.stem))
    if path.is_dir():
        return ModelSource("folder", str(path.resolve()), None, _model_id(path.resolve().name))
    if path.is_file():
        folder = path.suffix in (".safetensors", ".json")  # a file of a Hugging Face model folder
        raise SitegenError(f"{spec} is a file, and sitegen reads a .gguf file or a Hugging Face model folder "
                           "(config.json, tokenizer.json, *.safetensors): pass " +
                           (f"the folder that holds it ({path.resolve().parent})." if folder else "one of those."))
    repo, _, revision = spec.partition("@")
    if _REPO_ID.match(repo) and not path.exists():
        return ModelSource("hub", repo, revision or None, _model_id(repo.split("/")[1]))
    raise SitegenError(f"Unknown model {spec!r}: it is not an alias (list them with `sitegen models`), "
                       "not an existing folder or .gguf file, and not a Hugging Face repo id "
                       "(org/name or org/name@revision)." + _did_you_mean(spec, table))


def _did_you_mean(spec: str, table) -> str:
    """The aliases a mistyped or shortened alias may mean: those it begins (smollm2: each size), else the
    closest one; "" if none is close."""
    close = [name for name in table if name.startswith(spec.lower())] or \
        difflib.get_close_matches(spec.lower(), table, n=1)
    if not close:
        return ""
    return f" Did you mean {close[0]}?" if len(close) == 1 else f" Did you mean one of {', '.join(close)}?"
