"""Q5_K: 256-weight super-blocks, 8 sub-blocks of 32 with 6-bit scale and min, 5-bit labels (5.5 bits/weight)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import register
from ..core.quant_types import QType
from .common import QK_K, quantize_in_chunks
from .minmax_k import dequantize_minmax, make_kernel

BLOCK = np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qh", "u1", 32), ("qs", "u1", 128)])
assert BLOCK.itemsize == 176
CHUNK = 576  # see q4_k.CHUNK
_BITS = (np.uint8(1) << np.arange(8, dtype=np.uint8)).reshape(1, 8, 1)


def _pack(L: np.ndarray, out: np.ndarray) -> None:
    """Labels (32, 8, n) -> out["qh"] (n, 32), out["qs"] (n, 128).

    qs byte 32*k + l = low nibble of L[sub 2k][l] | low nibble of L[sub 2k+1][l] << 4
    qh byte l        = bit s holds bit 4 of L[sub s][l]   (s = 0..7)"""
    Lr = L.reshape(32, 4, 2, -1)
    qs = (Lr[:, :, 0] & 0xF) | ((Lr[:, :, 1] & 0xF) << 4)
    qh = np.bitwise_or.reduce((L >> 4) * _BITS, axis=1)   # (32, n)
    out["qh"] = qh.T
    out["qs"] = qs.transpose(2, 1, 0).reshape(-1, 128)


_kernel = make_kernel(31, True, _pack)


def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
    """Rows (n_rows, k*256) float32 -> Q5_K bytes, as ``ggml_quantize_chunk(GGML_TYPE_Q5_K, ...)``."""
    return quantize_in_chunks(rows, imatrix, QK_K, BLOCK, _kernel, CHUNK)


def dequantize(raw: np.ndarray) -> np.ndarray:
    """Q5_K bytes -> float32 weights (n_blocks * 256,)."""
    b = raw.reshape(-1).view(BLOCK)
    qs = b["qs"].reshape(-1, 4, 1, 32)
    low = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(-1, 8, 32)
    high = (b["qh"][:, None, :] >> np.arange(8, dtype=np.uint8)[None, :, None]) & 1
    return dequantize_minmax(b["d"], b["dmin"], b["scales"], low | (high << 4)).reshape(-1)


register(QType.Q5_K, quantize, dequantize)
