"""C-compatible float32 building blocks shared by every quant family.

llama.cpp's reference quantizers are scalar float32 C loops compiled for baseline x86-64 (no FMA contraction).
To reproduce their bytes in NumPy every helper here stays in float32 (constants are ``np.float32``), sums in the
C loop's order, and rounds exactly like the C code:

* ``nearest_int`` is ggml's magic-number trick (add 1.5 * 2**23, keep the mantissa bits): round half to even for
  ordinary values, and the same garbage as C for infinities and NaN, which matters for denormal inputs whose
  inverse scale overflows.
* ``roundf`` is C's ``roundf`` (half away from zero); ``c_float_to_int`` is a C float -> int conversion
  (cvttss2si: truncation, INT_MIN when out of range); a further cast to int8/uint8 keeps the low byte, like C.

The reference is llama.cpp's ggml-base as built for x86-64 (no -march flags, so no FMA). On AArch64 compilers may
contract ``a*b + c`` into an FMA, and llama.cpp's own bytes can then differ from these.

Arrays are laid out position-first, ``(n, *blocks)``: reductions over axis 0 of a C-contiguous array are in-order
vector adds, which is both the C summation order and fast.
"""

from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

F32 = np.float32
QK_K = 256
GROUP_MAX_EPS = F32(1e-15)
_MAGIC = F32(12582912.0)


def nearest_int(v: np.ndarray) -> np.ndarray:
    """ggml's ``nearest_int`` on a float32 array: int32, round half to even (bit trick, like C)."""
    bits = (np.asarray(v, dtype=F32) + _MAGIC).view(np.int32)
    bits &= 0x007FFFFF
    bits -= 0x00400000
    return bits


#: below 2**22 np.rint and ggml's bit trick agree (both round half to even); checks use 2**21 for margin
RINT_EXACT = F32(2097152.0)


def round_clamp(v: np.ndarray, lo: float, hi: float, rint_exact: bool) -> np.ndarray:
    """``MAX(lo, MIN(hi, nearest_int(v)))`` in place, as float32. ``rint_exact``: the caller has shown every
    ``|v| < RINT_EXACT``, so a single ``np.rint`` pass is ``nearest_int``; otherwise (huge values, inf, NaN) the
    bit trick reproduces C's garbage."""
    if rint_exact:
        np.rint(v, out=v)
    else:
        v[...] = nearest_int(v)
    return clip_ufunc(v, F32(lo), F32(hi), out=v)


def nearest_labels(v: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """:func:`round_clamp` as uint8 labels (``0 <= lo <= hi <= 255``), deciding the rounding path by one range
    check over ``v`` (NaN fails it); ``v`` is used as scratch."""
    return round_clamp(v, lo, hi, bool(np.abs(v).max(initial=F32(0)) < RINT_EXACT)).astype(np.uint8)


try:  # the clip ufunc itself: np.clip's Python wrapper costs as much as the work on a cache-sized chunk
    from numpy._core.umath import clip as clip_ufunc
except ImportError:  # pragma: no cover - other NumPy layouts
    clip_ufunc = np.clip


def seq_sum(a: np.ndarray) -> np.ndarray:
    """Sum over axis 0 in index order (a C ``for`` loop that starts from the first element).

    NumPy adds the rows one after another when each row has several elements; a single column would be summed
    pairwise, so that case takes the strictly sequential ``accumulate``."""
    if a.ndim > 1 and a.size > a.shape[0]:
        return np.add.reduce(a, axis=0)
    return np.add.accumulate(a, axis=0)[-1]


_DOT_SUBSCRIPTS = {2: "ij,ij->j", 3: "ij,ij,ij->j"}


def seq_dot(*ops: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """``s = 0; for i: s += a[i]*b[i](*c[i])`` over axis 0 for every block: the C loop's in-order sum of
    left-to-right products, starting from +0, without a temporary product array.

    ``np.einsum`` does exactly this (one pass, no temporary) when the blocks axis is the contiguous inner one:
    each output element accumulates ``out[j] += (a*b)*c`` row after row. Anything else (one block, views) takes
    the plain product and an in-order reduction from +0."""
    a = ops[0]
    n = a.shape[0]
    m = a.size // n if n else 0
    if m >= 2 and len(ops) in _DOT_SUBSCRIPTS and all(o.shape == a.shape and o.dtype == F32
                                                      and o.flags.c_contiguous for o in ops):
        flat_out = None if out is None else out.reshape(m)
        res = np.einsum(_DOT_SUBSCRIPTS[len(ops)], *(o.reshape(n, m) for o in ops), out=flat_out)
        return res.reshape(a.shape[1:]) if out is None else out
    prod = ops[0] * ops[1]
    for o in ops[2:]:
        prod *= o
    prod[0] += F32(0)  # the C sum starts from +0: a first product of -0 becomes +0
    res = seq_sum(prod)
    if out is None:
        return res
    out[...] = res
    return out


def fp16(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``GGML_FP32_TO_FP16`` (round to nearest even) and back: (float16 array, its float32 value)."""
    with np.errstate(over="ignore"):  # beyond 65504 is inf, as in C
        h = np.asarray(v, dtype=F32).astype(np.float16)
    return h, h.astype(F32)


def c_float_to_int(v: np.ndarray) -> np.ndarray:
    """C's float -> int conversion on x86 (truncation; out of range, inf and NaN give INT_MIN)."""
    ok = np.abs(v) < F32(2147483648.0)
    if ok.all():
        return v.astype(np.int32)
    out = np.full(v.shape, np.iinfo(np.int32).min, dtype=np.int32)
    out[ok] = v[ok].astype(np.int32)
    return out


def roundf(v: np.ndarray) -> np.ndarray:
    """C ``roundf``: nearest integer, halves away from zero (float32 in, float32 out).

    ``np.rint`` differs only on exact halves it sent toward zero; those are moved one away from zero."""
    r = np.rint(v)
    d = v - r
    tie = np.abs(d) == F32(0.5)
    if tie.any():
        r = np.where(tie & (d * v > 0), r + np.sign(v), r)
    return r


def first_absmax(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(amax, max) along ``axis`` the way ggml's ``if (ax > amax) { amax = ax; max = x[i]; }`` loop finds them
    from ``amax = max = 0``: ``max`` keeps its sign, is the first element reaching the largest magnitude, and is
    +0.0 when every element is a zero. NaN never compares greater, so NaN entries are passed over.

    Fast path: the largest magnitude is ``max(hi, -lo)`` from the plain maximum and minimum (two in-order
    vector reductions, no argmax), and its sign is ``hi``'s or ``lo``'s. Only where ``hi == -lo`` (both signs
    reach it: the first one wins) is the index order needed; those columns alone are searched. NaN anywhere
    propagates into the reductions and sends the call to the general search."""
    if x.ndim < 2:
        return _first_absmax_search(x, axis)
    hi = x.max(axis=axis)
    lo = x.min(axis=axis)
    if np.isnan(hi).any() or np.isnan(lo).any():
        return _first_absmax_search(x, axis)
    return first_absmax_from(hi, lo, x, axis)


def _blocks_of(x: np.ndarray, axis: int, cols: np.ndarray) -> np.ndarray:
    """The elements of blocks ``cols`` (flat indices over the other axes) position-first: (x.shape[axis], k).
    No copy of ``x`` where it is position-first or 2-D."""
    return np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)[:, cols]


def first_absmax_from(hi: np.ndarray, lo: np.ndarray, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`first_absmax` of ``x`` along ``axis`` given each block's maximum ``hi`` and minimum ``lo`` (no NaN),
    however they were found: ``x`` itself is read only where both signs reach the largest magnitude, the one
    case where the index order decides."""
    neg_lo = -lo
    amax = np.maximum(hi, neg_lo)
    amax += F32(0)                                        # C's amax starts at +0: never -0
    # max = hi where hi >= -lo, else lo; with everything finite that is amax carrying the sign of hi + lo (the
    # sign of a float sum is exact; hi + lo is +0 at a tie, which is resolved below). np.where costs ~10x more.
    with np.errstate(invalid="ignore"):
        total = hi + lo
    mx = np.copysign(amax, total) if not np.isnan(total).any() else np.where(hi >= neg_lo, hi, lo)  # inf - inf
    tie = hi == neg_lo
    tie &= hi > 0
    if tie.any():
        cols = np.nonzero(tie.reshape(-1))[0]
        sub = _blocks_of(x, axis, cols)
        first = np.argmax(np.abs(sub) == amax.reshape(-1)[cols], axis=0)
        mx.reshape(-1)[cols] = sub[first, np.arange(cols.size)]
    mx *= amax > 0                                        # all-zero blocks: +0 (finite * 0 is a zero ...
    mx += F32(0)                                          # ... and -0 + 0 is +0)
    return amax, mx


def _first_absmax_search(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`first_absmax` by an argmax over the magnitudes (any axis, NaN passed over)."""
    ax = np.abs(x)
    nan = np.isnan(ax)
    if nan.any():
        ax = np.where(nan, F32(0), ax)
    idx = np.expand_dims(np.argmax(ax, axis=axis), axis)
    amax = np.take_along_axis(ax, idx, axis).squeeze(axis)
    return amax, np.where(amax > 0, np.take_along_axis(x, idx, axis).squeeze(axis), F32(0))


def seq_min(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Minimum along ``axis`` like ``if (x[i] < min) min = x[i]`` from ``min = x[0]``: where the minimum is a
    zero, it is the first zero in index order, with its sign."""
    return first_zero_sign(x, x.min(axis=axis), axis)


def seq_max(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Maximum along ``axis`` like ``if (x[i] > max) max = x[i]``, signed zeros as in :func:`seq_min`."""
    return first_zero_sign(x, x.max(axis=axis), axis)


def first_zero_sign(x: np.ndarray, extreme: np.ndarray, axis: int) -> np.ndarray:
    """``extreme`` (the blocks' minima or maxima along ``axis``, however found) with every zero replaced by the
    first zero of its block in index order, with its sign, as the C loops leave it. Only those blocks are read."""
    zero = np.nonzero((extreme == 0).reshape(-1))[0]
    if zero.size:
        sub = _blocks_of(x, axis, zero)
        extreme = extreme.copy()
        extreme.reshape(-1)[zero] = sub[np.argmax(sub == 0, axis=0), np.arange(zero.size)]
    return extreme


def block_weights(imatrix: Optional[np.ndarray], block: int, first_block: int, n_blocks: int,
                  blocks_per_row: int) -> Optional[np.ndarray]:
    """Importance weights for ``n_blocks`` consecutive blocks starting at ``first_block``: (n_blocks, block)."""
    if imatrix is None:
        return None
    per_row = imatrix.reshape(blocks_per_row, block)
    idx = (np.arange(first_block, first_block + n_blocks) % blocks_per_row)
    return per_row[idx]


def chunks(n_blocks: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) ranges of at most ``size`` blocks covering ``range(n_blocks)``."""
    for start in range(0, n_blocks, size):
        yield start, min(n_blocks, start + size)


def row_sigma2(rows: np.ndarray, divisor: int) -> np.ndarray:
    """``sum(x*x over the row in order) / divisor`` per row, as the legacy imatrix quantizers compute it."""
    with np.errstate(over="ignore"):  # a huge weight makes sigma2 inf in C too
        sq = np.ascontiguousarray((rows * rows).T)
        return seq_sum(sq) / F32(divisor)


def to_positions(xs: np.ndarray, sub: int) -> np.ndarray:
    """(n_blocks, block) -> contiguous (sub, block // sub, n_blocks): position in sub-block first."""
    n = xs.shape[0]
    return np.ascontiguousarray(xs.reshape(n, -1, sub).transpose(2, 1, 0))


def from_positions(a: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_positions`: (sub, n_sub, n_blocks) -> (n_blocks, n_sub * sub)."""
    return np.ascontiguousarray(a.transpose(2, 1, 0)).reshape(a.shape[2], -1)


def block_sumsq(X: np.ndarray) -> np.ndarray:
    """``sum of x*x over a whole block in index order`` from the (sub, n_sub, n_blocks) layout: (n_blocks,)."""
    sq = X * X
    return seq_sum(np.ascontiguousarray(sq.transpose(1, 0, 2)).reshape(-1, X.shape[2]))


def quantize_in_chunks(rows: np.ndarray, imatrix: Optional[np.ndarray], block: int, dtype: np.dtype,
                       kernel, chunk: int, per_block: Optional[np.ndarray] = None) -> np.ndarray:
    """Run ``kernel(xs, qw, out)`` over chunks of at most ``chunk`` blocks of ``rows`` (n_rows, n_per_row).

    ``xs`` is (n, block) float32, ``qw`` the matching (n, block) importance weights or None, ``out`` the (n,)
    structured block array to fill; with ``per_block`` (one value per block) the kernel also gets its slice.
    Returns the uint8 bytes of all blocks, row after row."""
    n_rows, n_per_row = rows.shape
    per_row = n_per_row // block
    total = n_rows * per_row
    flat = rows.reshape(total, block)
    out = np.zeros(total, dtype=dtype)
    with np.errstate(all="ignore"):  # inf/NaN intermediates are part of the C behaviour being reproduced
        for start, stop in chunks(total, chunk):
            qw = block_weights(imatrix, block, start, stop - start, per_row)
            if per_block is None:
                kernel(flat[start:stop], qw, out[start:stop])
            else:
                kernel(flat[start:stop], qw, out[start:stop], per_block[start:stop])
    return out.view(np.uint8)


def pack_2bit(L: np.ndarray) -> np.ndarray:
    """2-bit labels (n, 256) -> qs (n, 64): byte 32*h + l holds L[128h + l + 32k] in bits 2k..2k+1, k = 0..3."""
    Lr = L.reshape(L.shape[0], 2, 4, 32).astype(np.uint8)
    qs = Lr[:, :, 0] | (Lr[:, :, 1] << 2) | (Lr[:, :, 2] << 4) | (Lr[:, :, 3] << 6)
    return qs.reshape(L.shape[0], 64)


def unpack_2bit(qs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_2bit`: (n, 64) -> (n, 256) labels 0..3."""
    q = qs.reshape(qs.shape[0], 2, 1, 32)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    return ((q >> shifts) & 3).reshape(qs.shape[0], 256)


def importance_weights(X: np.ndarray, qw: np.ndarray, sigma_factor: int) -> np.ndarray:
    """The K-quant imatrix weights ``qw * sqrt(sigma2 + x^2)`` with ``sigma2 = factor * sum(x^2) / 256`` over each
    super-block. ``X`` is (sub, n_sub, n) position-first, ``qw`` the matching (n, 256) importance."""
    sigma2 = F32(sigma_factor) * block_sumsq(X) / F32(QK_K)  # 1.0f * s is exact
    W = X * X
    W += sigma2
    np.sqrt(W, out=W)
    W *= to_positions(qw, X.shape[0])
    return W
