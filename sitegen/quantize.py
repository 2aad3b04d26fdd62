"""Weight schemes: how a float32 tensor becomes the bytes the runtime reads.

q4g32 (linear weights and embeddings, `[N, K]`, K a multiple of 32):
  For each row and each group of 32 consecutive elements along K, let m be the element of largest
  magnitude (sign kept). The scale is d = f16(m / -8). Each element x becomes the 4-bit code
      q = clamp(floor(x / d + 8.5), 0, 15)          (d == 0: q = 8)
  and reads back as (q - 8) * d. Using m / -8 (not |m| / 7) maps m exactly onto code 0, so the
  largest element is exact and all 16 codes are used (the same trick as llama.cpp's Q4_0).
  Bytes: codes uint32 [N, K/8], element k in word k/8 at bits 4*(k%8) (little endian);
         scales float16 [N, K/32].
q8g32 (GGUF Q8_0's layout; ggml-quants.c dequantize_row_q8_0): per group of 32 along K an int8
  code q and one f16 scale d, value q * d. Bytes: codes uint32 [N, K/4], element k the signed byte
  k%4 of word k/4; scales float16 [N, K/32].
q4g32m (GGUF Q4_1's layout; ggml-quants.c dequantize_row_q4_1): per group of 32 a 4-bit code q, an
  f16 scale d and an f16 minimum m, value q * d + m. Bytes: codes as q4g32's (no offset); scales
  float16 [N, K/16], the pair (d, m) of group g at 2g, 2g + 1 (so one u32 word per group).
f16: the tensor as float16, row-major. f32: the tensor as float32 (norm weights and biases, always).

q8g32 and q4g32m encode a group either by transcoding a GGUF source's block (its own scale and
minimum, its codes recovered from gguf-py's dequantisation: TRANSCODES), or, from float32 values,
by their own rounding (round to nearest, ties to even):
  q8g32:  d = f16(max |x| / 127),                 q = round(x / d) (|q| <= 127 follows)
          (GGUF Q8_0's rule); error <= d / 2.
  q4g32m: d = f16((max x - min x) / 15), m = f16(min x), q = clamp(round((x - m) / d), 0, 15)
          (GGUF Q4_1's rule); error <= d / 2 + |m - min x| (the f16 rounding of the minimum).
Where d == 0 every code is 0 (value m).

Which scheme a tensor gets is `tensor_schemes` (below), the one place of that rule.
"""

import numpy as np

from sitegen.errors import SitegenError

GROUP = 32
CODE_OFFSET = 8
SCHEMES = ("q4g32", "f16")  # what --quant offers
# Every scheme a matrix can get, narrowest first: a stack takes the widest its members need.
WIDTH = ("q4g32", "q4g32m", "q8g32", "f16")

# Under --quant q4g32, the scheme of each GGUF block type (absent: f32/f16/bf16, and Q2_K/Q3_K,
# take --quant's q4g32: their values are requantised). Why each:
GGUF_SCHEMES = {
    # the source's values kept, bit for bit as gguf-py dequantises them:
    "q4_0": "q4g32",    # (q - 8) d: q4g32's own layout
    "q4_1": "q4g32m",   # q d + m: the same numbers
    "q5_0": "q8g32",    # (q - 16) d: int8 codes under the block's d
    "q8_0": "q8g32",    # q d: the same numbers
    "iq4_nl": "q8g32",  # grid[q] d, the non-linear grid (IQ4_NL.kvalues) int8 numbers
    # kept to the f16 rounding of a scale: q (d sc) - (dmin m) per 32, both factors rounded to f16,
    # so a value is off by at most 2^-11 (15 |d sc| + |dmin m|): under 1/100 of Q4_K's step d sc
    # where the minimum is within a few steps of zero, as trained weights' are
    "q4_k": "q4g32m",
    # requantised from float32 to int8 per 32 (error <= d / 2 = max|x| / 254, a small fraction of
    # the source's own step): what llama.cpp's presets use for the tensors they keep at higher
    # precision (5-8 bits), which no 4-bit scheme holds (Q6_K's 16-element scales do not fit one
    # int8 scale per 32 either) ...
    "q5_1": "q8g32", "q5_k": "q8g32", "q6_k": "q8g32",
    # ... and IQ4_XS's non-linear grid under 6-bit scales per 32, which a linear 4-bit scheme would
    # requantise with an error as large as its own (exact where a group holds the grid's -127)
    "iq4_xs": "q8g32",
}
# Q2_K and Q3_K stay at --quant's q4g32: below 4 bits, the source chose them for size, and q8g32
# would more than double it (their 16-element sub-blocks fit no 4-bit scheme exactly).


def _block_view(dtype: str, blocks: np.ndarray) -> np.ndarray:
    """uint8 [N, row bytes] of GGUF blocks -> uint8 [N, blocks per row, block bytes]."""
    # gguf is imported where GGUF blocks are read: benchmarks/synthetic_model.py imports this module
    # on GPU machines that have numpy and not gguf (tests/test_synthetic_model.py checks)
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType
    block_bytes = GGML_QUANT_SIZES[GGMLQuantizationType[dtype.upper()]][1]
    return np.ascontiguousarray(blocks).reshape(blocks.shape[0], -1, block_bytes)


def _leading_scale(dtype: str, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of 32 that start with their f16 scale d and hold d * integer (Q8_0, Q5_0, Q4_0,
    IQ4_NL; ggml-common.h): (d, m = 0) per group."""
    d = _block_view(dtype, blocks)[:, :, :2].copy().view("<f2")[:, :, 0].astype(np.float32)
    return d, np.zeros_like(d)


def _leading_scale_and_min(dtype: str, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_1 blocks (f16 d, f16 m, codes; ggml-common.h block_q4_1): (d, m) per group."""
    dm = _block_view(dtype, blocks)[:, :, :4].copy().view("<f2").astype(np.float32)
    return dm[:, :, 0], dm[:, :, 1]


def _k_quant_scale_and_min(dtype: str, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K super-blocks of 256 (f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, codes;
    ggml-common.h block_q4_K): per sub-block of 32, value = (d sc) q - (dmin m) (gguf-py quants.py
    Q4_K, whose get_scale_min unpacks sc and m): (d sc, -dmin m), exact in float32."""
    from gguf.quants import Q4_K  # as in _block_view
    b = _block_view(dtype, blocks)
    n = b.shape[0]
    d, dmin = (b[:, :, at:at + 2].copy().view("<f2").astype(np.float32) for at in (0, 2))  # [N, S, 1]
    sc, m = Q4_K.get_scale_min(b[:, :, 4:4 + Q4_K.K_SCALE_SIZE].reshape(-1, Q4_K.K_SCALE_SIZE))
    sc, m = sc.reshape(n, -1, 8).astype(np.float32), m.reshape(n, -1, 8).astype(np.float32)
    return (d * sc).reshape(n, -1), (-(dmin * m)).reshape(n, -1)


# scheme -> {GGUF type: its blocks' (scale, minimum) per group of 32, float32 [N, K/32] each}: the
# types whose values `scheme` holds under their own scale and minimum (see GGUF_SCHEMES). Q4_0 needs
# its entry under q4g32 too: q4g32's rounding gives back only blocks whose largest element has code 0,
# which llama.cpp's importance-matrix quantisation does not keep to.
TRANSCODES = {
    "q4g32": {"q4_0": _leading_scale},
    "q8g32": dict.fromkeys(("q8_0", "q5_0", "q4_0", "iq4_nl"), _leading_scale),
    "q4g32m": {"q4_1": _leading_scale_and_min, "q4_k": _k_quant_scale_and_min},
}
# The GGUF types whose values their scheme keeps (above; the manifest's "kept").
EXACT_SCHEMES = {dtype: scheme for dtype, scheme in GGUF_SCHEMES.items() if dtype in TRANSCODES[scheme]}
# Codes each scheme stores: inclusive range; q8g32 takes the whole int8 range a Q8_0 block may hold.
_CODES = {"q8g32": (-128, 127), "q4g32m": (0, 15), "q4g32": (0, 15)}


def tensor_schemes(quant: str, stacks: list[list[str]], shapes: dict, source_dtypes: dict) -> dict[str, str]:
    """The scheme of every tensor, by name: 1-D tensors (norms, biases) f32; matrices `quant`,
    except that under q4g32 a matrix from a GGUF block type gets GGUF_SCHEMES' scheme for it, and
    the matrices of a stack (the tensors one runtime tensor stacks, which must share a scheme)
    all take the widest (WIDTH) their members get, the narrower ones encoded into it.
    `stacks`: lists of names; `shapes`: shape by name; `source_dtypes`: TensorEntry.source_dtype
    by name ("q4_k", "f32", ...)."""
    schemes = {}
    for names in stacks:
        matrices = [name for name in names if len(shapes[name]) > 1]
        wanted = [GGUF_SCHEMES.get(source_dtypes[name], quant) if quant == "q4g32" else quant for name in matrices]
        widest = max(wanted, key=WIDTH.index, default=quant)
        schemes.update({name: widest if name in matrices else "f32" for name in names})
    return schemes


def transcodes(scheme: str, source_dtype: str) -> bool:
    """Whether `scheme` keeps the values of `source_dtype`'s blocks under their own scales
    (quantize_grouped then needs those blocks)."""
    return source_dtype in TRANSCODES.get(scheme, {})


def part_shapes(scheme: str, n: int, k: int) -> dict[str, tuple[str, list[int]]]:
    """{part: (dtype, shape)} of a [n, k] matrix in a grouped scheme."""
    return {"codes": ("u32", [n, k // 4 if scheme == "q8g32" else k // 8]),
            "scales": ("f16", [n, k // 16 if scheme == "q4g32m" else k // GROUP])}


def _own_scale_and_min(scheme: str, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d, m) float32 [N, K/32] by the scheme's own rule (module docstring), f16 values already."""
    if scheme == "q8g32":
        d = np.abs(groups).max(axis=2) / 127
        return d.astype(np.float16).astype(np.float32), np.zeros_like(d)
    hi, lo = groups.max(axis=2), groups.min(axis=2)
    return ((hi - lo) / 15).astype(np.float16).astype(np.float32), lo.astype(np.float16).astype(np.float32)


def quantize_grouped(scheme: str, x: np.ndarray, source_dtype: str | None = None,
                     blocks: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """float32 [N, K] -> (codes uint32, scales float16) of a grouped scheme (part_shapes). With `blocks`
    (the GGUF rows x was dequantised from, uint8 [N, row bytes] of type `source_dtype`, which `scheme`
    transcodes), each group takes its block's scale d and minimum m (rounded to f16; q4g32's minimum
    is -8 d, its code offset) and the codes q = round((x - m) / d) under the exact d and m, so q is
    the source's code; else d and m follow the scheme's own rule (q4g32: quantize_q4g32). Raises
    SitegenError where K is not a multiple of 32."""
    if scheme == "q4g32" and blocks is None:
        return quantize_q4g32(x)
    n, k = _check_rows(scheme, x)
    groups = np.ascontiguousarray(x, dtype=np.float32).reshape(n, -1, GROUP)
    d, m = (TRANSCODES[scheme][source_dtype](source_dtype, blocks) if blocks is not None
            else _own_scale_and_min(scheme, groups))
    if scheme == "q4g32":
        m = -CODE_OFFSET * d
    offsets = groups - m[:, :, None]
    steps = np.broadcast_to(d[:, :, None], offsets.shape)
    q = np.clip(np.rint(np.divide(offsets, steps, out=np.zeros_like(offsets), where=steps != 0)), *_CODES[scheme])
    if scheme == "q8g32":
        return q.astype(np.int8).reshape(n, -1).view("<u4"), d.astype(np.float16)
    codes = _pack_nibbles(q.astype(np.uint8).reshape(n, -1))
    return codes, (d if scheme == "q4g32" else np.stack([d, m], axis=2)).astype(np.float16).reshape(n, -1)


def _check_rows(scheme: str, x: np.ndarray) -> tuple[int, int]:
    """x's shape (N, K); SitegenError where K is not a multiple of GROUP."""
    n, k = x.shape
    if k % GROUP:
        raise SitegenError(f"{scheme} needs rows that are a multiple of {GROUP} long, got {k}; use --quant f16.")
    return n, k


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """uint8 codes 0..15 [N, K] -> uint32 [N, K/8], element k at bits 4*(k%8) of word k/8."""
    pairs = np.ascontiguousarray(q).view("<u2")  # two codes per u16: element 2i low byte, 2i+1 high byte
    return ((pairs & 0x0F) | ((pairs >> 4) & 0xF0)).astype(np.uint8).view("<u4")


def quantize_q4g32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 [N, K] -> (codes uint32 [N, K/8], scales float16 [N, K/32])."""
    n, k = _check_rows("q4g32", x)
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    starts = np.arange(0, flat.size, GROUP)
    # reduceat walks each group once; .max(axis=2) over 32-wide rows is 2x slower in numpy
    hi, lo = np.maximum.reduceat(flat, starts), np.minimum.reduceat(flat, starts)
    largest = np.where(-lo > hi, lo, hi)
    scales = (largest / -CODE_OFFSET).astype(np.float16)
    d = scales.astype(np.float32)
    inverse = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = flat.reshape(-1, GROUP) * inverse[:, None]
    q += CODE_OFFSET + 0.5
    np.clip(q, 0, 15.5, out=q)  # then truncation to uint8 is the floor
    return _pack_nibbles(q.astype(np.uint8).reshape(n, k)), scales.reshape(n, k // GROUP)


def _nibbles(codes: np.ndarray) -> np.ndarray:
    """uint32 [N, K/8] -> float32 [N, K/32, 32]: the 4-bit codes, in element order."""
    n = codes.shape[0]
    nibbles = codes.view(np.uint8).reshape(n, -1)
    return np.stack([nibbles & 15, nibbles >> 4], axis=-1).reshape(n, -1, GROUP).astype(np.float32)


def dequantize(scheme: str, codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """(codes uint32, scales float16) of a grouped scheme -> float32 [N, K]; q8g32 and q4g32m as
    gguf-py dequantizes Q8_0 (q * d) and Q4_1 (d * q + m) in float32, so bit for bit equal to it."""
    n = codes.shape[0]
    d = scales.astype(np.float32)
    if scheme == "q4g32":
        return ((_nibbles(codes) - CODE_OFFSET) * d[:, :, None]).reshape(n, -1)
    if scheme == "q8g32":
        q = codes.view(np.int8).reshape(n, -1, GROUP).astype(np.float32)
        return (q * d[:, :, None]).reshape(n, -1)
    d, m = d.reshape(n, -1, 2)[:, :, :1], d.reshape(n, -1, 2)[:, :, 1:]  # q4g32m
    return (d * _nibbles(codes) + m).reshape(n, -1)
