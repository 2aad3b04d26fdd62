"""Weight schemes: how a float32 tensor becomes the bytes the runtime reads.

q4g32 (linear weights and embeddings, `[N, K]`, K a multiple of 32):
  For each row and each group of 32 consecutive elements along K, let m be the element of largest
  magnitude (sign kept). The scale is d = f16(m / -8). Each element x becomes the 4-bit code
      q = clamp(floor(x / d + 8.5), 0, 15)          (d == 0: q = 8)
  and reads back as (q - 8) * d. Using m / -8 (not |m| / 7) maps m exactly onto code 0, so the
  largest element is exact and all 16 codes are used (the same trick as llama.cpp's Q4_0).
  Bytes: codes uint32 [N, K/8], element k in word k/8 at bits 4*(k%8) (little endian);
         scales float16 [N, K/32].
q8g32 (a GGUF source's Q8_0 tensors, copied block for block; gguf-py quants.py Q8_0,
  ggml-quants.c dequantize_row_q8_0): per group of 32 along K an int8 code q and one f16 scale d,
  value q * d. Bytes: codes uint32 [N, K/4], element k the signed byte k%4 of word k/4;
  scales float16 [N, K/32].
q4g32m (a GGUF source's Q4_1 tensors, copied block for block; gguf-py quants.py Q4_1,
  ggml-quants.c dequantize_row_q4_1): per group of 32 a 4-bit code q, an f16 scale d and an f16
  minimum m, value q * d + m. Bytes: codes as q4g32's (no offset); scales float16 [N, K/16], the
  pair (d, m) of group g at 2g, 2g + 1 (so one u32 word per group).
f16: the tensor as float16, row-major. f32: the tensor as float32 (norm weights and biases, always).

Which scheme a tensor gets is `tensor_schemes` (below), the one place of that rule.
"""

import numpy as np

from sitegen.errors import SitegenError

GROUP = 32
CODE_OFFSET = 8
SCHEMES = ("q4g32", "f16")  # what --quant offers
# GGUF block types kept exactly under --quant q4g32: the source's codes and scales are copied.
# Q4_0 needs no entry: its blocks are q4g32's groups (x = (q - 8) * d, d = max / -8 in f16,
# ggml-quants.c quantize_row_q4_0_ref), so requantising their float32 values gives them back
# bit for bit (tests/test_quantize.py checks it).
EXACT_SCHEMES = {"q8_0": "q8g32", "q4_1": "q4g32m"}
# Bytes of one GGUF block of 32 of each (ggml-common.h block_q8_0, block_q4_1).
_BLOCK_BYTES = {"q8g32": 34, "q4g32m": 20}


def tensor_schemes(quant: str, stacks: list[list[str]], shapes: dict, source_dtypes: dict) -> dict[str, str]:
    """The scheme of every tensor, by name: 1-D tensors (norms, biases) f32; matrices `quant`,
    except that under q4g32 a stack (the tensors one runtime tensor stacks, which must share a
    scheme) whose members a GGUF holds all as Q8_0, or all as Q4_1, keeps those blocks exactly
    (EXACT_SCHEMES). `stacks`: lists of names; `source_dtypes`: TensorEntry.source_dtype by name."""
    schemes = {}
    for names in stacks:
        exact = {EXACT_SCHEMES.get(source_dtypes[name]) for name in names}
        matrix = exact.pop() if quant == "q4g32" and len(exact) == 1 and None not in exact else quant
        for name in names:
            schemes[name] = "f32" if len(shapes[name]) == 1 else matrix
    return schemes


def part_shapes(scheme: str, n: int, k: int) -> dict[str, tuple[str, list[int]]]:
    """{part: (dtype, shape)} of a [n, k] matrix in a grouped scheme."""
    return {"codes": ("u32", [n, k // 4 if scheme == "q8g32" else k // 8]),
            "scales": ("f16", [n, k // 16 if scheme == "q4g32m" else k // GROUP])}


def copy_gguf_blocks(scheme: str, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A GGUF's raw rows (uint8 [N, K/32 * block bytes]) of Q8_0 (scheme q8g32) or Q4_1 (q4g32m)
    -> (codes uint32, scales float16) of `scheme`, the same numbers rearranged.
    Q8_0 block: f16 d, int8 qs[32]; Q4_1 block: f16 d, f16 m, u8 qs[16], element j in the low
    nibble of qs[j] and element j + 16 in its high nibble (ggml-common.h)."""
    n = blocks.shape[0]
    b = np.ascontiguousarray(blocks).reshape(n, -1, _BLOCK_BYTES[scheme])
    if scheme == "q8g32":
        return b[:, :, 2:].reshape(n, -1).view("<u4"), b[:, :, :2].reshape(n, -1).view("<f2")
    qs = b[:, :, 4:]
    q = np.concatenate([qs & 15, qs >> 4], axis=2).reshape(n, -1, 2)  # in element order, in pairs
    packed = (q[:, :, 0] | (q[:, :, 1] << 4)).astype(np.uint8)  # element 2i low nibble
    return packed.reshape(n, -1).view("<u4"), b[:, :, :4].reshape(n, -1).view("<f2")


def quantize_q4g32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 [N, K] -> (codes uint32 [N, K/8], scales float16 [N, K/32])."""
    n, k = x.shape
    if k % GROUP:
        raise SitegenError(f"q4g32 needs rows that are a multiple of {GROUP} long, got {k}; use --quant f16.")
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
    codes = q.astype(np.uint8).view("<u2")  # two codes per u16: element 2i low byte, 2i+1 high byte
    packed = ((codes & 0x0F) | ((codes >> 4) & 0xF0)).astype(np.uint8)  # element 2i low nibble
    return packed.view("<u4").reshape(n, k // 8), scales.reshape(n, k // GROUP)


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
