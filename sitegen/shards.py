"""Write tensor bytes into numbered shard files of bounded size, recording where each part lands.

Every part starts on a 256-byte boundary (WebGPU buffer offsets for storage bindings must be
aligned to `minStorageBufferOffsetAlignment`, at most 256). A part that does not fit in what is
left of a shard continues in the next one, split between rows, so no shard exceeds the limit;
the manifest lists such a part's pieces in order.
"""

import hashlib
from pathlib import Path

import numpy as np

ALIGN = 256


class ShardWriter:
    def __init__(self, folder: Path, max_bytes: int):
        self.folder, self.max_bytes = folder, max_bytes
        self.shards: list[dict] = []
        self._file = None
        self._hash = None
        self._size = 0

    def _open_next(self) -> None:
        self._close_current()
        name = f"shard-{len(self.shards):05d}.bin"
        self._file, self._hash, self._size = (self.folder / name).open("wb"), hashlib.sha256(), 0
        self.shards.append({"file": name})

    def _close_current(self) -> None:
        if self._file is not None:
            self._file.close()
            self.shards[-1].update(bytes=self._size, sha256=self._hash.hexdigest())
            self._file = None

    def _write(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self._hash.update(data)
        self._size += len(data)

    def _start_piece(self, nbytes: int) -> None:
        """Align, and move to a fresh shard if `nbytes` do not fit in this one."""
        pad = -self._size % ALIGN
        if self._file is None or (self._size > 0 and self._size + pad + nbytes > self.max_bytes):
            self._open_next()
            pad = 0
        self._write(bytes(pad))

    def write_part(self, blocks) -> list[dict]:
        """Write an iterable of row blocks (numpy arrays) as one part; returns its pieces."""
        pieces = []
        for block in blocks:
            data = memoryview(np.ascontiguousarray(block)).cast("B")
            if pieces and self._size + len(data) <= self.max_bytes and pieces[-1]["shard"] == len(self.shards) - 1:
                pieces[-1]["bytes"] += len(data)  # continues the current piece
            else:
                self._start_piece(len(data))
                pieces.append({"shard": len(self.shards) - 1, "offset": self._size, "bytes": len(data)})
            self._write(data)
        return pieces

    def close(self) -> list[dict]:
        self._close_current()
        return self.shards
