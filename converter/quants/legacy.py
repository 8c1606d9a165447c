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
from gguf import GGMLQuantizationType

from . import register
from .common import F32, c_float_to_int, first_absmax, fp16, quantize_in_chunks, roundf, row_sigma2, seq_max
from .common import seq_min
from .search import make_qkx, make_qx_quants

Q4_0 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
Q4_1 = np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)])
Q5_0 = np.dtype([("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
Q5_1 = np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)])
Q8_0 = np.dtype([("d", "<f2"), ("qs", "i1", 32)])
assert (Q4_0.itemsize, Q4_1.itemsize, Q5_0.itemsize, Q5_1.itemsize, Q8_0.itemsize) == (18, 20, 22, 24, 34)
CHUNK = 4096  # blocks of 32 per chunk


def _pack_nibbles(L: np.ndarray) -> np.ndarray:
    """Labels (n, 32) -> qs (n, 16): byte j = L[j] & 15 | (L[j+16] & 15) << 4."""
    L = L.astype(np.uint8)
    return (L[:, :16] & 0xF) | ((L[:, 16:] & 0xF) << 4)


def _pack_high(L: np.ndarray) -> np.ndarray:
    """Bit 4 of labels (n, 32) -> qh (n,) uint32: bit j = bit 4 of L[j]."""
    bits = ((L.astype(np.uint8) >> 4) & 1).astype(np.uint8)
    return np.ascontiguousarray(np.packbits(bits, axis=1, bitorder="little")).view("<u4").reshape(-1)


def _labels(v: np.ndarray, top: Optional[int]) -> np.ndarray:
    """``MIN(top, (int8_t)v)`` (or ``(uint8_t)v`` when top is None) as C computes it on x86."""
    t = c_float_to_int(v)
    if top is None:
        return t.astype(np.uint8)
    return np.minimum(t.astype(np.int8), top).astype(np.uint8)


def _symmetric_ref(xs: np.ndarray, nmax: int):
    """q4_0/q5_0 ref on (n, 32) blocks: d = max / -nmax, labels MIN(2*nmax-1, (int8_t)(x/d + nmax + 0.5))."""
    _, mx = first_absmax(xs, axis=1)
    d = mx / F32(-nmax)
    with np.errstate(all="ignore"):
        inv = np.where(d != 0, F32(1) / d, F32(0))
        L = _labels(xs * inv[:, None] + F32(nmax + 0.5), 2 * nmax - 1)
    return d, L


def _affine_ref(xs: np.ndarray, nmax: int):
    """q4_1/q5_1 ref on (n, 32) blocks: d = (max - min) / nmax, labels (int8/uint8)((x - min)/d + 0.5)."""
    mn, mx = seq_min(xs, axis=1), seq_max(xs, axis=1)
    d = (mx - mn) / F32(nmax)
    with np.errstate(all="ignore"):
        inv = np.where(d != 0, F32(1) / d, F32(0))
        L = _labels((xs - mn[:, None]) * inv[:, None] + F32(0.5), 15 if nmax == 15 else None)
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
            X = np.ascontiguousarray(xs.T)
            d, L = make_qx_quants(X, nmax, _weights(X, qw, sigma2))
            L = L.T
        out["d"] = fp16(d)[0]
        out["qs"] = _pack_nibbles(L)
        if nmax == 16:
            out["qh"] = _pack_high(L)
    return kernel


def _affine_kernel(nmax: int):
    def kernel(xs, qw, out, sigma2=None):
        if qw is None:
            d, mn, L = _affine_ref(xs, nmax)
        else:
            X = np.ascontiguousarray(xs.T)
            d, the_min, L = make_qkx(X, _weights(X, qw, sigma2), nmax, -0.9, 0.05, 36)
            mn, L = -the_min, L.T
        out["d"] = fp16(d)[0]
        out["m"] = fp16(mn)[0]
        out["qs"] = _pack_nibbles(L)
        if nmax == 31:
            out["qh"] = _pack_high(L)
    return kernel


def _q8_0_kernel(xs, qw, out):
    d = np.abs(xs).max(axis=1) / F32(127)
    with np.errstate(all="ignore"):
        inv = np.where(d != 0, F32(1) / d, F32(0))
        out["qs"] = c_float_to_int(roundf(xs * inv[:, None])).astype(np.int8)
    out["d"] = fp16(d)[0]


def _register(qtype: GGMLQuantizationType, dtype: np.dtype, kernel) -> None:
    def quantize(rows: np.ndarray, imatrix: Optional[np.ndarray]) -> np.ndarray:
        if imatrix is None or qtype == GGMLQuantizationType.Q8_0:
            return quantize_in_chunks(rows, None, 32, dtype, kernel, CHUNK)
        sigma2 = np.repeat(row_sigma2(rows, rows.shape[1]), rows.shape[1] // 32)
        return quantize_in_chunks(rows, imatrix, 32, dtype, kernel, CHUNK, per_block=sigma2)

    def dequantize(raw: np.ndarray) -> np.ndarray:
        from gguf.quants import dequantize as gguf_dequantize

        return gguf_dequantize(raw.reshape(-1, dtype.itemsize), qtype).astype(F32).reshape(-1)

    quantize.__doc__ = f"Rows (n_rows, k*32) float32 -> {qtype.name} bytes, as ggml_quantize_chunk writes them."
    register(qtype, quantize, dequantize)


_register(GGMLQuantizationType.Q4_0, Q4_0, _symmetric_kernel(8))
_register(GGMLQuantizationType.Q5_0, Q5_0, _symmetric_kernel(16))
_register(GGMLQuantizationType.Q4_1, Q4_1, _affine_kernel(15))
_register(GGMLQuantizationType.Q5_1, Q5_1, _affine_kernel(31))
_register(GGMLQuantizationType.Q8_0, Q8_0, _q8_0_kernel)
