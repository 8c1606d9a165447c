"""The legacy 32-weight block types: Q4_0, Q4_1, Q5_0, Q5_1 (with and without imatrix) and Q8_0.

Without an importance matrix llama.cpp runs the ``quantize_row_*_ref`` functions: one scale from the block's
extreme value(s), labels by C float->int truncation of ``x/d + offset``. (gguf's NumPy versions agree except on
signed zeros, which the C loops resolve by index order; hence our own.) With one, Q4_0/Q5_0 use
``make_qx_quants`` and Q4_1/Q5_1 ``make_qkx3_quants`` with weights ``qw * sqrt(sigma2 + x^2)``, ``sigma2`` being
the mean square of the whole row. Q8_0 ignores the importance matrix.

Dequantization is gguf's (tested equal to llama.cpp's layout through our own round trips).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import register
from .types import QType
from .common import F32, c_float_to_int, clip_ufunc, first_absmax, fp16, quantize_in_chunks, roundf, row_sigma2
from .common import seq_max, seq_min
from .qx_search import make_qx_quants
from .qkx_search import make_qkx

Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
Q4_1 = np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)])
Q5_0 = np.dtype([("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
Q5_1 = np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
Q8_0 = np.dtype([("d", "<f2"), ("qs", "i1", 32)])
assert (Q4_0.itemsize, Q4_1.itemsize, Q5_0.itemsize, Q5_1.itemsize, Q8_0.itemsize) == (18, 20, 22, 24, 34)
CHUNK = 4096  # blocks of 32 per chunk


_SHIFTS8 = np.arange(8, dtype=np.uint8).reshape(1, 8, 1)


def _pack_nibbles(L: np.ndarray) -> np.ndarray:
    """Labels (32, n) position-first -> qs (n, 16): byte j = L[j] & 15 | (L[j+16] & 15) << 4.

    The bytes are paired into little-endian uint16 before the one transpose back to blocks (a uint8 transpose
    moves a byte at a time and costs several times more). No BLAS here: the quantizer runs in worker
    processes, where a threaded BLAS call per chunk costs far more than it saves."""
    L = L.astype(np.uint8)
    q = (L[:16] & 0xF) | ((L[16:] & 0xF) << 4)                          # (16, n): byte j of each block
    q16 = q[0::2].astype(np.uint16) | (q[1::2].astype(np.uint16) << 8)   # (8, n): bytes 2i, 2i+1
    return np.ascontiguousarray(q16.T).view(np.uint8)


def _pack_high(L: np.ndarray) -> np.ndarray:
    """Bit 4 of labels (32, n) position-first -> qh (n,) uint32: bit j = bit 4 of L[j]."""
    bits = (L.astype(np.uint8) >> 4) & 1
    groups = np.bitwise_or.reduce(bits.reshape(4, 8, -1) << _SHIFTS8, axis=1)   # (4, n): byte g of qh
    g = groups.astype(np.uint32)
    return g[0] | (g[1] << 8) | (g[2] << 16) | (g[3] << 24)


def _labels(v: np.ndarray, top: Optional[int], small: bool) -> np.ndarray:
    """``MIN(top, (int8_t)v)`` (or ``(uint8_t)v`` when top is None) as C computes it on x86.

    ``small`` asserts ``0 <= v < 256`` everywhere (finite scale, so ``x/d + offset`` stays inside the label range
    up to rounding): there the C conversion is a plain truncation, NumPy's direct cast to uint8, and
    ``MIN(top, trunc(v)) == trunc(MIN(top, v))`` (truncation is monotone, ``top`` an integer), a float32 clip."""
    if small:
        if top is not None:
            clip_ufunc(v, F32(0), F32(top), out=v)
        return v.astype(np.uint8)
    t = c_float_to_int(v)
    if top is None:
        return t.astype(np.uint8)
    return np.minimum(t.astype(np.int8), top).astype(np.uint8)


def _inverse(d: np.ndarray) -> tuple[np.ndarray, bool]:
    """``d ? 1.0f/d : 0.0f`` and whether every inverse is finite (a subnormal ``d`` overflows it)."""
    inv = np.where(d != 0, F32(1) / d, F32(0))
    return inv, bool(np.isfinite(inv).all())


def _symmetric_ref(X: np.ndarray, nmax: int):
    """q4_0/q5_0 ref on (32, n) position-first blocks: d = max / -nmax, labels
    MIN(2*nmax-1, (int8_t)(x/d + nmax + 0.5))."""
    _, mx = first_absmax(X)
    d = mx / F32(-nmax)
    with np.errstate(all="ignore"):
        inv, finite = _inverse(d)
        v = X * inv
        v += F32(nmax + 0.5)
        L = _labels(v, 2 * nmax - 1, finite)   # |x*inv| <= nmax (+ulps): v in (0, 2*nmax + 1)
    return d, L


def _affine_ref(X: np.ndarray, nmax: int):
    """q4_1/q5_1 ref on (32, n) position-first blocks: d = (max - min) / nmax, labels
    (int8/uint8)((x - min)/d + 0.5)."""
    mn, mx = seq_min(X), seq_max(X)
    d = (mx - mn) / F32(nmax)
    with np.errstate(all="ignore"):
        inv, finite = _inverse(d)
        v = X - mn
        v *= inv
        v += F32(0.5)
        finite = finite and bool(np.isfinite(d).all())   # x - min finite and in [0, max - min]
        L = _labels(v, 15 if nmax == 15 else None, finite)
    return d, mn, L


def _weights(X: np.ndarray, qw: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    W = X * X
    W += sigma2
    np.sqrt(W, out=W)
    W *= qw.T
    return W


def _symmetric_kernel(nmax: int):
    def kernel(xs, qw, out, sigma2=None):
        X = np.ascontiguousarray(xs.T)                 # (32, n): reductions over positions are vector ops
        if qw is None:
            d, L = _symmetric_ref(X, nmax)
        else:
            d, L = make_qx_quants(X, nmax, _weights(X, qw, sigma2))
        out["d"] = fp16(d)[0]
        out["qs"] = _pack_nibbles(L)
        if nmax == 16:
            out["qh"] = _pack_high(L)
    return kernel


def _affine_kernel(nmax: int):
    def kernel(xs, qw, out, sigma2=None):
        X = np.ascontiguousarray(xs.T)                 # (32, n): reductions over positions are vector ops
        if qw is None:
            d, mn, L = _affine_ref(X, nmax)
        else:
            d, the_min, L = make_qkx(X, _weights(X, qw, sigma2), nmax, -0.9, 0.05, 36)
            mn = -the_min
        out["d"] = fp16(d)[0]
        out["m"] = fp16(mn)[0]
        out["qs"] = _pack_nibbles(L)
        if nmax == 31:
            out["qh"] = _pack_high(L)
    return kernel


_HALF_DOWN = np.nextafter(F32(0.5), F32(0))   # 0.49999997f


def _q8_0_kernel(xs, qw, out):
    """quantize_row_q8_0_ref. ``roundf(v)`` is ``trunc(v + copysign(0.49999997f, v))`` for |v| < 256 (checked
    exhaustively over every float32 in [0, 256); float rounding is symmetric in sign), the range ``x/d`` stays
    in when ``1/d`` is finite; otherwise C's roundf and conversion are reproduced step by step."""
    d = np.abs(xs).max(axis=1) / F32(127)
    with np.errstate(all="ignore"):
        inv, finite = _inverse(d)
        v = xs * inv[:, None]
        if finite:
            v += np.copysign(_HALF_DOWN, v)
            out["qs"] = np.trunc(v, out=v).astype(np.int8)
        else:
            out["qs"] = c_float_to_int(roundf(v)).astype(np.int8)
    out["d"] = fp16(d)[0]


def _register(qtype: QType, dtype: np.dtype, kernel) -> None:
    def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
        if imatrix is None or qtype == QType.Q8_0:
            return quantize_in_chunks(rows, None, 32, dtype, kernel, CHUNK)
        sigma2 = np.repeat(row_sigma2(rows, rows.shape[1]), rows.shape[1] // 32)
        return quantize_in_chunks(rows, imatrix, 32, dtype, kernel, CHUNK, per_block=sigma2)

    def dequantize(raw: np.ndarray) -> np.ndarray:
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize as gguf_dequantize

        return gguf_dequantize(raw.reshape(-1, dtype.itemsize), GGMLQuantizationType(int(qtype))).astype(F32).reshape(-1)

    quantize.__doc__ = f"Rows (n_rows, k*32) float32 -> {qtype.name} bytes, as ggml_quantize_chunk writes them."
    register(qtype, quantize, dequantize)


_register(QType.Q4_0, Q4_0, _symmetric_kernel(8))
_register(QType.Q5_0, Q5_0, _symmetric_kernel(16))
_register(QType.Q4_1, Q4_1, _affine_kernel(15))
_register(QType.Q5_1, Q5_1, _affine_kernel(31))
_register(QType.Q8_0, Q8_0, _q8_0_kernel)
