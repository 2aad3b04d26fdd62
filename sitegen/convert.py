"""Convert a checkpoint into the model artifact: shards of encoded tensors plus their records.

Tensors stream through in blocks of rows: read a block, encode it, append it to the shards, let
it go. Two blocks are encoded at once on worker threads (numpy releases the GIL), and at most a
few blocks are in flight, so peak memory stays near a few blocks whatever the model size.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from sitegen.checkpoint import TensorEntry
from sitegen.quantize import dequantize, part_shapes, quantize_grouped, tensor_schemes, transcodes
from sitegen.shards import ShardWriter

BLOCK_ELEMENTS = 4 * 1024 * 1024  # elements per block of rows: ~16 MB as f32
WORKERS = 2
ERROR_SAMPLE_ROWS = 16  # rows per block whose quantisation error is measured


def _ordered_parallel(fn, items, pool):
    """fn over items on the pool, results in order, with at most WORKERS + 1 in flight."""
    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) > WORKERS:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _row_blocks(entry: TensorEntry, max_bytes: int, bytes_per_element: float):
    rows, row_elements = entry.shape[0], int(np.prod(entry.shape[1:], dtype=np.int64))
    per_block = max(1, min(BLOCK_ELEMENTS // row_elements, int(max_bytes // (row_elements * bytes_per_element))))
    return [(start, min(start + per_block, rows)) for start in range(0, rows, per_block)]


class ErrorStats:
    """Sum of squared quantisation error and of squared weights, per tensor."""

    def __init__(self):
        self.sums: dict[str, list[float]] = {}

    def add(self, name: str, original: np.ndarray, restored: np.ndarray) -> None:
        s = self.sums.setdefault(name, [0.0, 0.0])
        s[0] += float(np.square(restored - original, dtype=np.float64).sum())
        s[1] += float(np.square(original, dtype=np.float64).sum())

    def relative_rms(self) -> dict[str, float]:
        return {name: (e / w) ** 0.5 if w else 0.0 for name, (e, w) in self.sums.items()}


def _split_rows(array: np.ndarray, max_bytes: int):
    per_block = max(1, max_bytes // max(1, array[:1].nbytes))
    return (array[start:start + per_block] for start in range(0, len(array), per_block))


def write_tensor(writer: ShardWriter, name: str, entry: TensorEntry, scheme: str, pool, stats: ErrorStats) -> dict:
    """Encode one tensor into the shards; returns its manifest record. The grouped schemes encode
    the rows read as float32; q8g32 and q4g32m with the source's GGUF blocks (entry.read_blocks)
    where they transcode its type (sitegen/quantize.py)."""
    record = {"shape": list(entry.shape), "scheme": scheme, "parts": {}}
    if scheme in ("q4g32", "q8g32", "q4g32m"):
        n, k = entry.shape
        shapes = part_shapes(scheme, n, k)
        scales = []

        def encode(rows):
            x = entry.read_rows(*rows)
            blocks = entry.read_blocks(*rows) if transcodes(scheme, entry.source_dtype) else None
            codes, block_scales = quantize_grouped(scheme, x, entry.source_dtype, blocks)
            sample = slice(0, ERROR_SAMPLE_ROWS)
            return codes, block_scales, x[sample], dequantize(scheme, codes[sample], block_scales[sample])

        def codes_blocks():
            for codes, block_scales, original, restored in _ordered_parallel(
                    encode, _row_blocks(entry, writer.max_bytes, shapes["codes"][1][1] * 4 / k), pool):
                stats.add(name, original, restored)
                scales.append(block_scales)  # small (1/8 of the codes): written once the codes are
                yield codes

        for part, blocks in (("codes", codes_blocks), ("scales", lambda: _split_rows(np.concatenate(scales),
                                                                                      writer.max_bytes))):
            dtype, shape = shapes[part]
            record["parts"][part] = {"dtype": dtype, "shape": shape, "pieces": writer.write_part(blocks())}
    else:
        np_dtype = {"f16": np.float16, "f32": np.float32}[scheme]

        def encode(rows):
            x = entry.read_rows(*rows)
            return x.astype(np_dtype), x[:ERROR_SAMPLE_ROWS]

        def data_blocks():
            for encoded, original in _ordered_parallel(
                    encode, _row_blocks(entry, writer.max_bytes, np.dtype(np_dtype).itemsize), pool):
                if scheme != "f32":  # f32 is exact: nothing to report
                    stats.add(name, original, encoded[:ERROR_SAMPLE_ROWS].astype(np.float32))
                yield encoded

        record["parts"]["data"] = {"dtype": scheme, "shape": list(entry.shape), "pieces": writer.write_part(data_blocks())}
    return record


def convert_tensors(checkpoint, expected, stacks: list[list[str]], writer: ShardWriter,
                    quant: str) -> tuple[dict, ErrorStats]:
    """Write every expected tensor ([(name, shape)]) in the scheme tensor_schemes gives it;
    `stacks`: the tensor names of each runtime tensor (those stacked into one share a scheme)."""
    stats = ErrorStats()
    records = {}
    schemes = tensor_schemes(quant, stacks, dict(expected),
                             {name: entry.source_dtype for name, entry in checkpoint.tensors.items()})
    with ThreadPoolExecutor(WORKERS) as pool:
        for name, _ in expected:
            records[name] = write_tensor(writer, name, checkpoint.tensors[name], schemes[name], pool, stats)
    return records, stats


def error_summary(stats: ErrorStats) -> list[tuple[str, float, float]]:
    """(tensor kind, mean, worst) relative RMS error per kind, e.g. 'mlp.down_proj.weight'."""
    kinds: dict[str, list[float]] = {}
    for name, err in stats.relative_rms().items():
        kind = name.split(".", 3)[-1] if name.startswith("model.layers.") else name
        kinds.setdefault(kind, []).append(err)
    return [(kind, sum(v) / len(v), max(v)) for kind, v in kinds.items()]
