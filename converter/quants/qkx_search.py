"""ggml's ``make_qkx2_quants`` / ``make_qkx3_quants`` (identical once the weights are given): the asymmetric
``x ~ scale*L + min`` search of Q2_K, Q4_K, Q5_K (and imatrix Q4_1/Q5_1), vectorized across blocks.

``x`` is ``(n, *blocks)`` position-first. Bit for bit the C routine: float32 throughout, C's evaluation order,
in-order sums, and the ``min`` the C loop shifts whenever a candidate improves (the next candidates' labels and
inverse scales use it). Arranged for few passes over the data per candidate (each exact):

* **Rounding** uses ``np.rint`` (ggml's ``nearest_int`` below 2**22) whenever the per-block bound
  ``|iscale| * max(max - min, min - lowest)`` proves every ``|iscale*(x - min)| < 2**21``; otherwise the bit trick.
* **Fused in-order sums**: ``sum w*L`` and, in one call over the stacked ``(L, x)``, ``sum (w*L)*L`` and
  ``sum (w*L)*x`` are ``np.einsum`` passes that accumulate row after row from +0 (C's loop, see
  ``common.seq_dot``), with no product arrays; the error ``sum (d*d)*w`` likewise.
* **Three working arrays**: ``w``, the labels and ``x``; the error overwrites the labels in place. Two worker
  processes then share the last-level cache without slowing each other much (~7% against ~30% with six).
* **State updated by index**: the few blocks that improved are copied with one fancy-indexed assignment (a
  masked ``copyto`` costs a full pass); labels are never copied on improvement: the (iscale, min) that produced
  the best labels are kept, and :func:`qkx_labels` recomputes labels only for the blocks a caller needs.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .common import F32, RINT_EXACT, nearest_labels, round_clamp, seq_min, seq_sum

class QkxSearch(NamedTuple):
    scale: np.ndarray       # the returned scale per block (0 for flat blocks)
    the_min: np.ndarray     # -min per block
    iscale: np.ndarray      # the inverse scale whose labels won
    label_min: np.ndarray   # the min those labels were computed with
    flat: np.ndarray        # bool: blocks whose labels are all 0


def make_qkx(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int,
             use_mad: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search ``nstep + 1`` inverse scales ``(rmin + rdelta*is + nmax) / (max - min)`` after the start
    ``nmax / (max - min)``; error ``w*(scale*L + min - x)**2`` (or ``|.|`` with ``use_mad``).

    Returns (scale, the_min = -min, L as uint8 shaped like x)."""
    res = qkx_search(x, w, nmax, rmin, rdelta, nstep, use_mad)
    return res.scale, res.the_min, qkx_labels(x, res, nmax)


def qkx_labels(x: np.ndarray, res: QkxSearch, nmax: int, cols: Optional[np.ndarray] = None) -> np.ndarray:
    """The winning labels as uint8 shaped like ``x`` (0 in flat blocks); with ``cols`` (a boolean mask over the
    blocks) only those blocks', shaped (n, count). Q2_K/Q4_K/Q5_K re-derive their labels from the fp16 scales
    and need these only where a scale rounds to 0."""
    iscale, mn, flat = res.iscale, res.label_min, res.flat
    if cols is not None:
        x, iscale, mn, flat = x[:, cols], iscale[cols], mn[cols], flat[cols]
    with np.errstate(all="ignore"):
        L = nearest_labels((x - mn) * iscale, 0, nmax)
    if flat.any():
        L[:, flat] = 0
    return L


def qkx_search(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int,
               use_mad: bool = False) -> QkxSearch:
    """The search of :func:`make_qkx` without the final labels (see :func:`qkx_labels`)."""
    n, shape = x.shape[0], x.shape
    m = x.size // n
    if m < 2:  # the fused sums need two blocks at least (see seq_dot): search a duplicate alongside
        pair = [np.concatenate([a.reshape(n, 1)] * 2, axis=1) for a in (x, w)]
        res = qkx_search(pair[0], pair[1], nmax, rmin, rdelta, nstep, use_mad)
        return QkxSearch(*(a[:1].reshape(shape[1:]) for a in res))
    x = np.ascontiguousarray(x, dtype=F32).reshape(n, m)
    w = np.ascontiguousarray(w, dtype=F32).reshape(n, m)
    sum_w = seq_sum(w)
    sum_x = seq_sum(w * x)
    lo_x = seq_min(x)
    mx = x.max(axis=0)
    mn0 = np.where(lo_x > 0, F32(0), lo_x)
    flat = mx <= mn0
    mx = np.where(flat, mn0 + F32(1), mx)  # flat blocks get L = 0 at the end; keep their arithmetic finite
    fnmax = F32(nmax)
    # P = (L, x): one fused pass gives sum (w*L)*L and sum (w*L)*x, another sum w*L (each C's order, from +0);
    # x lives only in P, so the working set is w, L and x (the error overwrites L: labels are recomputed once
    # at the end from the winning inverse scale)
    P = np.empty((2, n, m), dtype=F32)
    P[1] = x
    lf, x = P
    sums = np.empty((3, m), dtype=F32)
    # search state: (iscale that made the best labels, the min they were computed with, best error, scale, min);
    # cand holds the candidate just evaluated (its iscale, error, scale, min), copied for the blocks it improved
    state = np.empty((5, m), dtype=F32)
    cand = np.empty((4, m), dtype=F32)
    best_iscale, best_mn, best, scale, mn = state
    span, bound = np.empty(m, dtype=F32), np.empty(m, dtype=F32)
    better = np.empty(m, dtype=bool)

    def labels(iscale: np.ndarray, mn: np.ndarray) -> np.ndarray:
        np.subtract(x, mn, out=lf)
        np.multiply(lf, iscale, out=lf)
        # every |iscale*(x - mn)| below 2**21 makes np.rint ggml's nearest_int (span = mx - mn here)
        np.subtract(mn, lo_x, out=bound)
        np.maximum(bound, span, out=bound)
        np.multiply(bound, np.abs(iscale), out=bound)
        return round_clamp(lf, 0, nmax, bool(bound.max(initial=F32(0)) < RINT_EXACT))

    def error(scale: np.ndarray, mn: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The candidate's error; the labels are consumed (overwritten by the differences)."""
        np.multiply(lf, scale, out=lf)
        np.add(lf, mn, out=lf)
        np.subtract(lf, x, out=lf)
        if use_mad:
            np.abs(lf, out=lf)
            return np.einsum("ij,ij->j", lf, w, out=out)
        return np.einsum("ij,ij,ij->j", lf, lf, w, out=out)  # (diff*diff)*w, C's w * (diff*diff)

    with np.errstate(all="ignore"):
        mn[...] = mn0
        np.subtract(mx, mn, out=span)
        np.divide(fnmax, span, out=best_iscale)
        np.divide(F32(1), best_iscale, out=scale)
        best_mn[...] = mn
        labels(best_iscale, mn)
        error(scale, mn, best)
        c_iscale, cur, this_scale, this_min = cand
        # on improvement: best_mn takes the min the labels used *before* min takes the candidate's
        rows = [(best_iscale, c_iscale), (best_mn, mn), (best, cur), (scale, this_scale), (mn, this_min)]
        sum_l, sum_l2, sum_xl = sums
        # Per candidate the small (m,) steps cost as much as the passes over the data, so they avoid NumPy's slow
        # paths on this size: boolean-mask assignment and masked copyto (~5 ns an element) and flatnonzero;
        # where a condition holds, its few blocks are indexed.
        numerators = [F32(rmin) + F32(rdelta) * F32(step) + fnmax for step in range(nstep + 1)]
        for numerator in numerators:
            np.subtract(mx, mn, out=span)
            np.divide(numerator, span, out=c_iscale)
            labels(c_iscale, mn)
            np.einsum("ij,ij->j", w, lf, out=sum_l)
            np.einsum("ij,ij,kij->kj", w, lf, P, out=sums[1:])
            D = sum_w * sum_l2 - sum_l * sum_l
            np.divide(sum_w * sum_xl - sum_x * sum_l, D, out=this_scale)
            np.divide(sum_l2 * sum_x - sum_l * sum_xl, D, out=this_min)
            np.greater(this_min, F32(0), out=better)
            pos = better.nonzero()[0]                  # C: if (this_min > 0) { this_min = 0; scale = xl/l2; }
            if pos.size:
                this_min[pos] = F32(0)
                this_scale[pos] = sum_xl[pos] / sum_l2[pos]
            error(this_scale, this_min, cur)
            np.greater(D, F32(0), out=better)
            better &= cur < best
            won = better.nonzero()[0]                  # a minority of blocks: index them, no masked copy
            if won.size:
                for dst, src in rows:                  # row by row: 2-D fancy assignment costs ~3x more
                    dst[won] = src[won]
    scale, mn = scale.copy(), mn.copy()
    if flat.any():
        scale[flat] = F32(0)
        mn[flat] = mn0[flat]
    return QkxSearch(scale.reshape(shape[1:]), (-mn).reshape(shape[1:]), best_iscale.reshape(shape[1:]).copy(),
                     best_mn.reshape(shape[1:]).copy(), flat.reshape(shape[1:]))
