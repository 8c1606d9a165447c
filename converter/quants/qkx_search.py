"""ggml's ``make_qkx2_quants`` / ``make_qkx3_quants`` (identical once the weights are given): the asymmetric
``x ~ scale*L + min`` search of Q2_K, Q4_K, Q5_K (and imatrix Q4_1/Q5_1), vectorized across blocks.

``x`` is ``(n, *blocks)`` position-first. Bit for bit the C routine: float32 throughout, C's evaluation order,
in-order sums, and the ``min`` the C loop shifts whenever a candidate improves (the next candidates' labels and
inverse scales use it). Arranged for few passes over the data per candidate (each exact):

* **Rounding** uses ``np.rint`` (ggml's ``nearest_int`` below 2**22) whenever the per-block bound
  ``|iscale| * max(max - min, min - lowest)`` proves every ``|iscale*(x - min)| < 2**21``; otherwise the bit trick.
* **Preallocated work arrays** (labels, ``w*l``, one scratch) reused by every candidate through ``out=``; the
  products keep C's orders (``(w*l)*l``, ``(w*l)*x``). Stacking the three sums into one call measured slower.
* **State updated in place** (``np.copyto(..., where=better)``) on small per-block arrays; labels are not copied
  on improvement: the (iscale, min) that produced the best labels are kept and the labels recomputed once.
"""

from __future__ import annotations

import numpy as np

from .common import F32, clip_ufunc, nearest_int, seq_min, seq_sum

_RINT_SAFE = F32(2097152.0)  # 2**21


def make_qkx(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int,
             use_mad: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search ``nstep + 1`` inverse scales ``(rmin + rdelta*is + nmax) / (max - min)`` after the start
    ``nmax / (max - min)``; error ``w*(scale*L + min - x)**2`` (or ``|.|`` with ``use_mad``).

    Returns (scale, the_min = -min, L as uint8 shaped like x)."""
    sum_w = seq_sum(w)
    tmp = w * x
    sum_x = seq_sum(tmp)
    lo_x = seq_min(x)
    mx = x.max(axis=0)
    mn = np.where(lo_x > 0, F32(0), lo_x)
    flat = mx <= mn
    mn_flat = mn.copy()
    mx = np.where(flat, mn + F32(1), mx)  # flat blocks get L = 0 at the end; keep their arithmetic finite
    fnmax = F32(nmax)
    lf = np.empty_like(x)
    wl = np.empty_like(x)

    def labels(iscale: np.ndarray, mn: np.ndarray) -> np.ndarray:
        np.subtract(x, mn, out=lf)
        np.multiply(lf, iscale, out=lf)
        bound = np.abs(iscale) * np.maximum(mx - mn, mn - lo_x)
        if bound.max(initial=F32(0)) < _RINT_SAFE:
            np.rint(lf, out=lf)
        else:                                        # inf/NaN or huge: C's bit trick, garbage included
            lf[...] = nearest_int(lf)
        return clip_ufunc(lf, F32(0), fnmax, out=lf)

    def error(scale: np.ndarray, mn: np.ndarray) -> np.ndarray:
        np.multiply(lf, scale, out=tmp)
        np.add(tmp, mn, out=tmp)
        np.subtract(tmp, x, out=tmp)
        if use_mad:
            np.abs(tmp, out=tmp)
        else:
            np.multiply(tmp, tmp, out=tmp)
        np.multiply(tmp, w, out=tmp)
        return seq_sum(tmp)

    with np.errstate(all="ignore"):
        span = mx - mn
        iscale = fnmax / span
        scale = F32(1) / iscale
        labels(iscale, mn)
        best = error(scale, mn)
        best_iscale, best_mn = iscale.copy(), mn.copy()
        better = np.empty(best.shape, dtype=bool)
        for step in range(nstep + 1):
            np.subtract(mx, mn, out=span)
            iscale = (F32(rmin) + F32(rdelta) * F32(step) + fnmax) / span
            labels(iscale, mn)
            np.multiply(w, lf, out=wl)
            sum_l = seq_sum(wl)
            np.multiply(wl, lf, out=tmp)
            sum_l2 = seq_sum(tmp)
            np.multiply(wl, x, out=tmp)
            sum_xl = seq_sum(tmp)
            D = sum_w * sum_l2 - sum_l * sum_l
            this_scale = (sum_w * sum_xl - sum_x * sum_l) / D
            this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D
            pos = this_min > 0
            if pos.any():
                this_min[pos] = F32(0)
                np.copyto(this_scale, sum_xl / sum_l2, where=pos)
            cur = error(this_scale, this_min)
            np.greater(D, F32(0), out=better)
            better &= cur < best
            np.copyto(best_iscale, iscale, where=better)
            np.copyto(best_mn, mn, where=better)       # the min these labels were computed with
            np.copyto(best, cur, where=better)
            np.copyto(scale, this_scale, where=better)
            np.copyto(mn, this_min, where=better)
        L = labels(best_iscale, best_mn).astype(np.uint8)
    if flat.any():
        L[:, flat] = 0
        scale = np.where(flat, F32(0), scale)
        mn = np.where(flat, mn_flat, mn)
    return scale, -mn, L
