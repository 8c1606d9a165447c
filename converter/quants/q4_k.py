"""Q4_K: 256-weight super-blocks, 8 sub-blocks of 32 with 6-bit scale and min, 4-bit labels (4.5 bits/weight)."""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import register
from ..core.quant_types import QType
from .common import QK_K, quantize_in_chunks
from .minmax_k import dequantize_minmax, make_kernel

BLOCK = np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qs", "u1", 128)])
assert BLOCK.itemsize == 144
# super-blocks per chunk, measured: big enough to amortize per-call overhead, and 8*CHUNK columns above 4096
# (at or below that, NumPy's broadcast multiplies measured ~1.5x slower here)
CHUNK = 576


def _pack(L: np.ndarray, out: np.ndarray) -> None:
    """Labels (32, 8, n) -> out["qs"] (n, 128).

    byte 32*k + l = L[sub-block 2k][l] | L[sub-block 2k+1][l] << 4   (k = 0..3, l = 0..31)"""
    Lr = L.reshape(32, 4, 2, -1)
    qs = Lr[:, :, 0] | (Lr[:, :, 1] << 4)          # (32, 4, n)
    out["qs"] = qs.transpose(2, 1, 0).reshape(-1, 128)


_kernel = make_kernel(15, False, _pack)


def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
    """Rows (n_rows, k*256) float32 -> Q4_K bytes, as ``ggml_quantize_chunk(GGML_TYPE_Q4_K, ...)``."""
    return quantize_in_chunks(rows, imatrix, QK_K, BLOCK, _kernel, CHUNK)


def dequantize(raw: np.ndarray) -> np.ndarray:
    """Q4_K bytes -> float32 weights (n_blocks * 256,)."""
    b = raw.reshape(-1).view(BLOCK)
    qs = b["qs"].reshape(-1, 4, 1, 32)
    q = np.concatenate([qs & 0xF, qs >> 4], axis=2).reshape(-1, 8, 32)
    return dequantize_minmax(b["d"], b["dmin"], b["scales"], q).reshape(-1)


register(QType.Q4_K, quantize, dequantize)
