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
from ..core.quant_types import QType
from . import quads
from .common import F32, c_float_to_int, clip_ufunc, first_absmax_from, first_zero_sign, fp16, quantize_in_chunks
from .common import roundf, row_sigma2
from .qx_search import make_qx_quants
from .qkx_search import make_qkx

Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
Q4_1 = np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)])
Q5_0 = np.dtype([("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
Q5_1 = np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
Q8_0 = np.dtype([("d", "<f2"), ("qs", "i1", 32)])
assert (Q4_0.itemsize, Q4_1.itemsize, Q5_0.itemsize, Q5_1.itemsize, Q8_0.itemsize) == (18, 20, 22, 24, 34)
CHUNK = 8192  # blocks of 32 per chunk (measured: 4096 was ~8% slower, 16384 no better)


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
    inv = F32(1) / d
    if np.isfinite(inv).all():
        return inv, True
    inv[(d == 0).nonzero()] = F32(0)                    # indexed: np.where costs more than the division
    return inv, bool(np.isfinite(inv).all())


def _symmetric_ref(xs: np.ndarray, nmax: int):
    """q4_0/q5_0 ref on (n, 32) rows: d = max / -nmax, labels MIN(2*nmax-1, (int8_t)(x/d + nmax + 0.5)) in the
    quad layout."""
    Y = quads.to_quads(xs)
    _, mx = first_absmax_from(*quads.extremes(Y), xs, axis=1)
    d = mx / F32(-nmax)
    with np.errstate(all="ignore"):
        inv, finite = _inverse(d)
        Y *= quads.per_block(inv)
        Y += F32(nmax + 0.5)
        L = _labels(Y, 2 * nmax - 1, finite)   # |x*inv| <= nmax (+ulps): v in (0, 2*nmax + 1)
    return d, L


def _affine_ref(xs: np.ndarray, nmax: int):
    """q4_1/q5_1 ref on (n, 32) rows: d = (max - min) / nmax, labels (int8/uint8)((x - min)/d + 0.5) in the quad
    layout."""
    Y = quads.to_quads(xs)
    hi, lo = quads.extremes(Y)
    mn, mx = first_zero_sign(xs, lo, axis=1), first_zero_sign(xs, hi, axis=1)
    d = (mx - mn) / F32(nmax)
    with np.errstate(all="ignore"):
        inv, finite = _inverse(d)
        Y -= quads.per_block(mn)
        Y *= quads.per_block(inv)
        Y += F32(0.5)
        finite = finite and bool(np.isfinite(d).all())   # x - min finite and in [0, max - min]
        L = _labels(Y, 15 if nmax == 15 else None, finite)
    return d, mn, L


def _weights(X: np.ndarray, qw: np.ndarray, sigma2: np.ndarray) -> np.ndarray:
    W = X * X
    W += sigma2
    np.sqrt(W, out=W)
    W *= qw.T
    return W


def _symmetric_kernel(nmax: int):
    def kernel(xs, qw, out, sigma2=None):
        if qw is None:
            d, L = _symmetric_ref(xs, nmax)
        else:
            X = np.ascontiguousarray(xs.T)             # (32, n): the search sums over positions in order
            d, L = make_qx_quants(X, nmax, _weights(X, qw, sigma2))
            L = quads.from_positions32(L.astype(np.uint8))
        out["d"] = fp16(d)[0]
        if nmax == 16:
            out["qh"] = quads.high_bits(L)
        out["qs"] = quads.nibble_rows(L)
    return kernel


def _affine_kernel(nmax: int):
    def kernel(xs, qw, out, sigma2=None):
        if qw is None:
            d, mn, L = _affine_ref(xs, nmax)
        else:
            X = np.ascontiguousarray(xs.T)             # (32, n): the search sums over positions in order
            d, the_min, L = make_qkx(X, _weights(X, qw, sigma2), nmax, -0.9, 0.05, 36)
            mn = -the_min
            L = quads.from_positions32(L.astype(np.uint8))
        out["d"] = fp16(d)[0]
        out["m"] = fp16(mn)[0]
        if nmax == 31:
            out["qh"] = quads.high_bits(L)
        out["qs"] = quads.nibble_rows(L)
    return kernel


_HALF_DOWN = np.nextafter(F32(0.5), F32(0))   # 0.49999997f


_HALF_DOWN_BITS = np.int32(_HALF_DOWN.view(np.int32))
_SIGN_BIT = np.int32(-2**31)


def _q8_0_kernel(xs, qw, out):
    """quantize_row_q8_0_ref. ``roundf(v)`` is ``trunc(v + copysign(0.49999997f, v))`` for |v| < 256 (checked
    exhaustively over every float32 in [0, 256); float rounding is symmetric in sign), the range ``x/d`` stays
    in when ``1/d`` is finite; otherwise C's roundf and conversion are reproduced step by step."""
    Y = quads.to_quads(xs)
    hi, lo = quads.extremes(Y)
    amax = np.maximum(hi, -lo)
    amax += F32(0)                                     # an all-zero block: C's amax stays +0
    d = amax / F32(127)
    with np.errstate(all="ignore"):
        inv, finite = _inverse(d)
        Y *= quads.per_block(inv)
        if finite:
            half = Y.view(np.int32) & _SIGN_BIT        # copysign(0.49999997f, v) by its bits (np.copysign is
            half |= _HALF_DOWN_BITS                    # several times slower)
            Y += half.view(F32)
            q = np.trunc(Y, out=Y).astype(np.int8)
        else:
            q = c_float_to_int(roundf(Y)).astype(np.int8)
    out["qs"] = quads.byte_rows(q.view(np.uint8)).view(np.int8)
    out["d"] = fp16(d)[0]


def _register(qtype: QType, dtype: np.dtype, kernel) -> None:
    def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
        if imatrix is None or qtype == QType.Q8_0:
            return quantize_in_chunks(rows, None, 32, dtype, kernel, CHUNK)
        sigma2 = np.repeat(row_sigma2(rows, rows.shape[1]), rows.shape[1] // 32)
        return quantize_in_chunks(rows, imatrix, 32, dtype, kernel, CHUNK, per_block=sigma2)

    quantize.__doc__ = f"Rows (n_rows, k*32) float32 -> {qtype.name} bytes, as ggml_quantize_chunk writes them."
    register(qtype, quantize)  # dequantized by gguf


_register(QType.Q4_0, Q4_0, _symmetric_kernel(8))
_register(QType.Q5_0, Q5_0, _symmetric_kernel(16))
_register(QType.Q4_1, Q4_1, _affine_kernel(15))
_register(QType.Q5_1, Q5_1, _affine_kernel(31))
_register(QType.Q8_0, Q8_0, _q8_0_kernel)
