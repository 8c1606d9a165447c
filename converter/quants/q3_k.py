"""Q3_K: 256-weight super-blocks, 16 sub-blocks of 16 with 6-bit scales, 3-bit labels (3.4375 bits/weight).

Without an importance matrix llama.cpp runs ``quantize_row_q3_K_ref`` (``make_q3_quants`` per sub-block, scales
quantized against the largest in magnitude); with one, ``quantize_row_q3_K_impl`` (``make_qx_quants`` with weights
``qw * sqrt(sigma2 + x^2)``, then ``make_qx_quants`` again over the 16 scales). Labels are then re-derived from
the fp16 super-block scale.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import register
from ..core.quant_types import QType
from .common import F32, QK_K, first_absmax, fp16, from_positions, importance_weights, nearest_int
from .common import pack_2bit, quantize_in_chunks, seq_sum, to_positions, unpack_2bit
from .qx_search import make_qx_quants
from .search import make_q3_quants

BLOCK = np.dtype([("hmask", "u1", 32), ("qs", "u1", 64), ("scales", "u1", 12), ("d", "<f2")])
assert BLOCK.itemsize == 110
CHUNK_PLAIN = 2048  # make_q3_quants' refinement sweeps pay per call: big chunks
CHUNK_IMATRIX = 512


def pack_scales_6bit(ls: np.ndarray) -> np.ndarray:
    """16 six-bit scales (16, n) -> (n, 12) bytes:

    byte j   (j<8): bits 0-3 = low nibble of s[j],  bits 4-7 = low nibble of s[j+8]
    byte 8+i (i<4): bits 2k..2k+1 = high 2 bits of s[i + 4k]   (k = 0..3)"""
    ls = ls.astype(np.uint8)
    out = np.empty((ls.shape[1], 12), dtype=np.uint8)
    out[:, 0:8] = ((ls[0:8] & 0xF) | ((ls[8:16] & 0xF) << 4)).T
    hi = (ls >> 4).reshape(4, 4, -1)                            # [k, i] = s[4k + i]
    out[:, 8:12] = (hi[0] | (hi[1] << 2) | (hi[2] << 4) | (hi[3] << 6)).T
    return out


def unpack_scales_6bit(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_scales_6bit`: (n, 12) -> (16, n) uint8 0..63."""
    q = packed.T
    low = np.concatenate([q[0:8] & 0xF, q[0:8] >> 4])           # (16, n)
    hi = (q[8:12][None] >> (2 * np.arange(4, dtype=np.uint8)).reshape(4, 1, 1)) & 3   # [k, i]
    return low | (hi.reshape(16, -1) << 4)


def _kernel(xs: np.ndarray, qw: Optional[np.ndarray], out: np.ndarray) -> None:
    X = to_positions(xs, 16)                                   # (16, 16, n)
    with np.errstate(all="ignore"):
        if qw is None:
            scales, L = make_q3_quants(X, 4)
            _, max_scale = first_absmax(scales)
            live = max_scale != 0
            iscale = F32(-32) / max_scale
            ls = np.clip(nearest_int(iscale * scales).astype(np.int8), -32, 31).astype(np.int32) + 32
            ls = np.where(live, ls, 0)
            d_block = np.where(live, F32(1) / iscale, F32(0))
        else:
            W = importance_weights(X, qw, 2)
            scales, L = make_qx_quants(X, 4, W)
            d_block, ls = make_qx_quants(scales, 32, seq_sum(W))
        packed = pack_scales_6bit(ls)
        d16, d32 = fp16(d_block)
        sc = unpack_scales_6bit(packed).astype(np.int8) - np.int8(32)
        d = d32 * sc.astype(F32)
        lab = nearest_int(X / d)
        np.clip(lab, -4, 3, out=lab)
        lab += 4
        np.copyto(L, lab, where=d != 0)
    L = from_positions(L.astype(np.uint8))                     # (n, 256), labels 0..7 (bytes transpose faster)
    # bit 2 of label j goes to hmask[j % 32], bit j // 32
    high = (L >> 2).reshape(-1, 8, 32)
    out["hmask"] = np.bitwise_or.reduce(high << np.arange(8, dtype=np.uint8).reshape(1, 8, 1), axis=1)
    out["qs"] = pack_2bit(L & 3)
    out["scales"] = packed
    out["d"] = d16


def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
    """Rows (n_rows, k*256) float32 -> Q3_K bytes, as ``ggml_quantize_chunk(GGML_TYPE_Q3_K, ...)``."""
    chunk = CHUNK_PLAIN if imatrix is None else CHUNK_IMATRIX
    return quantize_in_chunks(rows, imatrix, QK_K, BLOCK, _kernel, chunk)


def dequantize(raw: np.ndarray) -> np.ndarray:
    """Q3_K bytes -> float32 weights (n_blocks * 256,)."""
    b = raw.reshape(-1).view(BLOCK)
    n = b.shape[0]
    high = (b["hmask"][:, None, :] >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)) & 1   # (n, 8, 32)
    q = unpack_2bit(b["qs"]).astype(np.int16) - 4 * (1 - high.reshape(n, 256).astype(np.int16))
    sc = unpack_scales_6bit(b["scales"]).T.astype(np.int16) - 32                             # (n, 16)
    dl = b["d"].astype(F32)[:, None] * sc.astype(F32)
    return (dl[:, :, None] * q.reshape(n, 16, 16).astype(F32)).reshape(-1)


register(QType.Q3_K, quantize, dequantize)
