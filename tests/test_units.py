"""sitegen/units.py shows sizes exactly as the site's runtime/units.js does."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sitegen.units import format_bytes, format_limit

UNITS_JS = Path(__file__).resolve().parents[1] / "runtime" / "units.js"
# Around each unit's threshold, ties of the rounding (250000 bytes is 0.25 MB exactly), and sizes
# seen in practice (SmolLM2-135M's weights, GitHub's limits).
SIZES = [0, 1, 49_999, 50_000, 250_000, 999_949, 999_950, 999_999, 1_000_000, 1_050_000, 75_812_345,
         104_857_600, 999_994_999, 999_995_000, 999_999_999, 1_000_000_000, 1_005_000_000, 1_345_000_000,
         1_141_899_264, 12_345_678_901]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_format_bytes_agrees_with_units_js():
    script = (f"import {{ formatBytes }} from {json.dumps(UNITS_JS.as_uri())};"
              f"console.log(JSON.stringify({json.dumps(SIZES)}.map(formatBytes)));")
    result = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True,
                            check=True)
    assert [format_bytes(n) for n in SIZES] == json.loads(result.stdout)


def test_format_bytes_examples():
    assert format_bytes(75_812_345) == "75.8 MB" and format_bytes(1_345_600_000) == "1.35 GB"
    assert format_bytes(250_000) == "0.3 MB"  # a tie rounds up, as JavaScript's toFixed does


def test_limits_are_stated_exactly():
    assert format_limit(100 * 2**20) == "104.8576 MB" and format_limit(10**9) == "1 GB"
    assert format_limit(32_000_000) == "32 MB"
