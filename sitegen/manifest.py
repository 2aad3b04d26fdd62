"""The model manifest (`models/<id>/manifest.json`): the contract between the build and the runtime.

Schema (format_version 3); every key is always present unless marked optional:
  format: "sitegen-model", format_version: 3 (version 1 had `arch` for `family` and no
    `runtime_tensors`; version 2 had a derived `chat_format` for `chat_template`: rebuild such a site)
  model_id: folder name under models/; source: where it came from (repo@revision or file name,
    never a local path); license: optional SPDX-ish id from the model card
  architecture (sitegen/arch.py's Architecture): family ("llama" | "qwen2": sitegen/families.py),
    hidden_size, num_layers, num_heads, num_kv_heads, head_dim, ffn_size, vocab_size, rope_theta,
    rope_scaling (null | {type: "linear", factor} |
    {type: "llama3", factor, low_freq_factor, high_freq_factor, original_max_position_embeddings}),
    rms_norm_eps, tie_word_embeddings (no lm_head tensor: the LM head reads the embedding),
    context_length, attention_bias (q/k/v projections have biases)
  quantization: scheme (--quant: "q4g32" | "f16"), group_size, code_offset, rounding (the formula, see
    sitegen/quantize.py), applies_to (which tensors get it), kept (the GGUF block types copied
    exactly instead, and into which scheme; q4g32 only), schemes: {scheme: its description} for
    every scheme other than f32 that `tensors` use. The rule is sitegen/quantize.py's tensor_schemes.
  tensors: {HF name: {shape, scheme ("q4g32" | "q8g32" | "q4g32m" | "f16" | "f32"), parts}}
    q4g32 parts: codes {dtype "u32", shape [N, K/8]} and scales {dtype "f16", shape [N, K/32]};
    q8g32: codes {"u32", [N, K/4]} (int8 codes), scales {"f16", [N, K/32]};
    q4g32m: codes {"u32", [N, K/8]}, scales {"f16", [N, K/16]} ((d, m) per group);
    f16/f32 parts: data {dtype, shape}. Each part: pieces [{shard, offset, bytes}], whose bytes,
    concatenated in order, are the part's row-major little-endian array. Pieces split between
    rows; offsets are 256-byte aligned. In shard order: the order of runtime_tensors.
  runtime_tensors: [{name, tensors, split}] in load order: the GPU tensors the runtime makes.
    tensors: names of `tensors` (same scheme and row width) stacked by rows in this order into one;
    split: the runtime may split it into row blocks (vocabulary-sized ones), else it is one buffer.
    Every tensor of `tensors` is in exactly one. Names: embed, final_norm, lm_head (only without
    tie_word_embeddings), then per layer i: layers.{i}.attn_norm, .qkv, .qkv_bias (only with
    attention_bias), .o, .ffn_norm, .gate_up, .down (sitegen/families.py writes them).
  shards: [{file, bytes, sha256}] in order; total_bytes: sum of shard bytes
  tokenizer: file ("tokenizer.json"), bos_token_id (or null), add_bos_token (prepend BOS to raw
    prompts; chat prompts carry whatever BOS their template writes), eos_token_id (or null)
  chat_template: {template: the model's jinja chat template as published, special_tokens: {bos_token,
    eos_token, ...: text} (the named special tokens its tokenizer config sets, template variables as
    in transformers), chat_control_tokens: [text] (tokenizer_config's list, often empty)}: the runtime
    renders the template itself (sitegen/chat_template.py says what it passes); null for a model
    without one (a base model: its site offers text completion, not a chat)
  stop_token_ids: generation ends on any of these ids: the EOS ids and the special token the template
    ends an assistant turn with (if any)
  generation: defaults from generation_config.json (temperature, top_p, top_k,
    repetition_penalty; only those the model sets)
  chat_sampling: {temperature, top_p, source ("model card" | "sitegen")} the chat page uses for
    its empty fields, or null where `generation` sets temperature or top_p (sitegen/chat_sampling.py)
"""

import json
from pathlib import Path

from sitegen.errors import SitegenError
from sitegen.marker import file_digest
from sitegen.quantize import CODE_OFFSET, EXACT_SCHEMES, GGUF_SCHEMES, GROUP

FORMAT = "sitegen-model"
FORMAT_VERSION = 3
FILE = "manifest.json"

def _gguf_applies_to(scheme: str) -> str:
    types = ", ".join(dtype.upper() for dtype, target in GGUF_SCHEMES.items() if target == scheme)
    return (f"2-D weights a GGUF holds as {types}, under q4g32 (values kept where `kept` says so, else "
            "requantised); a runtime stack takes the widest scheme its members need")


QUANTIZATION = {
    "q4g32": {"scheme": "q4g32", "group_size": GROUP, "code_offset": CODE_OFFSET,
              "rounding": "d = f16(m / -8), m = the group's element of largest magnitude; "
                          "q = clamp(floor(x / d + 8.5), 0, 15) (q = 8 when d = 0); x' = (q - 8) * d",
              "applies_to": "2-D weights but those kept exactly; 1-D tensors are f32",
              "kept": {gguf.upper(): scheme for gguf, scheme in EXACT_SCHEMES.items()}},
    "q8g32": {"scheme": "q8g32", "group_size": GROUP, "decoding": "x = q * d, q int8 (GGUF Q8_0's layout)",
              "applies_to": _gguf_applies_to("q8g32")},
    "q4g32m": {"scheme": "q4g32m", "group_size": GROUP, "decoding": "x = q * d + m, q 0..15 (GGUF Q4_1's layout)",
               "applies_to": _gguf_applies_to("q4g32m")},
    "f16": {"scheme": "f16", "applies_to": "2-D weights; 1-D tensors are f32"},
}


def quantization(quant: str, used: set[str]) -> dict:
    """The manifest's `quantization`: --quant's description, and each scheme the tensors use."""
    return {**QUANTIZATION[quant], "schemes": {scheme: QUANTIZATION[scheme] for scheme in sorted(used - {"f32"})}}


def matrix_schemes(manifest: dict) -> str:
    """The schemes of a manifest's matrices (2-D tensors), most used first, with their counts:
    "q8g32 (100 matrices), q4g32m (27)"; one scheme alone is just its name. --quant names only
    the default: a GGUF source's blocks keep their own schemes (quantize.GGUF_SCHEMES)."""
    counts = {}
    for tensor in manifest["tensors"].values():
        if len(tensor["shape"]) == 2:
            counts[tensor["scheme"]] = counts.get(tensor["scheme"], 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if len(ranked) == 1:
        return ranked[0][0]
    return ", ".join(f"{scheme} ({count}{' matrices' if i == 0 else ''})" for i, (scheme, count) in enumerate(ranked))


def write_manifest(model_dir: Path, manifest: dict) -> None:
    text = json.dumps(manifest, indent=1, ensure_ascii=False) + "\n"
    (model_dir / FILE).write_text(text, encoding="utf-8")


def read_manifest(model_dir: Path, *, verify_shards: bool = True) -> dict:
    """Load and check a manifest; with verify_shards, every shard's size and sha256 too."""
    path = model_dir / FILE
    if not path.is_file():
        raise SitegenError(f"{model_dir} has no {FILE}: not a sitegen model folder. Build one with `sitegen build`.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SitegenError(f"{path} is not valid JSON ({err}); rebuild the site.") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise SitegenError(f"{path} is format {manifest.get('format')!r} version {manifest.get('format_version')!r}; "
                           f"this sitegen reads {FORMAT} version {FORMAT_VERSION}. Rebuild the site with this sitegen.")
    if verify_shards:
        for shard in manifest["shards"]:
            _verify_shard(model_dir / shard["file"], shard)
    return manifest


def _verify_shard(path: Path, shard: dict) -> None:
    if not path.is_file() or path.stat().st_size != shard["bytes"]:
        size = path.stat().st_size if path.is_file() else "missing"
        raise SitegenError(f"Shard {path} is {size} bytes, the manifest says {shard['bytes']}: the site is "
                           "incomplete or corrupted. Rebuild it (or copy it again).")
    if file_digest(path) != shard["sha256"]:
        raise SitegenError(f"Shard {path} does not match its sha256 in the manifest: the file is corrupted. "
                           "Rebuild the site (or copy it again).")
