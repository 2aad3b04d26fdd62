import numpy as np
import pytest

from sitegen.errors import SitegenError
from sitegen.loaders.gguf import load_gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize

from sitegen.quantize import dequantize, part_shapes, quantize_grouped, quantize_q4g32, tensor_schemes, transcodes
from tests.gguf_fixtures import random_blocks


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


# The GGUF types each scheme keeps under the source's own scales (sitegen/quantize.py TRANSCODES).
EXACT = [(Q.Q8_0, "q8g32"), (Q.Q5_0, "q8g32"), (Q.Q4_0, "q8g32"), (Q.IQ4_NL, "q8g32"), (Q.Q4_1, "q4g32m"),
         (Q.Q4_0, "q4g32")]


def _transcoded(qtype, scheme, blocks):
    """(source values as gguf-py dequantises them, our decoding of the transcode, its scales)."""
    source = gguf_dequantize(blocks, qtype).astype(np.float32)
    codes, scales = quantize_grouped(scheme, source, qtype.name.lower(), blocks)
    assert codes.dtype == np.uint32 and scales.dtype == np.float16
    shapes = part_shapes(scheme, *source.shape)
    assert shapes == {"codes": ("u32", list(codes.shape)), "scales": ("f16", list(scales.shape))}
    return source, dequantize(scheme, codes, scales), scales.astype(np.float32)


@pytest.mark.parametrize("qtype, scheme", EXACT, ids=[f"{q.name}-{s}" for q, s in EXACT])
@pytest.mark.parametrize("origin", ["random blocks", "quantised weights"])
def test_exact_transcodes_decode_bit_for_bit_as_gguf_py(qtype, scheme, origin):
    # random blocks hold every code (Q8_0's -128 too) and scales of either sign
    blocks = (random_blocks(8, 256, qtype, np.random.default_rng(1)) if origin == "random blocks" or qtype == Q.IQ4_NL
              else gguf_quantize(_weights(cols=256), qtype))
    assert transcodes(scheme, qtype.name.lower())
    source, restored, _ = _transcoded(qtype, scheme, blocks)
    assert restored.tobytes() == source.tobytes()


def test_q4_k_transcode_is_exact_but_for_f16_rounding_of_each_sub_block_scale_and_min():
    # value = (d sc) q - (dmin m) per 32; q4g32m stores f16(d sc), f16(-dmin m): each off by at
    # most half an f16 ulp (2^-11 relative), so a value by at most 2^-11 (15 |d'| + |m'|)
    blocks = random_blocks(16, 512, Q.Q4_K, np.random.default_rng(2))
    source, restored, scales = _transcoded(Q.Q4_K, "q4g32m", blocks)
    assert np.abs(restored - source).max() > 0  # the rounding is real: this is not a copy
    _assert_within_f16_rounding_of_scale_and_min(source, restored, scales)


def _assert_within_f16_rounding_of_scale_and_min(source, restored, scales):
    # f16 rounds by at most 2^-11 relative, or 2^-25 absolute below 2^-14 (subnormals)
    d, m = (np.repeat(scales[:, i::2], 32, axis=1) for i in (0, 1))
    bound = (2.0 ** -11 * (15 * np.abs(d) + np.abs(m)) + 16 * 2.0 ** -25) * (1 + 2.0 ** -10) + 1e-7 * np.abs(source)
    assert np.all(np.abs(restored - source) <= bound)
    # far below Q4_K's own step d
    assert np.all(np.abs(restored - source) <= np.abs(d) / 100 + np.abs(m) * 2.0 ** -10 + 2.0 ** -20)


def test_the_gemma3_270m_gguf_keeps_its_blocks(gemma3_270m_gguf):
    # the real Q4_K_M file: each matrix's type, and one layer's transcodes of each
    tensors = load_gguf(gemma3_270m_gguf).tensors
    dtypes = {name: entry.source_dtype for name, entry in tensors.items() if len(entry.shape) == 2}
    assert set(dtypes.values()) == {"q8_0", "q5_0", "q4_k", "q6_k"}
    for dtype, scheme in (("q8_0", "q8g32"), ("q5_0", "q8g32"), ("q4_k", "q4g32m"), ("q6_k", "q8g32")):
        name = next(name for name, have in dtypes.items() if have == dtype and name != "model.embed_tokens.weight")
        source, blocks = tensors[name].read(), tensors[name].read_blocks(0, tensors[name].shape[0])
        codes, scales = quantize_grouped(scheme, source, dtype, blocks if transcodes(scheme, dtype) else None)
        restored = dequantize(scheme, codes, scales)
        if dtype == "q4_k":
            _assert_within_f16_rounding_of_scale_and_min(source, restored, scales.astype(np.float32))
        elif dtype == "q6_k":  # requantised: within half an int8 step
            step = np.repeat(scales.astype(np.float32), 32, axis=1)
            assert np.all(np.abs(restored - source) <= step / 2 * (1 + 1e-6))
        else:
            assert restored.tobytes() == source.tobytes(), name


@pytest.mark.parametrize("qtype", [Q.Q6_K, Q.Q5_K, Q.Q5_1, Q.IQ4_XS, Q.Q4_1, Q.F32])
def test_q8g32_requantises_within_half_a_step(qtype):
    # d = f16(max |x| / 127) per group, codes round(x / d): every value within d / 2
    rng = np.random.default_rng(3)
    source = (gguf_dequantize(random_blocks(8, 512, qtype, rng), qtype) if qtype != Q.F32 else _weights(cols=512)
              ).astype(np.float32)
    assert not transcodes("q8g32", qtype.name.lower())
    codes, scales = quantize_grouped("q8g32", source)
    groups = source.reshape(8, -1, 32)
    assert scales.tobytes() == (np.abs(groups).max(axis=2) / 127).astype(np.float16).tobytes()
    d = np.repeat(scales.astype(np.float32), 32, axis=1)
    error = np.abs(dequantize("q8g32", codes, scales) - source)
    assert np.all(error <= d / 2 * (1 + 1e-6))
    assert np.median(error / np.abs(source).max()) < 1 / 254


def test_q4g32m_requantises_by_q4_1s_rule():
    # d = f16((max - min) / 15), m = f16(min): every value within d / 2 + |m - min|
    source = _weights(cols=256)
    codes, scales = quantize_grouped("q4g32m", source)
    groups = source.reshape(8, -1, 32)
    d, m = scales[:, 0::2].astype(np.float32), scales[:, 1::2].astype(np.float32)
    assert scales[:, 1::2].tobytes() == groups.min(axis=2).astype(np.float16).tobytes()
    assert scales[:, 0::2].tobytes() == ((groups.max(axis=2) - groups.min(axis=2)) / 15).astype(np.float16).tobytes()
    bound = d / 2 + np.abs(m - groups.min(axis=2))
    error = np.abs(dequantize("q4g32m", codes, scales) - source).reshape(8, -1, 32).max(axis=2)
    assert np.all(error <= bound * (1 + 1e-5))


def test_q8g32_and_q4g32m_layouts():
    x = _weights(1, 32)
    codes, scales = quantize_grouped("q8g32", x)
    assert codes.shape == (1, 8) and scales.shape == (1, 1)
    q = np.round(x[0] / scales[0, 0].astype(np.float32)).astype(np.int8)  # element k: byte k % 4 of word k / 4
    assert [np.int8((codes[0, k // 4] >> (8 * (k % 4))) & 255) for k in range(32)] == list(q)
    codes, scales = quantize_grouped("q4g32m", x)
    assert codes.shape == (1, 4) and scales.shape == (1, 2)  # (d, m)
    d, m = scales[0].astype(np.float32)
    assert m == np.float16(x.min()) and d > 0
    nibbles = [(codes[0, k // 8] >> (4 * (k % 8))) & 15 for k in range(32)]
    assert nibbles[int(np.argmin(x[0]))] == 0 and nibbles[int(np.argmax(x[0]))] == 15


@pytest.mark.parametrize("scheme", ["q8g32", "q4g32m"])
def test_grouped_schemes_reject_rows_not_a_multiple_of_32(scheme):
    with pytest.raises(SitegenError, match=f"{scheme} needs rows that are a multiple of 32.*--quant f16"):
        quantize_grouped(scheme, np.zeros((2, 48), dtype=np.float32))


def test_q4_0_blocks_requantise_to_q4g32_bit_for_bit():
    # Q4_0 is q4g32's own rounding (d = f16(max / -8), codes offset 8): its values give it back
    blocks = gguf_quantize(_weights(), Q.Q4_0)
    source = gguf_dequantize(blocks, Q.Q4_0).astype(np.float32)
    assert dequantize("q4g32", *quantize_q4g32(source)).tobytes() == source.tobytes()


def test_tensor_schemes_per_gguf_type_and_widest_per_stack():
    # Gemma 3 270M's Q4_K_M file: q/k Q5_0, v Q8_0 or Q5_0, gate/up Q5_0, o Q4_K, down Q4_K or Q6_K
    stacks = [["e"], ["n"], ["q", "k", "v"], ["g", "u"], ["o"], ["d"], ["d6"], ["a", "b"], ["c", "c1"], ["x"],
              ["y"], ["z"]]
    shapes = dict.fromkeys(sum(stacks, []), (32, 32)) | {"n": (32,)}
    dtypes = {"e": "q8_0", "n": "f32", "q": "q5_0", "k": "q5_0", "v": "q8_0", "g": "q5_0", "u": "q5_0", "o": "q4_k",
              "d": "q4_k", "d6": "q6_k", "a": "q4_0", "b": "q4_k", "c": "q4_1", "c1": "q8_0", "x": "q3_k", "y": "bf16",
              "z": "q4_0"}
    assert tensor_schemes("q4g32", stacks, shapes, dtypes) == {
        "e": "q8g32", "n": "f32", "q": "q8g32", "k": "q8g32", "v": "q8g32", "g": "q8g32", "u": "q8g32",
        "o": "q4g32m", "d": "q4g32m", "d6": "q8g32",
        "a": "q4g32m", "b": "q4g32m", "c": "q8g32", "c1": "q8g32",  # a stack takes its widest member's scheme
        "x": "q4g32", "y": "q4g32", "z": "q4g32"}  # Q3_K and float sources: --quant's own
    assert set(tensor_schemes("f16", stacks, shapes, dtypes).values()) == {"f16", "f32"}
    assert set(tensor_schemes("q4g32", stacks, shapes, dict.fromkeys(dtypes, "bf16")).values()) == {"q4g32", "f32"}


def test_a_member_encoded_into_a_wider_scheme_than_its_own():
    # Q4_0 inside a q8g32 stack keeps its values (int8 codes q - 8 under its d); Q4_1 inside one
    # is requantised (its minimum fits no symmetric int8 group)
    assert transcodes("q8g32", "q4_0") and not transcodes("q8g32", "q4_1") and not transcodes("q4g32m", "q4_0")
    blocks = gguf_quantize(_weights(), Q.Q4_0)
    source, restored, _ = _transcoded(Q.Q4_0, "q8g32", blocks)
    assert restored.tobytes() == source.tobytes()
