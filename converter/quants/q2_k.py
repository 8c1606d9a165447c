"""Q2_K: 256-weight super-blocks, 16 sub-blocks of 16 with 4-bit scale and min, 2-bit labels (2.625 bits/weight).

Without an importance matrix llama.cpp runs ``quantize_row_q2_K_ref`` (``make_qkx2_quants`` with weights ``|x|``
and absolute error, scales and mins quantized against their maxima); with one, ``quantize_row_q2_K_impl``
(``make_qkx3_quants`` with weights ``qw * sqrt(sigma2 + x^2)``, scales and mins by ``make_qp_quants``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import register
from ..core.quant_types import QType
from .common import F32, QK_K, fp16, from_positions, importance_weights, nearest_int, pack_2bit
from .common import nearest_labels, quantize_in_chunks, seq_sum, to_positions, unpack_2bit
from .qkx_search import qkx_labels, qkx_search
from .search import make_qp_quants_pair

BLOCK = np.dtype([("scales", "u1", 16), ("qs", "u1", 64), ("d", "<f2"), ("dmin", "<f2")])
assert BLOCK.itemsize == 84
CHUNK = 512


def _against_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-bit labels of (16, n) non-negative values against their maximum: (labels uint8, max / 15)."""
    top = values.max(axis=0)
    top = np.where(top > 0, top, F32(0))
    iscale = F32(15) / top
    labels = np.where(top > 0, nearest_int(iscale * values), 0)
    return labels.astype(np.uint8), top / F32(15)


def _kernel(xs: np.ndarray, qw: Optional[np.ndarray], out: np.ndarray) -> None:
    X = to_positions(xs, 16)                                   # (16, 16, n)
    with np.errstate(all="ignore"):
        if qw is None:
            res = qkx_search(X, np.abs(X), 3, -0.5, 0.1, 15, use_mad=True)
            scales, mins = res.scale, res.the_min
            ls, d_block = _against_max(scales)
            lm, m_block = _against_max(mins)
        else:
            W = importance_weights(X, qw, 1)
            sw = seq_sum(W)
            res = qkx_search(X, W, 3, -0.9, 0.05, 36)
            scales, mins = res.scale, res.the_min
            d_block, ls, m_block, lm = make_qp_quants_pair(scales, mins, 15, sw)
        packed = ls | (lm << 4)                                # (16, n) uint8, C's byte arithmetic
        d16, d32 = fp16(d_block)
        dmin16, dmin32 = fp16(m_block)
        d = d32 * (packed & 0xF).astype(F32)
        dm = dmin32 * (packed >> 4).astype(F32)
        v = X + dm
        v /= d
        dead = d == 0                                          # there C keeps the search's labels
        if dead.any():
            v[:, dead] = F32(0)
        L = nearest_labels(v, 0, 3)
        if dead.any():
            L[:, dead] = qkx_labels(X, res, 3, dead)
    out["scales"] = packed.T
    out["qs"] = pack_2bit(from_positions(L))
    out["d"] = d16
    out["dmin"] = dmin16


def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
    """Rows (n_rows, k*256) float32 -> Q2_K bytes, as ``ggml_quantize_chunk(GGML_TYPE_Q2_K, ...)``."""
    return quantize_in_chunks(rows, imatrix, QK_K, BLOCK, _kernel, CHUNK)


def dequantize(raw: np.ndarray) -> np.ndarray:
    """Q2_K bytes -> float32 weights (n_blocks * 256,)."""
    b = raw.reshape(-1).view(BLOCK)
    n = b.shape[0]
    q = unpack_2bit(b["qs"]).reshape(n, 16, 16).astype(F32)
    dl = b["d"].astype(F32)[:, None] * (b["scales"] & 0xF).astype(F32)
    ml = b["dmin"].astype(F32)[:, None] * (b["scales"] >> 4).astype(F32)
    return (dl[:, :, None] * q - ml[:, :, None]).reshape(-1)


register(QType.Q2_K, quantize, dequantize)
