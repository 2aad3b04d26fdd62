"""Write the model artifact (`models/<id>/`: shards, tokenizer.json, manifest.json) from a checkpoint."""

from pathlib import Path

import yaml

from sitegen import manifest as manifest_schema
from sitegen.arch import architecture, check_tensors
from sitegen.chat_template import chat_template_section, turn_end
from sitegen.errors import SitegenError
from sitegen.chat_sampling import chat_sampling
from sitegen.checkpoint import Checkpoint
from sitegen.convert import convert_tensors, error_summary
from sitegen.families import runtime_tensors
from sitegen.limits import check_limits
from sitegen.shards import ShardWriter
from sitegen.tokenizer_export import generation_defaults, load_tokenizer, stop_token_ids, tokenizer_section

MIB = 1024 * 1024


def model_card_license(model_card: str | None) -> str | None:
    """The `license:` field of a model card's YAML front matter, if any."""
    if not model_card or not model_card.startswith("---"):
        return None
    front, _, _ = model_card[3:].partition("\n---")
    try:
        data = yaml.safe_load(front)
    except yaml.YAMLError:
        return None
    return str(data["license"]) if isinstance(data, dict) and data.get("license") else None


def write_model(checkpoint: Checkpoint, model_dir: Path, *, model_id: str, source: str, quant: str,
                shard_mb: int, chat_template: str | None = None, published_sampling: dict | None = None,
                log=print) -> dict:
    """Convert `checkpoint` into model_dir (which must not exist yet); returns the manifest written.

    `chat_template`: a --chat-template file's text, used instead of the model's. `published_sampling`:
    the {temperature, top_p} the model's authors publish, for the page where the checkpoint sets
    none (sitegen/chat_sampling.py). A model without a chat template (a base model) is written with
    `chat_template: null`, logging so: its site offers text completion instead of a chat.

    Everything that can refuse the model (architecture, the runtime's limits, tensors, tokenizer,
    chat template) runs before the conversion starts; each raises SitegenError.
    """
    arch = architecture(checkpoint.config)
    check_limits(arch)
    expected = check_tensors(arch, checkpoint.tensors)
    tokenizer = load_tokenizer(checkpoint.tokenizer_json, checkpoint.source)
    if chat_template is not None and not chat_template.strip():
        raise SitegenError("The --chat-template file is empty; give the jinja chat template the model was trained "
                           "with, or leave the option out.")
    template = chat_template_section(chat_template or checkpoint.tokenizer_config.get("chat_template"),
                                     checkpoint.tokenizer_config)  # fails fast, before the long conversion
    if template is None:
        log(f"{model_id} has no chat template: it is a base model, and the site offers text completion instead "
            "of a chat; pass --chat-template FILE for a chat.")
    model_dir.mkdir(parents=True)
    (model_dir / "tokenizer.json").write_text(checkpoint.tokenizer_json, encoding="utf-8")

    writer = ShardWriter(model_dir, shard_mb * MIB)
    stacks = runtime_tensors(arch)
    tensors, stats = convert_tensors(checkpoint, expected, [stack["tensors"] for stack in stacks], writer, quant)
    shards = writer.close()
    log_error_summary(stats, quant, log)

    token_info = tokenizer_section(tokenizer, checkpoint.tokenizer_config, checkpoint.generation_config)
    manifest = {
        "format": manifest_schema.FORMAT,
        "format_version": manifest_schema.FORMAT_VERSION,
        "model_id": model_id,
        "source": source,
        "license": model_card_license(checkpoint.model_card),
        "architecture": arch.to_manifest(),
        "quantization": manifest_schema.quantization(quant, {record["scheme"] for record in tensors.values()}),
        "tensors": tensors,
        "runtime_tensors": stacks,
        "shards": shards,
        "total_bytes": sum(s["bytes"] for s in shards),
        "tokenizer": token_info,
        "chat_template": template,
        "stop_token_ids": stop_token_ids(tokenizer, token_info, checkpoint.generation_config, turn_end(template)),
        "generation": generation_defaults(checkpoint.generation_config),
    }
    manifest["chat_sampling"] = chat_sampling(manifest["generation"], published_sampling)
    manifest_schema.write_manifest(model_dir, manifest)
    return manifest


def log_error_summary(stats, quant: str, log) -> None:
    rows = error_summary(stats)
    if not rows:
        return
    log(f"{quant} quantisation error (relative RMS, sampled rows): mean / worst tensor per kind")
    for kind, mean, worst in rows:
        log(f"  {kind:<36} {mean:8.4f} {worst:8.4f}")
