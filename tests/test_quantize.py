import numpy as np
import pytest

from sitegen.errors import SitegenError
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize

from sitegen.quantize import copy_gguf_blocks, dequantize, quantize_q4g32, tensor_schemes


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
    restored = dequantize("q4g32", *quantize_q4g32(x))
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
    restored = dequantize("q4g32", *quantize_q4g32(x))
    assert np.all(restored[0] == 0)
    assert restored[1, 5] == -3.0 and restored[1, 6] == pytest.approx(1.5, abs=0.375 / 2)


def test_q4g32_rejects_rows_not_a_multiple_of_32():
    with pytest.raises(SitegenError, match="multiple of 32.*--quant f16"):
        quantize_q4g32(np.zeros((2, 48), dtype=np.float32))


def _weights(rows=8, cols=96, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((rows, cols)) * rng.uniform(0.01, 5, (rows, 1)) + rng.uniform(-1, 1, (rows, 1))
            ).astype(np.float32)


@pytest.mark.parametrize("qtype, scheme", [(Q.Q8_0, "q8g32"), (Q.Q4_1, "q4g32m")], ids=["Q8_0", "Q4_1"])
def test_copied_gguf_blocks_decode_bit_for_bit_as_gguf_py(qtype, scheme):
    blocks = gguf_quantize(_weights(), qtype)
    codes, scales = copy_gguf_blocks(scheme, blocks)
    assert codes.dtype == np.uint32 and scales.dtype == np.float16
    restored = dequantize(scheme, codes, scales)
    assert restored.tobytes() == gguf_dequantize(blocks, qtype).astype(np.float32).tobytes()


def test_q8g32_and_q4g32m_layouts():
    x = _weights(1, 32)
    codes, scales = copy_gguf_blocks("q8g32", gguf_quantize(x, Q.Q8_0))
    assert codes.shape == (1, 8) and scales.shape == (1, 1)
    q = np.round(x[0] / scales[0, 0].astype(np.float32)).astype(np.int8)  # element k: byte k % 4 of word k / 4
    assert [np.int8((codes[0, k // 4] >> (8 * (k % 4))) & 255) for k in range(32)] == list(q)
    codes, scales = copy_gguf_blocks("q4g32m", gguf_quantize(x, Q.Q4_1))
    assert codes.shape == (1, 4) and scales.shape == (1, 2)  # (d, m)
    d, m = scales[0].astype(np.float32)
    assert m == np.float16(x.min()) and d > 0
    nibbles = [(codes[0, k // 8] >> (4 * (k % 8))) & 15 for k in range(32)]
    assert nibbles[int(np.argmin(x[0]))] == 0 and nibbles[int(np.argmax(x[0]))] == 15


def test_q4_0_blocks_requantise_to_q4g32_bit_for_bit():
    # Q4_0 is q4g32's own rounding (d = f16(max / -8), codes offset 8): its values give it back
    blocks = gguf_quantize(_weights(), Q.Q4_0)
    source = gguf_dequantize(blocks, Q.Q4_0).astype(np.float32)
    assert dequantize("q4g32", *quantize_q4g32(source)).tobytes() == source.tobytes()


def test_tensor_schemes_keep_whole_stacks_of_q8_0_or_q4_1_under_q4g32_only():
    stacks = [["e"], ["n"], ["q", "k", "v"], ["g", "u"], ["d"]]
    shapes = {"e": (64, 32), "n": (32,), "q": (32, 32), "k": (32, 32), "v": (32, 32), "g": (64, 32), "u": (64, 32),
              "d": (32, 64)}
    dtypes = {"e": "q8_0", "n": "f32", "q": "q4_1", "k": "q4_1", "v": "q8_0", "g": "q4_1", "u": "q4_1", "d": "q4_0"}
    assert tensor_schemes("q4g32", stacks, shapes, dtypes) == {
        "e": "q8g32", "n": "f32", "q": "q4g32", "k": "q4g32", "v": "q4g32", "g": "q4g32m", "u": "q4g32m", "d": "q4g32"}
    assert set(tensor_schemes("f16", stacks, shapes, dtypes).values()) == {"f16", "f32"}
    assert set(tensor_schemes("q4g32", stacks, shapes, dict.fromkeys(dtypes, "bf16")).values()) == {"q4g32", "f32"}
