import numpy as np
import pytest

from sitegen.errors import SitegenError
from sitegen.quantize import dequantize_q4g32, quantize_q4g32


def test_q4g32_layout_matches_the_manifest_contract():
    # one row, one group: element k must sit in word k // 8 at bits 4 * (k % 8)
    x = np.linspace(-8, 7, 32, dtype=np.float32)[None, :]  # largest magnitude -8 -> d = 1
    codes, scales = quantize_q4g32(x)
    assert codes.dtype == np.uint32 and codes.shape == (1, 4)
    assert scales.dtype == np.float16 and scales.shape == (1, 1) and scales[0, 0] == 1.0
    expected = np.floor(x[0] / 1.0 + 8.5).clip(0, 15).astype(np.uint32)
    for k in range(32):
        assert (codes[0, k // 8] >> (4 * (k % 8))) & 15 == expected[k]


def test_q4g32_round_trip_error_bound():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 256)).astype(np.float32) * rng.uniform(0.01, 10, size=(64, 1)).astype(np.float32)
    restored = dequantize_q4g32(*quantize_q4g32(x))
    groups, errors = np.abs(x).reshape(-1, 32), np.abs(restored - x).reshape(-1, 32)
    step = groups.max(axis=1, keepdims=True) / 8  # |d|
    # the largest element is exact up to f16 rounding of d; the rest within half a step, except
    # the far end of the range, which clamps to code 15 (7 d): within one step
    assert np.all(errors <= step * 1.0 + 1e-3 * step)
    assert np.mean(errors <= step / 2 + 1e-3 * step) > 0.99
    relative_rms = np.sqrt(np.mean((restored - x) ** 2) / np.mean(x ** 2))
    assert 0.05 < relative_rms < 0.12


def test_q4g32_largest_element_exact_and_zero_groups():
    x = np.zeros((2, 32), dtype=np.float32)
    x[1, 5] = -3.0
    x[1, 6] = 1.5
    restored = dequantize_q4g32(*quantize_q4g32(x))
    assert np.all(restored[0] == 0)
    assert restored[1, 5] == -3.0 and restored[1, 6] == pytest.approx(1.5, abs=0.375 / 2)


def test_q4g32_rejects_rows_not_a_multiple_of_32():
    with pytest.raises(SitegenError, match="multiple of 32.*--quant f16"):
        quantize_q4g32(np.zeros((2, 48), dtype=np.float32))
