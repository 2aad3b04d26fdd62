"""Load a Hugging Face model folder (config.json, tokenizer files, safetensors weights)."""

import json
from pathlib import Path

from sitegen.checkpoint import Checkpoint
from sitegen.errors import SitegenError
from sitegen.loaders.safetensors import open_safetensors

INDEX = "model.safetensors.index.json"
# What a conversion needs from a Hub repo; `sitegen.hub` downloads only these.
WANTED_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "README.md", INDEX, "model*.safetensors"]


def _read_json(path: Path, *, required: bool) -> dict:
    if not path.is_file():
        if required:
            raise SitegenError(f"{path.parent} has no {path.name}; a Hugging Face model folder needs "
                               "config.json, tokenizer.json and *.safetensors weights.")
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SitegenError(f"{path} is not valid JSON ({err}); re-download or fix it.") from None


def weight_files(folder: Path) -> list[Path]:
    index = folder / INDEX
    if index.is_file():
        names = sorted(set(_read_json(index, required=True).get("weight_map", {}).values()))
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise SitegenError(f"{folder}: {INDEX} lists {', '.join(missing)} but the file(s) are "
                               "missing; download the complete model.")
        return [folder / n for n in names]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        hint = " (only PyTorch .bin weights found: sitegen reads safetensors)" if any(folder.glob("*.bin")) else ""
        raise SitegenError(f"{folder} has no *.safetensors weights{hint}.")
    return files


def load_hf_folder(folder: Path, source: str | None = None) -> Checkpoint:
    config = _read_json(folder / "config.json", required=True)
    tokenizer_path = folder / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise SitegenError(f"{folder} has no tokenizer.json (the `tokenizers` fast-tokenizer file); "
                           "sitegen cannot use tokenizer.model alone. Save the tokenizer with "
                           "transformers' AutoTokenizer(...).save_pretrained() first.")
    tensors = {}
    for path in weight_files(folder):
        tensors.update(open_safetensors(path))
    readme = folder / "README.md"
    return Checkpoint(
        source=source or str(folder),
        config=config,
        tensors=tensors,
        tokenizer_json=tokenizer_path.read_text(encoding="utf-8"),
        tokenizer_config=_read_json(folder / "tokenizer_config.json", required=False),
        generation_config=_read_json(folder / "generation_config.json", required=False),
        model_card=readme.read_text(encoding="utf-8") if readme.is_file() else None,
    )
