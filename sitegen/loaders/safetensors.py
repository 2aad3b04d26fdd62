"""Read safetensors files lazily: parse the JSON header, then read and convert rows on demand.

Our own reader rather than the `safetensors` package because its numpy API cannot return bf16
(numpy has no bfloat16) and because reading a block of rows is all we need: converting a block
costs only that block's memory. Rows are read with positional reads, not a memory map, because
the pages of a memory map stay in the process's resident set and a 3 GB checkpoint would look
like 3 GB of peak memory; positional reads are also safe from several threads at once.
"""

import json
import os
import struct
from pathlib import Path

import numpy as np

from sitegen.checkpoint import TensorEntry
from sitegen.errors import SitegenError

# safetensors dtype -> (numpy dtype of the stored elements, our short name)
_DTYPES = {"F32": (np.dtype("<f4"), "f32"), "F16": (np.dtype("<f2"), "f16"), "BF16": (np.dtype("<u2"), "bf16")}
_MAX_HEADER = 100 * 1024 * 1024  # the format's own limit


def _as_float32(raw: np.ndarray, dtype_name: str) -> np.ndarray:
    if dtype_name == "bf16":  # bf16 is the top half of an f32: shift it back into place
        wide = raw.astype(np.uint32)
        wide <<= 16
        return wide.view(np.float32)
    return raw.astype(np.float32)


def _bad_file(path: Path, why: str) -> SitegenError:
    return SitegenError(f"{path} is not a valid safetensors file ({why}). "
                        "Re-download it; if it came from the Hub, delete it from the cache first.")


def read_header(path: Path) -> tuple[dict, int]:
    """The header dict and the byte offset where tensor data starts."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise _bad_file(path, "shorter than its 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER or 8 + n > size:
            raise _bad_file(path, f"header length {n} does not fit in a {size}-byte file")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _bad_file(path, f"header is not JSON: {err}") from None
    if not isinstance(header, dict):
        raise _bad_file(path, "header is not a JSON object")
    header.pop("__metadata__", None)
    return header, 8 + n


def open_safetensors(path: Path) -> dict[str, TensorEntry]:
    header, data_start = read_header(path)
    data_bytes = path.stat().st_size - data_start
    fd = os.open(path, os.O_RDONLY)  # lives as long as the readers: one descriptor per file
    entries = {}
    for name, info in header.items():
        try:
            dtype, begin, end, shape = info["dtype"], *info["data_offsets"], tuple(info["shape"])
        except (KeyError, TypeError, ValueError):
            raise _bad_file(path, f"malformed header entry for {name!r}") from None
        if dtype not in _DTYPES:
            raise SitegenError(f"{path}: tensor {name!r} is stored as {dtype}; sitegen reads "
                               f"{', '.join(_DTYPES)}. Convert the checkpoint to bf16/f16/f32 first.")
        np_dtype, short = _DTYPES[dtype]
        count = int(np.prod(shape, dtype=np.int64))
        if end - begin != count * np_dtype.itemsize or not 0 <= begin <= end <= data_bytes:
            raise _bad_file(path, f"tensor {name!r} lies outside the file (truncated download?)")
        entries[name] = TensorEntry(shape=shape, source_dtype=short,
                                    read_rows=_row_reader(fd, path, data_start + begin, shape, np_dtype, short))
    return entries


def _row_reader(fd, path, begin, shape, np_dtype, short):
    row_elems = int(np.prod(shape[1:], dtype=np.int64))

    def read_rows(start: int, stop: int) -> np.ndarray:
        raw = np.empty((stop - start) * row_elems, dtype=np_dtype)
        got = os.preadv(fd, [raw], begin + start * row_elems * np_dtype.itemsize)
        if got != raw.nbytes:
            raise _bad_file(path, "it ended early while reading a tensor")
        return _as_float32(raw, short).reshape((stop - start, *shape[1:]))

    return read_rows
