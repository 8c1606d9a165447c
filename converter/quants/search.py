"""ggml's scale searches, vectorized across blocks (one idea, one function).

Every function takes ``x`` shaped ``(n, *blocks)``: ``n`` positions of one (sub-)block on axis 0, any number of
independent blocks after it, and reproduces the C routine of the same name in ggml-quants.c bit for bit:
float32 throughout, the C evaluation order of each expression (``w*x*l`` is ``(w*x)*l``), in-order sums, and the
variables the C loop carries from one candidate to the next (``make_qkx`` shifts ``min`` as it improves).
Loops run only over candidates, refinement passes and the positions of a block where the C code is sequential.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .common import F32, GROUP_MAX_EPS, clip_ufunc, first_absmax, nearest_int, seq_sum


def _refine(x: np.ndarray, w: np.ndarray, L: np.ndarray, sumlx: np.ndarray, suml2: np.ndarray,
            lo: Optional[int], hi: int, need_sl2_pos: bool, wrap_u8: bool) -> tuple[np.ndarray, np.ndarray]:
    """The coordinate-descent passes shared by ``make_q3_quants`` and ``make_qp_quants``: up to 5 sweeps over the
    positions, moving one label at a time when that raises sumlx**2 / suml2. ``L`` (float32 labels, contiguous)
    is updated in place. A block whose sweep changed nothing is at a fixed point (the next sweep would redo the
    same arithmetic), so after each sweep only the blocks that changed are carried on."""
    n = x.shape[0]
    shape = sumlx.shape
    L2 = L.reshape(n, -1)
    out_lx, out_l2 = sumlx.reshape(-1).copy(), suml2.reshape(-1).copy()
    cols = None
    xa, wa, La = x.reshape(n, -1), w.reshape(n, -1), L2.copy()
    wxa = wa * xa
    sx, s2 = out_lx.copy(), out_l2.copy()
    for _ in range(5):
        changed = np.zeros(sx.shape, dtype=bool)
        for i in range(n):
            li = La[i]
            slx = sx - wxa[i] * li
            sl2 = s2 - (wa[i] * li) * li
            ok = slx > 0
            if need_sl2_pos:
                ok &= sl2 > 0
            if not ok.any():
                continue
            new = nearest_int(xa[i] * sl2 / slx)
            if lo is not None:
                clip_ufunc(new, lo, hi, out=new)
            else:
                np.minimum(new, hi, out=new)
            nf = new.astype(F32)
            ok &= nf != li
            slx += wxa[i] * nf
            sl2 += (wa[i] * nf) * nf
            if not need_sl2_pos:
                ok &= sl2 > 0
            ok &= (slx * slx) * s2 > (sx * sx) * sl2
            moved = ok.nonzero()[0]                  # indexed updates: np.where costs ~10x more per element
            if moved.size:
                changed[moved] = True
                stored = new[moved].astype(np.uint8).astype(F32) if wrap_u8 else nf[moved]  # uint8_t L[] wraps
                li[moved] = stored
                sx[moved] = slx[moved]
                s2[moved] = sl2[moved]
        if cols is None:
            L2[...] = La
            out_lx[:], out_l2[:] = sx, s2
        else:
            L2[:, cols] = La
            out_lx[cols], out_l2[cols] = sx, s2
        if not changed.any():
            break
        keep = changed.nonzero()[0]
        cols = keep if cols is None else cols[keep]
        xa, wa, wxa, La = (np.take(a, keep, axis=1) for a in (xa, wa, wxa, La))
        sx, s2 = sx[keep], s2[keep]
    return out_lx.reshape(shape), out_l2.reshape(shape)


def make_q3_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """``make_q3_quants(do_rmse=true)``: symmetric labels refined by coordinate descent with weights ``x*x``.

    Returns (scale, L + nmax as int32)."""
    amax, mx = first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    w = x * x
    with np.errstate(all="ignore"):
        lab = nearest_int((-F32(nmax) / mx) * x)
        clip_ufunc(lab, -nmax, nmax - 1, out=lab)
        L = lab.astype(F32)
        sumlx = seq_sum((w * x) * L)
        suml2 = seq_sum((w * L) * L)
        sumlx, suml2 = _refine(x, w, L, sumlx, suml2, -nmax, nmax - 1, False, False)
        scale = np.where(suml2 > 0, sumlx / suml2, F32(0))
    out = L.astype(np.int32) + nmax
    if zero.any():
        out[:, zero] = 0
        scale = np.where(zero, F32(0), scale)
    return scale, out


def make_qp_quants(x: np.ndarray, nmax: int, qw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``make_qp_quants``: non-negative values (the scales/mins of a super-block) to labels ``0..nmax`` with
    weights ``qw``. Labels are uint8 like the C array (a negative label wraps). Returns (scale, L uint8)."""
    mx = np.maximum(x.max(axis=0), F32(0))
    zero = mx < GROUP_MAX_EPS
    fnmax = F32(nmax)
    with np.errstate(all="ignore"):
        iscale = fnmax / mx
        L0 = nearest_int(iscale * x).astype(np.uint8).astype(F32)
        diff = x - (F32(1) / iscale) * L0
        best = seq_sum((qw * diff) * diff)
        for step in range(-4, 5):
            if step == 0:
                continue
            iscale_is = (F32(0.1) * F32(step) + fnmax) / mx
            lab = np.minimum(nearest_int(iscale_is * x), nmax).astype(F32)
            diff = x - (F32(1) / iscale_is) * lab
            mse = seq_sum((qw * diff) * diff)
            won = (mse < best).nonzero()
            best[won] = mse[won]
            iscale[won] = iscale_is[won]
        lab = np.minimum(nearest_int(iscale * x), nmax).astype(F32)
        sumlx = seq_sum((qw * x) * lab)
        suml2 = seq_sum((qw * lab) * lab)
        L = lab.astype(np.int32).astype(np.uint8).astype(F32)
        sumlx, suml2 = _refine(x, qw, L, sumlx, suml2, None, nmax, True, True)
        scale = np.where(suml2 > 0, sumlx / suml2, F32(0))
    out = L.astype(np.uint8)
    if zero.any():
        out[:, zero] = 0
        scale = np.where(zero, F32(0), scale)
    return scale, out


def make_qp_quants_pair(scales: np.ndarray, mins: np.ndarray, nmax: int, qw: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`make_qp_quants` of a super-block's scales and of its mins (same weights) in one call: the two are
    independent per block, and one call over twice the blocks halves the per-call overhead of the refinement.
    Returns (d, scale labels, dmin, min labels)."""
    n = scales.shape[-1]
    both, labels = make_qp_quants(np.concatenate([scales, mins], axis=-1), nmax, np.concatenate([qw, qw], axis=-1))
    return both[..., :n], labels[..., :n], both[..., n:], labels[..., n:]
