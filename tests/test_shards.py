import hashlib

import numpy as np

from sitegen.shards import ALIGN, ShardWriter


def test_parts_are_aligned_split_between_rows_and_hashed(tmp_path):
    writer = ShardWriter(tmp_path, max_bytes=4096)
    small = writer.write_part([np.arange(10, dtype=np.uint8)])
    big_blocks = [np.full((4, 256), i, dtype=np.uint8) for i in range(6)]  # 6 KiB in 1 KiB blocks
    big = writer.write_part(big_blocks)
    shards = writer.close()
    assert small == [{"shard": 0, "offset": 0, "bytes": 10}]
    assert all(p["offset"] % ALIGN == 0 for p in big)
    assert sum(p["bytes"] for p in big) == 6 * 1024
    assert len(big) == 2 and big[0]["shard"] == 0 and big[1]["shard"] == 1
    assert all(s["bytes"] <= 4096 for s in shards)
    joined = b"".join((tmp_path / shards[p["shard"]]["file"]).read_bytes()[p["offset"]:p["offset"] + p["bytes"]]
                      for p in big)
    assert joined == b"".join(b.tobytes() for b in big_blocks)
    for s in shards:
        data = (tmp_path / s["file"]).read_bytes()
        assert len(data) == s["bytes"] and hashlib.sha256(data).hexdigest() == s["sha256"]
