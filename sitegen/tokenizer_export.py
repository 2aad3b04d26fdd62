"""The tokenizer side of the artifact: tokenizer.json as-is, special token ids, stop tokens."""

import tokenizers
from tokenizers import Tokenizer

from sitegen.errors import SitegenError


def load_tokenizer(tokenizer_json: str, source: str) -> Tokenizer:
    """`source`: the checkpoint's (Checkpoint.source), which the error names."""
    try:
        return Tokenizer.from_str(tokenizer_json)
    except Exception as err:  # tokenizers raises a bare Exception for malformed files
        raise SitegenError(f"The tokenizer.json of {source} cannot be loaded by `tokenizers` {tokenizers.__version__} "
                           f"({err}): download it again, or upgrade tokenizers (pip install -U tokenizers) if the "
                           "model is newer than it.") from None


def token_text(value) -> str | None:
    """tokenizer_config.json spells special tokens as "<s>" or as {"content": "<s>", ...}."""
    return value.get("content") if isinstance(value, dict) else value


def _id_of(tokenizer: Tokenizer, text: str | None) -> int | None:
    return tokenizer.token_to_id(text) if text else None


def _adds_bos(tokenizer: Tokenizer, tokenizer_config: dict, bos_id: int | None) -> bool:
    """Whether raw prompts start with BOS: tokenizer_config's flag if set, else what the
    tokenizer's own post-processor does (Llama 3's adds BOS without saying so in the config)."""
    if "add_bos_token" in tokenizer_config:
        return bool(tokenizer_config["add_bos_token"]) and bos_id is not None
    ids = tokenizer.encode("a", add_special_tokens=True).ids
    return bos_id is not None and bool(ids) and ids[0] == bos_id


def _as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def tokenizer_section(tokenizer: Tokenizer, tokenizer_config: dict, generation_config: dict) -> dict:
    bos = _id_of(tokenizer, token_text(tokenizer_config.get("bos_token")))
    if bos is None:
        bos = generation_config.get("bos_token_id")
    eos = _id_of(tokenizer, token_text(tokenizer_config.get("eos_token")))
    if eos is None:
        eos = (_as_list(generation_config.get("eos_token_id")) or [None])[0]
    return {"file": "tokenizer.json", "bos_token_id": bos, "eos_token_id": eos,
            "add_bos_token": _adds_bos(tokenizer, tokenizer_config, bos)}


def stop_token_ids(tokenizer: Tokenizer, section: dict, generation_config: dict, turn_end: str) -> list[int]:
    """The ids that end generation: the model's EOS ids, and the special token that opens `turn_end`
    (sitegen/chat_template.py: what the chat template writes after an assistant message, e.g. Llama 3's
    <|eot_id|>, which the first Llama 3 release does not list as an EOS)."""
    ids = set(_as_list(generation_config.get("eos_token_id")))
    if section["eos_token_id"] is not None:
        ids.add(section["eos_token_id"])
    special = {i for i, token in tokenizer.get_added_tokens_decoder().items() if token.special}
    first = tokenizer.encode(turn_end, add_special_tokens=False).ids[:1]
    ids.update(i for i in first if i in special)
    if not ids:
        raise SitegenError("The model defines no end-of-sequence token (no eos_token in tokenizer_config.json, "
                           "no eos_token_id in generation_config.json); generation could never stop.")
    return sorted(int(i) for i in ids)


GENERATION_DEFAULTS = ("temperature", "top_p", "top_k", "repetition_penalty")


def generation_defaults(generation_config: dict) -> dict:
    return {k: generation_config[k] for k in GENERATION_DEFAULTS if generation_config.get(k) is not None}

