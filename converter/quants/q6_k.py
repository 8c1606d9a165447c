"""Q6_K: 256-weight super-blocks, 16 sub-blocks of 16 with int8 scales, 6-bit labels (6.5625 bits/weight).

Both llama.cpp paths run ``make_qx_quants(16, 32, ..., rmse_type=1)`` per sub-block (weights ``x*x`` without an
importance matrix, the raw importance with one), then quantize the 16 scales against the largest in magnitude.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import register
from ..core.quant_types import QType
from .common import F32, GROUP_MAX_EPS, QK_K, first_absmax, fp16, nearest_int, quantize_in_chunks
from .common import to_positions
from .qx_search import qx_labels, qx_search

BLOCK = np.dtype([("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", "<f2")])
assert BLOCK.itemsize == 210
CHUNK = 512


def _pack(L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels 0..63 (n, 256) -> (ql (n, 128), qh (n, 64)). Per half h (128 weights), with q_k = L[128h + 32k + l]:

    ql[64h + l]      = q_0 & 15 | (q_2 & 15) << 4
    ql[64h + 32 + l] = q_1 & 15 | (q_3 & 15) << 4
    qh[32h + l]      = q_0 >> 4 | (q_1 >> 4) << 2 | (q_2 >> 4) << 4 | (q_3 >> 4) << 6"""
    n = L.shape[0]
    q = L.reshape(n, 2, 4, 32).astype(np.uint8)
    ql = np.empty((n, 2, 2, 32), dtype=np.uint8)
    ql[:, :, 0] = (q[:, :, 0] & 0xF) | ((q[:, :, 2] & 0xF) << 4)
    ql[:, :, 1] = (q[:, :, 1] & 0xF) | ((q[:, :, 3] & 0xF) << 4)
    qh = (q[:, :, 0] >> 4) | ((q[:, :, 1] >> 4) << 2) | ((q[:, :, 2] >> 4) << 4) | ((q[:, :, 3] >> 4) << 6)
    return ql.reshape(n, 128), qh.reshape(n, 64)


def _kernel(xs: np.ndarray, qw: Optional[np.ndarray], out: np.ndarray) -> None:
    """The search runs position-first; the final labels, which depend only on each weight and its sub-block's
    fp16-derived scale ``d``, are computed straight in the row layout (no transpose back). Only sub-blocks whose
    ``d`` is 0 keep the search's labels, so only those are computed from the winning inverse scale."""
    n = xs.shape[0]
    X = to_positions(xs, 16)                                  # (16, 16, n)
    res = qx_search(X, 32, None if qw is None else to_positions(qw, 16))
    scales = res.scale
    amax, max_scale = first_absmax(scales)
    live = amax >= GROUP_MAX_EPS                              # other super-blocks stay all zero bytes
    with np.errstate(all="ignore"):
        iscale = F32(-128) / max_scale
        d16, d32 = fp16(F32(1) / iscale)
        sc = np.minimum(nearest_int(iscale * scales), 127).astype(np.int8)
        d = d32 * sc.astype(F32)                              # (16, n)
        v = xs.reshape(n, 16, 16) / d.T[:, :, None]           # C: x / d
        lab = nearest_int(v).reshape(n, 256)
    np.clip(lab, -32, 31, out=lab)
    lab += 32
    dead = d == 0
    if dead.any():                                            # keep make_qx_quants' labels there
        sub, blk = np.nonzero(dead)
        lab.reshape(n, 16, 16)[blk, sub] = qx_labels(X, res, 32, dead).T
    ql, qh = _pack(lab)
    keep = live.astype(np.uint8)[:, None]                     # integer masks: np.where costs several times more
    out["ql"] = ql * keep
    out["qh"] = qh * keep
    out["scales"] = (sc.T.view(np.uint8) * keep).view(np.int8)
    out["d"] = (d16.view(np.uint16) * keep[:, 0]).view(np.float16)   # +0 bits where not live


def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
    """Rows (n_rows, k*256) float32 -> Q6_K bytes, as ``ggml_quantize_chunk(GGML_TYPE_Q6_K, ...)``."""
    return quantize_in_chunks(rows, imatrix, QK_K, BLOCK, _kernel, CHUNK)


def dequantize(raw: np.ndarray) -> np.ndarray:
    """Q6_K bytes -> float32 weights (n_blocks * 256,)."""
    b = raw.reshape(-1).view(BLOCK)
    n = b.shape[0]
    ql = b["ql"].reshape(n, 2, 2, 32)
    qh = b["qh"].reshape(n, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1) & 3
    low = np.stack([ql[:, :, 0] & 0xF, ql[:, :, 1] & 0xF, ql[:, :, 0] >> 4, ql[:, :, 1] >> 4], axis=2)
    q = (low | (qh << 4)).astype(np.int16) - 32                # (n, 2, 4, 32)
    dl = b["d"].astype(F32)[:, None] * b["scales"].astype(F32)  # (n, 16)
    return (dl.reshape(n, 16, 1) * q.reshape(n, 16, 16).astype(F32)).reshape(-1)


register(QType.Q6_K, quantize, dequantize)
