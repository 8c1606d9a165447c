"""ggml's ``make_qx_quants`` (``rmse_type == 1``), the symmetric scale search of Q6_K, Q3_K (imatrix) and
Q4_0/Q5_0 (imatrix), vectorized across blocks and arranged to do as little work per candidate as possible.

The C routine tries the inverse scale ``-nmax/max`` and 18 neighbours ``-(nmax + 0.1*is)/max``; for each it
rounds the labels ``l = clamp(nearest_int(iscale*x), -nmax, nmax-1)``, sums ``w*x*l`` and ``w*l*l`` in order, and
keeps a candidate when ``sumlx**2 > best*suml2``. Bit for bit the same here, with these savings (each exact):

* **Rounding**: for non-zero blocks ``|iscale*x| <= nmax + 0.9`` (|x| <= amax, a few ulps at most), far below
  2**22, where ``np.rint`` is ggml's ``nearest_int``; only blocks with infinite or NaN values need the bit trick.
* **Fused sums, small working set**: ``w*x`` and ``w`` are computed once; each candidate's labels go into one
  scratch array and both sums are single in-order passes (``np.einsum``, see ``common.seq_dot``) straight into
  a (candidates, blocks) table, with no product arrays. (The chunk is cache sized; chunks above 512
  super-blocks fall off a cliff.)
* **The sequential choice on small arrays**: ``sumlx**2``, ``sumlx/suml2`` and ``scale*sumlx`` of all
  candidates are computed at once (the same float32 operations the C code does for the one it keeps); the loop
  over candidates only compares, and copies the few blocks that improved by index.
* **No label copies**: the winning inverse scale is returned, and labels are computed from it only where the
  caller needs them (Q6_K and Q3_K re-derive almost all labels from the fp16 scales anyway).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .common import F32, GROUP_MAX_EPS, first_absmax, round_clamp

# the C candidate order: the start (is = 0), then is = -9..-1, 1..9
_STEPS = np.array([0] + [s for s in range(-9, 10) if s != 0], dtype=np.float32)


class QxSearch(NamedTuple):
    scale: np.ndarray    # the returned scale per block (0 for all-zero blocks)
    iscale: np.ndarray   # the inverse scale whose labels won
    zero: np.ndarray     # bool: all-zero blocks (``amax < GROUP_MAX_EPS``), whose labels are all 0
    safe: bool           # every |iscale*x| < 2**21 (np.rint is nearest_int)


def qx_search(x: np.ndarray, nmax: int, qw: Optional[np.ndarray]) -> QxSearch:
    """Run the search over ``x`` (n, *blocks) position-first; ``qw`` None means weights ``x*x``."""
    n, shape = x.shape[0], x.shape[1:]
    m = x.size // n
    if m < 2:  # the fused sums need two blocks at least (see seq_dot): search a duplicate alongside
        pair = np.concatenate([x.reshape(n, 1)] * 2, axis=1)
        res = qx_search(pair, nmax, None if qw is None else np.concatenate([qw.reshape(n, 1)] * 2, axis=1))
        return QxSearch(*(a[:1].reshape(shape) for a in res[:3]), res.safe)
    x = np.ascontiguousarray(x, dtype=F32).reshape(n, m)
    amax, mx = first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    mx = np.where(zero, F32(1), mx)  # zero blocks get L = 0; keep their arithmetic finite
    safe = bool(np.isfinite(amax).all())
    fnmax = F32(nmax)
    w = x * x if qw is None else np.ascontiguousarray(qw, dtype=F32).reshape(n, m)
    wx = w * x                                            # (w*x), then *l below: C's w*x[i]*l
    n_cand = _STEPS.size
    with np.errstate(all="ignore"):
        iscales = np.empty((n_cand, m), dtype=F32)
        iscales[0] = -fnmax / mx
        for k in range(1, n_cand):
            np.divide(-(fnmax + F32(0.1) * _STEPS[k]), mx, out=iscales[k])
        sumlx, suml2 = _candidate_sums(x, w, wx, iscales, nmax, safe)
        scales = sumlx / suml2
        scales[0] = np.where(suml2[0] != 0, scales[0], F32(0))
        bests = scales * sumlx
        lx2 = sumlx * sumlx
        ok = suml2 > 0
        best = bests[0].copy()
        pick = np.zeros(best.shape, dtype=np.intp)
        cmp = np.empty_like(best)
        better = np.empty(best.shape, dtype=bool)
        for k in range(1, n_cand):
            np.multiply(best, suml2[k], out=cmp)
            np.greater(lx2[k], cmp, out=better)
            better &= ok[k]
            won = better.nonzero()[0]
            if won.size:
                best[won] = bests[k, won]
                pick[won] = k
        cols = np.arange(m)
        scale = scales[pick, cols]
        iscale = iscales[pick, cols]
    scale = np.where(zero, F32(0), scale)
    return QxSearch(scale.reshape(shape), iscale.reshape(shape), zero.reshape(shape), safe)


def _candidate_sums(x: np.ndarray, w: np.ndarray, wx: np.ndarray, iscales: np.ndarray, nmax: int,
                    safe: bool) -> tuple[np.ndarray, np.ndarray]:
    """``sum (w*x)*l`` and ``sum (w*l)*l`` of every candidate (rows of ``iscales``) for every block: (K, m) each.

    One candidate at a time over the whole chunk (long inner loops), the labels in one scratch array, each sum
    one fused in-order pass (see :func:`seq_dot`). Evaluating all candidates together on cache-sized slices
    was measured slower: the per-block inverse scales make NumPy's inner loops only a slice wide."""
    n_cand, m = iscales.shape
    sumlx = np.empty((n_cand, m), dtype=F32)
    suml2 = np.empty((n_cand, m), dtype=F32)
    lf = np.empty_like(x)
    for k in range(n_cand):
        qx_round(x, iscales[k], nmax, lf, safe)
        np.einsum("ij,ij->j", wx, lf, out=sumlx[k])
        np.einsum("ij,ij,ij->j", w, lf, lf, out=suml2[k])  # (w*l)*l
    return sumlx, suml2


def qx_round(x: np.ndarray, iscale: np.ndarray, nmax: int, out: np.ndarray, safe: bool) -> np.ndarray:
    """``clamp(nearest_int(iscale*x), -nmax, nmax-1)`` as float32 into ``out``. ``safe`` asserts every product
    is finite and small (np.rint is exact there; otherwise ggml's bit trick is used)."""
    np.multiply(x, iscale, out=out)
    return round_clamp(out, -nmax, nmax - 1, safe)


def qx_labels(x: np.ndarray, res: QxSearch, nmax: int, cols: Optional[np.ndarray] = None) -> np.ndarray:
    """The winning labels ``l + nmax`` as int32 (all 0 in all-zero blocks), shaped like ``x``; with ``cols``
    (a boolean mask over the blocks) only those blocks', shaped (n, count)."""
    iscale, zero = res.iscale, res.zero
    if cols is not None:
        x, iscale, zero = x[:, cols], iscale[cols], zero[cols]
    lf = np.empty_like(x)
    with np.errstate(all="ignore"):
        qx_round(x, iscale, nmax, lf, res.safe)
    L = lf.astype(np.int32)
    L += nmax
    if zero.any():
        L[:, zero] = 0
    return L


def make_qx_quants(x: np.ndarray, nmax: int, qw: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``make_qx_quants`` with ``rmse_type == 1``. ``qw`` None means weights ``x*x``.

    Returns (scale, L + nmax as int32)."""
    res = qx_search(x, nmax, qw)
    return res.scale, qx_labels(x, res, nmax)
