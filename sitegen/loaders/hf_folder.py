"""Load a Hugging Face model folder (config.json, tokenizer files, safetensors weights)."""

import json
from pathlib import Path

import dataclasses

from sitegen.arch import config_family
from sitegen.checkpoint import Checkpoint, TensorEntry
from sitegen.errors import SitegenError
from sitegen.loaders.safetensors import open_safetensors

INDEX = "model.safetensors.index.json"
# What a conversion needs from a Hub repo; `sitegen.hub` downloads only these.
WANTED_FILES = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "README.md", INDEX, "model*.safetensors"]


_JSON_KINDS = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}


def _read_json(path: Path, *, required: bool) -> dict:
    if not path.is_file():
        if required:
            raise SitegenError(f"{path.parent} has no {path.name}; a Hugging Face model folder needs "
                               "config.json, tokenizer.json and *.safetensors weights.")
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SitegenError(f"{path} is not valid JSON ({err}); re-download or fix it.") from None
    if not isinstance(value, dict):
        raise SitegenError(f"{path} holds a JSON {_JSON_KINDS.get(type(value), 'value')}, not an object ({{\"key\": value, ...}}); "
                           "download it again or fix it.")
    return value


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


def _as_family_table(config: dict, tensors: dict[str, TensorEntry]) -> dict[str, TensorEntry]:
    """The tensors named and valued as sitegen/families.py has them: a language model nested in an
    image-text checkpoint (the family's `text_config` prefixes) taken out under "model.", the
    other towers left out; the family's `norm_offset` added to every norm weight (llama.cpp's
    converter's rule: names ending in "norm.weight")."""
    fam = config_family(config)
    if fam is None:
        return tensors  # sitegen/arch.py refuses the model, naming it
    prefix = next((p for p in fam.text_config if any(name.startswith(p) for name in tensors)), None)
    if prefix is not None:
        tensors = {"model." + name[len(prefix):]: entry for name, entry in tensors.items() if name.startswith(prefix)}
    if not fam.norm_offset:
        return tensors

    def offset(entry: TensorEntry) -> TensorEntry:
        return dataclasses.replace(entry, read_rows=lambda start, stop: entry.read_rows(start, stop) + fam.norm_offset)
    return {name: offset(entry) if name.endswith("norm.weight") else entry for name, entry in tensors.items()}


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
    try:
        tokenizer_json = tokenizer_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise SitegenError(f"{tokenizer_path} is not UTF-8 text ({err}); download it again.") from None
    readme = folder / "README.md"
    return Checkpoint(
        source=source or str(folder),
        config=config,
        tensors=_as_family_table(config, tensors),
        tokenizer_json=tokenizer_json,
        tokenizer_config=_read_json(folder / "tokenizer_config.json", required=False),
        generation_config=_read_json(folder / "generation_config.json", required=False),
        # only shown (the About page): a card in another encoding keeps its readable part
        model_card=readme.read_text(encoding="utf-8", errors="replace") if readme.is_file() else None,
    )
