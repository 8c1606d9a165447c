"""The part Q4_K and Q5_K share: super-blocks of 8 sub-blocks of 32 weights, ``x ~ d*sc*L - dmin*m`` with 6-bit
sub-block scales ``sc`` and mins ``m`` packed into 12 bytes.

Without an importance matrix llama.cpp runs ``quantize_row_q{4,5}_K_ref`` (``make_qkx2_quants`` per sub-block,
weights ``sqrt(mean x^2) + |x|``, scales quantized against their maximum); with one it runs
``quantize_row_q{4,5}_K_impl`` (``make_qkx3_quants`` with weights ``qw * sqrt(sigma2 + x^2)``, scales quantized
by ``make_qp_quants``). Both end by re-deriving every label from the fp16-rounded scales.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import numpy as np

from .common import F32, fp16, importance_weights, nearest_int, nearest_labels, seq_sum, to_positions
from .qkx_search import qkx_labels, qkx_search
from .search import make_qp_quants_pair

# ref path search parameters (rmin, rdelta, nstep) by nmax; the imatrix path always uses (-0.9, 0.05, 36)
_REF_SEARCH = {15: (-1.0, 0.1, 20), 31: (-0.5, 0.1, 15)}


class MinMaxBlocks(NamedTuple):
    d: np.ndarray        # float16 (n,)
    dmin: np.ndarray     # float16 (n,)
    scales: np.ndarray   # uint8 (n, 12)
    L: np.ndarray        # labels 0..nmax, (32, 8, n) position-first


def pack_scales_k4(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Pack 8 six-bit scales and mins, (8, n) uint8 each, into (n, 12) bytes.

    byte j   (j<4): bits 0-5 = sc[j],    bits 6-7 = sc[j+4] >> 4
    byte j+4 (j<4): bits 0-5 = m[j],     bits 6-7 = m[j+4] >> 4
    byte j+8 (j<4): bits 0-3 = sc[j+4] & 15, bits 4-7 = m[j+4] & 15
    (written with the C code's uint8 arithmetic, so out-of-range labels overlap the same way)."""
    ls = ls.astype(np.uint8)
    lm = lm.astype(np.uint8)
    out = np.empty((ls.shape[1], 12), dtype=np.uint8)
    out[:, 0:4] = (ls[0:4] | ((ls[4:8] >> 4) << 6)).T
    out[:, 4:8] = (lm[0:4] | ((lm[4:8] >> 4) << 6)).T
    out[:, 8:12] = ((ls[4:8] & 0xF) | ((lm[4:8] & 0xF) << 4)).T
    return out


def unpack_scales_k4(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``get_scale_min_k4`` for all 8 sub-blocks: (n, 12) -> (sc, m), each (8, n) uint8."""
    q = packed.T
    sc = np.empty((8, packed.shape[0]), dtype=np.uint8)
    m = np.empty_like(sc)
    sc[0:4] = q[0:4] & 63
    m[0:4] = q[4:8] & 63
    sc[4:8] = (q[8:12] & 0xF) | ((q[0:4] >> 6) << 4)
    m[4:8] = (q[8:12] >> 4) | ((q[4:8] >> 6) << 4)
    return sc, m


def quantize_minmax(xs: np.ndarray, qw: Optional[np.ndarray], nmax: int, clamp_qp: bool) -> MinMaxBlocks:
    """Quantize (n, 256) float32 super-blocks; ``qw`` (n, 256) importance or None (reference path).

    ``clamp_qp``: apply ``MIN(63, .)`` to make_qp_quants' labels (Q5_K does, Q4_K does not)."""
    X = to_positions(xs, 32)                      # (32, 8, n)
    with np.errstate(all="ignore"):
        if qw is None:
            av_x = np.sqrt(seq_sum(X * X) / F32(32))
            W = np.abs(X)
            W += av_x
            rmin, rdelta, nstep = _REF_SEARCH[nmax]
            res = qkx_search(X, W, nmax, rmin, rdelta, nstep)
            scales, mins = res.scale, res.the_min
            max_scale = scales.max(axis=0)
            max_scale = np.where(max_scale > 0, max_scale, F32(0))
            max_min = mins.max(axis=0)
            max_min = np.where(max_min > 0, max_min, F32(0))
            inv_scale = np.where(max_scale > 0, F32(63) / max_scale, F32(0))
            inv_min = np.where(max_min > 0, F32(63) / max_min, F32(0))
            ls = np.minimum(nearest_int(inv_scale * scales).astype(np.uint8), 63)
            lm = np.minimum(nearest_int(inv_min * mins).astype(np.uint8), 63)
            d_block, m_block = max_scale / F32(63), max_min / F32(63)
        else:
            W = importance_weights(X, qw, 2)
            sw = seq_sum(W)
            res = qkx_search(X, W, nmax, -0.9, 0.05, 36)
            scales, mins = res.scale, res.the_min
            d_block, ls, m_block, lm = make_qp_quants_pair(scales, mins, 63, sw)
            if clamp_qp:
                ls = np.minimum(ls, 63)
                lm = np.minimum(lm, 63)
        packed = pack_scales_k4(ls, lm)
        d16, d32 = fp16(d_block)
        dmin16, dmin32 = fp16(m_block)
        sc, m = unpack_scales_k4(packed)
        d = d32 * sc.astype(F32)
        dm = dmin32 * m.astype(F32)
        v = X + dm
        v /= d
        dead = d == 0                             # there C keeps the search's labels
        if dead.any():
            v[:, dead] = F32(0)
        L = nearest_labels(v, 0, nmax)
        if dead.any():
            L[:, dead] = qkx_labels(X, res, nmax, dead)
    return MinMaxBlocks(d16, dmin16, packed, L)


def dequantize_minmax(d: np.ndarray, dmin: np.ndarray, scales: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``d*sc*q - dmin*m`` per sub-block: q (n, 8, 32) labels -> (n, 256) float32."""
    sc, m = unpack_scales_k4(scales)
    dl = (d.astype(F32)[None] * sc.astype(F32)).T[:, :, None]
    ml = (dmin.astype(F32)[None] * m.astype(F32)).T[:, :, None]
    return (dl * q.astype(F32) - ml).reshape(q.shape[0], 256)


def make_kernel(nmax: int, clamp_qp: bool, pack_labels: Callable[[np.ndarray, np.ndarray], None]):
    """A chunk kernel for :func:`common.quantize_in_chunks`: fills d, dmin and scales, then lets
    ``pack_labels(L, out)`` store the (32, 8, n) labels in the type's own fields."""

    def kernel(xs: np.ndarray, qw: Optional[np.ndarray], out: np.ndarray) -> None:
        res = quantize_minmax(xs, qw, nmax, clamp_qp)
        out["d"] = res.d
        out["dmin"] = res.dmin
        out["scales"] = res.scales
        pack_labels(res.L, out)

    return kernel
