"""Weight schemes: how a float32 tensor becomes the bytes the runtime reads.

q4g32 (linear weights and embeddings, `[N, K]`, K a multiple of 32):
  For each row and each group of 32 consecutive elements along K, let m be the element of largest
  magnitude (sign kept). The scale is d = f16(m / -8). Each element x becomes the 4-bit code
      q = clamp(floor(x / d + 8.5), 0, 15)          (d == 0: q = 8)
  and reads back as (q - 8) * d. Using m / -8 (not |m| / 7) maps m exactly onto code 0, so the
  largest element is exact and all 16 codes are used (the same trick as llama.cpp's Q4_0).
  Bytes: codes uint32 [N, K/8], element k in word k/8 at bits 4*(k%8) (little endian);
         scales float16 [N, K/32].
f16: the tensor as float16, row-major. f32: the tensor as float32 (norm weights and biases, always).
"""

import numpy as np

from sitegen.errors import SitegenError

GROUP = 32
CODE_OFFSET = 8
SCHEMES = ("q4g32", "f16")


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


def dequantize_q4g32(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    n = codes.shape[0]
    nibbles = codes.view(np.uint8).reshape(n, -1)
    q = np.stack([nibbles & 15, nibbles >> 4], axis=-1).reshape(n, -1, GROUP).astype(np.float32)
    return ((q - CODE_OFFSET) * scales.astype(np.float32)[:, :, None]).reshape(n, -1)
