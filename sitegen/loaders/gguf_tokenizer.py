"""Rebuild Hugging Face tokenizer files from the vocabulary a GGUF file carries.

llama.cpp's converter stores a tokenizer as flat metadata: the tokens, one type per token, and
either BPE merges (`tokenizer.ggml.model == "gpt2"`, byte-level BPE) or one score per piece
(`"llama"`, SentencePiece BPE). How text is split before BPE is not stored, only named
(`tokenizer.ggml.pre`), so each supported name maps to the pre-tokenizer that the model's own
tokenizer.json has. The result is the tokenizer.json HF would ship for the model, so the
`tokenizers` library (and our runtime, which follows it) gives the ids the model was trained on.

`meta` everywhere is the GGUF metadata as a plain dict (`sitegen.loaders.gguf.read_gguf_metadata`).
"""

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from gguf import TokenType
from tokenizers import Tokenizer

from sitegen.errors import SitegenError

Meta = Mapping[str, Any]

_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
_BYTE_LEVEL_DECODER = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}

# The split regexes of the models' own tokenizer.json files (and of llama.cpp's llama-vocab.cpp).
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def _split_then_bytes(regex: str) -> dict:
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
        {**_BYTE_LEVEL, "use_regex": False}]}


@dataclass(frozen=True)
class _ByteLevelPre:
    """What one `tokenizer.ggml.pre` name stands for in a byte-level BPE tokenizer."""

    pre_tokenizer: dict
    normalizer: dict | None = None
    ignore_merges: bool = False  # a pre-token that is itself in the vocabulary is not merged (Llama 3)
    add_bos: bool = False  # llama.cpp's default when the GGUF has no tokenizer.ggml.add_bos_token


_BYTE_LEVEL_PRE = {
    "default": _ByteLevelPre(_BYTE_LEVEL),
    "gpt-2": _ByteLevelPre(_BYTE_LEVEL),
    "smollm": _ByteLevelPre({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, _BYTE_LEVEL]}),
    "llama-bpe": _ByteLevelPre(_split_then_bytes(_LLAMA3_SPLIT), ignore_merges=True, add_bos=True),
    "qwen2": _ByteLevelPre(_split_then_bytes(_QWEN2_SPLIT), normalizer={"type": "NFC"}),
}

_SPACE = "\u2581"  # SentencePiece's visible space
_SPECIAL_TYPES = {TokenType.CONTROL: True, TokenType.UNKNOWN: True, TokenType.USER_DEFINED: False}


def _tokens(meta: Meta) -> list[str]:
    tokens = meta.get("tokenizer.ggml.tokens")
    if not tokens:
        raise SitegenError("the GGUF file carries no tokenizer (tokenizer.ggml.tokens is missing); "
                           "sitegen needs one to build the chat site")
    return tokens


def _token_types(meta: Meta) -> list[int]:
    return meta.get("tokenizer.ggml.token_type") or [TokenType.NORMAL] * len(_tokens(meta))


def _special_token(meta: Meta, kind: str) -> str | None:
    """The text of the bos/eos/unk/... token, None when the GGUF names none."""
    token_id = meta.get(f"tokenizer.ggml.{kind}_token_id")
    return None if token_id is None else _tokens(meta)[token_id]


def _byte_level_pre(meta: Meta) -> _ByteLevelPre:
    name = meta.get("tokenizer.ggml.pre", "default")  # llama.cpp reads a missing name as "default"
    if name not in _BYTE_LEVEL_PRE:
        raise SitegenError(f"unsupported GGUF pre-tokenizer {name!r}; supported: {', '.join(_BYTE_LEVEL_PRE)}")
    return _BYTE_LEVEL_PRE[name]


def add_bos_token(meta: Meta) -> bool:
    """Whether prompts start with BOS: the GGUF's flag, else llama.cpp's default for the tokenizer."""
    flag = meta.get("tokenizer.ggml.add_bos_token")
    if flag is not None:
        return bool(flag)
    if _model_name(meta) == "llama":
        return True
    return _byte_level_pre(meta).add_bos


def _add_eos_token(meta: Meta) -> bool:
    return bool(meta.get("tokenizer.ggml.add_eos_token", False))


def _vocab(tokens: list[str]) -> dict[str, int]:
    # Every token is in the BPE vocabulary, special ones too, as in HF's Llama files; a repeated
    # text keeps its last id, as llama.cpp's own token map does.
    return {token: i for i, token in enumerate(tokens)}


def _added_tokens(tokens: list[str], types: list[int]) -> list[dict]:
    """Control, unknown and user-defined tokens, matched in the raw text before any splitting."""
    return [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": _SPECIAL_TYPES[kind]}
            for i, kind in enumerate(types) if kind in _SPECIAL_TYPES]


def _template(seq_id: str, type_id: int, bos: str | None, eos: str | None) -> list[dict]:
    def special(token: str | None) -> list[dict]:
        return [] if token is None else [{"SpecialToken": {"id": token, "type_id": type_id}}]
    return special(bos) + [{"Sequence": {"id": seq_id, "type_id": type_id}}] + special(eos)


def _post_processor(meta: Meta) -> dict | None:
    """BOS/EOS around every encoding when the model wants them, as HF's TemplateProcessing does."""
    wanted = {"bos": add_bos_token(meta), "eos": _add_eos_token(meta)}
    ids = {kind: meta.get(f"tokenizer.ggml.{kind}_token_id") for kind, want in wanted.items() if want}
    texts = {kind: _tokens(meta)[i] for kind, i in ids.items() if i is not None}
    if not texts:
        return None
    bos, eos = texts.get("bos"), texts.get("eos")
    return {"type": "TemplateProcessing",
            "single": _template("A", 0, bos, eos),
            "pair": _template("A", 0, bos, eos) + _template("B", 1, bos, eos),
            "special_tokens": {text: {"id": text, "ids": [ids[kind]], "tokens": [text]}
                               for kind, text in texts.items()}}


def _bpe_model(vocab: dict[str, int], merges: list[list[str]], **options) -> dict:
    return {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
            "ignore_merges": False, **options, "vocab": vocab, "merges": merges}


def _byte_level_merges(meta: Meta) -> list[list[str]]:
    merges = meta.get("tokenizer.ggml.merges")
    if not merges:
        raise SitegenError("the GGUF's byte-level BPE tokenizer has no merges (tokenizer.ggml.merges)")
    # Byte-level tokens never hold a raw space (it is 'Ġ'), so the one space separates the pair.
    pairs = [merge.split(" ") for merge in merges]
    if any(len(pair) != 2 for pair in pairs):
        raise SitegenError("the GGUF's tokenizer.ggml.merges holds an entry that is not two tokens")
    return pairs


def _byte_level_bpe(meta: Meta) -> dict:
    pre = _byte_level_pre(meta)
    tokens = _tokens(meta)
    return {"normalizer": pre.normalizer, "pre_tokenizer": pre.pre_tokenizer, "decoder": _BYTE_LEVEL_DECODER,
            "model": _bpe_model(_vocab(tokens), _byte_level_merges(meta), ignore_merges=pre.ignore_merges)}


def _merges_from_scores(tokens: list[str], scores: list[float], vocab: dict[str, int]) -> list[list[str]]:
    """SentencePiece keeps a score per piece, not a merge list. Like HF's LlamaConverter, every
    split of a piece into two vocabulary pieces becomes a merge ranked by the piece's score;
    splits of one piece (and equal scores) keep vocabulary order."""
    ranked = []
    for piece, score in zip(tokens, scores):
        splits = sorted((vocab[piece[:k]], vocab[piece[k:]], piece[:k], piece[k:]) for k in range(1, len(piece))
                        if piece[:k] in vocab and piece[k:] in vocab)
        ranked.extend((score, left, right) for _, _, left, right in splits)
    ranked.sort(key=lambda merge: merge[0], reverse=True)  # stable, also when reversed
    return [[left, right] for _, left, right in ranked]


def _sentencepiece_bpe(meta: Meta) -> dict:
    tokens = _tokens(meta)
    scores = meta.get("tokenizer.ggml.scores")
    if not scores or len(scores) != len(tokens):
        raise SitegenError("the GGUF's SentencePiece tokenizer needs one score per token (tokenizer.ggml.scores)")
    vocab = _vocab(tokens)
    # Spaces become the visible space; with a space prefix (SentencePiece's dummy prefix) every
    # text, and every stretch of text after a special token, starts with one, as llama.cpp does.
    prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))
    replace_space = {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE}
    normalizers = [{"type": "Prepend", "prepend": _SPACE}, replace_space] if prefix else [replace_space]
    decoders = [{"type": "Replace", "pattern": {"String": _SPACE}, "content": " "}, {"type": "ByteFallback"},
                {"type": "Fuse"}]
    if prefix:  # drop the space the prefix added
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    return {"normalizer": {"type": "Sequence", "normalizers": normalizers}, "pre_tokenizer": None,
            "decoder": {"type": "Sequence", "decoders": decoders},
            "model": _bpe_model(vocab, _merges_from_scores(tokens, scores, vocab),
                                unk_token=_special_token(meta, "unknown"), fuse_unk=True, byte_fallback=True)}


_MODELS: dict[str, Callable[[Meta], dict]] = {"gpt2": _byte_level_bpe, "llama": _sentencepiece_bpe}


def _model_name(meta: Meta) -> str:
    name = meta.get("tokenizer.ggml.model")
    if name not in _MODELS:
        raise SitegenError(f"unsupported GGUF tokenizer model {name!r}; supported: {', '.join(_MODELS)}")
    return name


def tokenizer_json_from_gguf(meta: Meta) -> str:
    """The text of a tokenizer.json equivalent to the GGUF's tokenizer."""
    parts = _MODELS[_model_name(meta)](meta)
    document = {"version": "1.0", "truncation": None, "padding": None,
                "added_tokens": _added_tokens(_tokens(meta), _token_types(meta)),
                "post_processor": _post_processor(meta), **parts}
    try:  # let `tokenizers` check it (merges of unknown tokens, bad ids) and write it canonically
        return Tokenizer.from_str(json.dumps(document, ensure_ascii=False)).to_str()
    except Exception as err:  # tokenizers raises plain Exception
        raise SitegenError(f"the GGUF's tokenizer is inconsistent and cannot be rebuilt: {err}") from None


def tokenizer_config_from_gguf(meta: Meta) -> dict:
    """HF tokenizer_config.json semantics: chat template, BOS/EOS text, whether to add BOS."""
    return {"chat_template": meta.get("tokenizer.chat_template"),
            "bos_token": _special_token(meta, "bos"),
            "eos_token": _special_token(meta, "eos"),
            "add_bos_token": add_bos_token(meta)}


def generation_config_from_gguf(meta: Meta) -> dict:
    """HF generation_config.json semantics. End-of-turn/-message tokens also stop generation."""
    ids = {kind: meta.get(f"tokenizer.ggml.{kind}_token_id") for kind in ("bos", "eos", "eot", "eom", "padding")}
    stop = list(dict.fromkeys(ids[kind] for kind in ("eos", "eot", "eom") if ids[kind] is not None))
    config = {"bos_token_id": ids["bos"], "eos_token_id": stop[0] if len(stop) == 1 else stop or None,
              "pad_token_id": ids["padding"]}
    return {key: value for key, value in config.items() if value is not None}
