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

from .common import F32, GROUP_MAX_EPS, first_absmax, nearest_int, round_labels, seq_min, seq_sum


def _err(x: np.ndarray, w: np.ndarray, scale: np.ndarray, lf: np.ndarray, mn: np.ndarray, use_mad: bool,
         tmp: np.ndarray) -> np.ndarray:
    """sum_i w * f(scale*L + min - x), f = |.| or square, in order (``tmp`` is scratch shaped like x)."""
    np.multiply(lf, scale, out=tmp)
    tmp += mn
    tmp -= x
    if use_mad:
        np.abs(tmp, out=tmp)
    else:
        tmp *= tmp
    tmp *= w
    return seq_sum(tmp)


def make_qkx(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int,
             use_mad: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``make_qkx2_quants`` / ``make_qkx3_quants`` (identical once the weights are given): an asymmetric
    ``x ~ scale*L + min`` fit searched over ``nstep + 1`` inverse scales.

    Returns (scale, the_min = -min, L as uint8 shaped like x). Rather than copying labels on every improvement,
    the (iscale, min) that produced the best labels are kept and the labels recomputed once at the end."""
    tmp = w * x
    sum_w = seq_sum(w)
    sum_x = seq_sum(tmp)
    lo_x = seq_min(x)
    mx = x.max(axis=0)
    mn = np.where(lo_x > 0, F32(0), lo_x)
    flat = mx <= mn
    mn_flat = mn
    mx = np.where(flat, mn + F32(1), mx)  # flat blocks get L = 0 at the end; keep their arithmetic finite
    fnmax = F32(nmax)
    lf = np.empty_like(x)
    wl = np.empty_like(x)

    def labels(iscale: np.ndarray, mn: np.ndarray) -> np.ndarray:
        np.subtract(x, mn, out=lf)
        np.multiply(lf, iscale, out=lf)
        return round_labels(lf, 0, nmax, np.abs(iscale) * np.maximum(mx - mn, mn - lo_x))

    with np.errstate(all="ignore"):
        iscale = fnmax / (mx - mn)
        scale = F32(1) / iscale
        best = _err(x, w, scale, labels(iscale, mn), mn, use_mad, tmp)
        best_iscale, best_mn = iscale, mn
        for step in range(nstep + 1):
            iscale = (F32(rmin) + F32(rdelta) * F32(step) + fnmax) / (mx - mn)
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
                this_min = np.where(pos, F32(0), this_min)
                this_scale = np.where(pos, sum_xl / sum_l2, this_scale)
            cur = _err(x, w, this_scale, lf, this_min, use_mad, tmp)
            better = (D > 0) & (cur < best)
            if better.any():
                best_iscale = np.where(better, iscale, best_iscale)
                best_mn = np.where(better, mn, best_mn)       # the min these labels were computed with
                best = np.where(better, cur, best)
                scale = np.where(better, this_scale, scale)
                mn = np.where(better, this_min, mn)
        L = labels(best_iscale, best_mn).astype(np.uint8)
    if flat.any():
        L[:, flat] = 0
        scale = np.where(flat, F32(0), scale)
        mn = np.where(flat, mn_flat, mn)
    return scale, -mn, L


def make_qx_quants(x: np.ndarray, nmax: int, qw: Optional[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``make_qx_quants`` with ``rmse_type == 1``: a symmetric fit, 18 candidate scales around ``-nmax/max``.

    ``qw`` None means weights ``x*x``. Returns (scale, L + nmax as int32)."""
    amax, mx = first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    mx = np.where(zero, F32(1), mx)  # zero blocks get L = 0 at the end; keep their arithmetic finite
    w = x * x if qw is None else qw
    wx = w * x
    fnmax = F32(nmax)
    lf = np.empty_like(x)
    tmp = np.empty_like(x)

    def candidate(iscale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        np.multiply(x, iscale, out=lf)
        round_labels(lf, -nmax, nmax - 1, np.abs(iscale) * amax)
        np.multiply(wx, lf, out=tmp)
        sumlx = seq_sum(tmp)
        np.multiply(w, lf, out=tmp)
        np.multiply(tmp, lf, out=tmp)
        return sumlx, seq_sum(tmp)

    with np.errstate(all="ignore"):
        best_iscale = -fnmax / mx
        sumlx, suml2 = candidate(best_iscale)
        scale = np.where(suml2 != 0, sumlx / suml2, F32(0))
        best = scale * sumlx
        for step in range(-9, 10):
            if step == 0:
                continue
            iscale = -(fnmax + F32(0.1) * F32(step)) / mx
            sumlx, suml2 = candidate(iscale)
            better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
            if better.any():
                best_iscale = np.where(better, iscale, best_iscale)
                scale = np.where(better, sumlx / suml2, scale)
                best = np.where(better, scale * sumlx, best)
        np.multiply(x, best_iscale, out=lf)        # the best candidate's labels, recomputed once
        round_labels(lf, -nmax, nmax - 1, np.abs(best_iscale) * amax)
    L = lf.astype(np.int32) + nmax
    if zero.any():
        L[:, zero] = 0
        scale = np.where(zero, F32(0), scale)
    return scale, L


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
                np.clip(new, lo, hi, out=new)
            else:
                np.minimum(new, hi, out=new)
            nf = new.astype(F32)
            ok &= nf != li
            slx += wxa[i] * nf
            sl2 += (wa[i] * nf) * nf
            if not need_sl2_pos:
                ok &= sl2 > 0
            ok &= (slx * slx) * s2 > (sx * sx) * sl2
            if ok.any():
                changed |= ok
                stored = new.astype(np.uint8).astype(F32) if wrap_u8 else nf  # uint8_t L[] wraps
                La[i] = np.where(ok, stored, li)
                sx = np.where(ok, slx, sx)
                s2 = np.where(ok, sl2, s2)
        if cols is None:
            L2[...] = La
            out_lx[:], out_l2[:] = sx, s2
        else:
            L2[:, cols] = La
            out_lx[cols], out_l2[cols] = sx, s2
        if not changed.any():
            break
        cols = np.nonzero(changed)[0] if cols is None else cols[changed]
        xa, wa, wxa, La = xa[:, changed], wa[:, changed], wxa[:, changed], La[:, changed]
        sx, s2 = sx[changed], s2[changed]
    return out_lx.reshape(shape), out_l2.reshape(shape)


def make_q3_quants(x: np.ndarray, nmax: int) -> tuple[np.ndarray, np.ndarray]:
    """``make_q3_quants(do_rmse=true)``: symmetric labels refined by coordinate descent with weights ``x*x``.

    Returns (scale, L + nmax as int32)."""
    amax, mx = first_absmax(x)
    zero = amax < GROUP_MAX_EPS
    w = x * x
    with np.errstate(all="ignore"):
        lab = nearest_int((-F32(nmax) / mx) * x)
        np.clip(lab, -nmax, nmax - 1, out=lab)
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
            better = mse < best
            best = np.where(better, mse, best)
            iscale = np.where(better, iscale_is, iscale)
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
