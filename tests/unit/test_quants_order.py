"""The float32 sums the quantizers are built on add in the C loops' order, whatever the array shape."""

from __future__ import annotations

import numpy as np
import pytest

from converter.quants.common import F32, seq_dot, seq_sum


def _c_loop(*ops: np.ndarray, start_from_zero: bool) -> np.ndarray:
    acc = None
    for i in range(ops[0].shape[0]):
        p = ops[0][i]
        for o in ops[1:]:
            p = p * o[i]
        acc = (np.zeros_like(p) + p if start_from_zero else p.copy()) if acc is None else acc + p
    return acc


@pytest.mark.parametrize("shape", [(32,), (32, 1), (16, 1, 1), (8, 2), (32, 8, 3), (9, 4096)])
@pytest.mark.parametrize("n_ops", [2, 3])
def test_seq_dot_is_the_c_loop(shape, n_ops):
    rng = np.random.default_rng(sum(shape) + n_ops)
    ops = [(rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 5, size=shape)).astype(F32)
           for _ in range(n_ops)]
    ops[0].reshape(-1)[::5] = F32(-0.0)
    expected = _c_loop(*ops, start_from_zero=True)
    got = seq_dot(*ops)
    assert np.array_equal(np.asarray(got).view(np.uint32), np.asarray(expected).view(np.uint32))
    out = np.empty(shape[1:], F32)
    seq_dot(*ops, out=out)
    assert np.array_equal(out.view(np.uint32), np.asarray(expected).view(np.uint32))


@pytest.mark.parametrize("shape", [(32,), (32, 1), (8, 1), (128, 1), (32, 8, 3)])
def test_seq_sum_is_the_c_loop(shape):
    rng = np.random.default_rng(len(shape) * 7 + shape[0])
    a = (rng.standard_normal(shape) * 10.0 ** rng.integers(-4, 5, size=shape)).astype(F32)
    expected = _c_loop(a, start_from_zero=False)
    assert np.array_equal(np.asarray(seq_sum(a)).view(np.uint32), np.asarray(expected).view(np.uint32))


def _c_first_absmax(col: np.ndarray) -> tuple[np.float32, np.float32]:
    amax = mx = F32(0)
    for v in col:
        if abs(v) > amax:
            amax, mx = abs(v), v
    return amax, mx


@pytest.mark.parametrize("seed", range(4))
def test_first_absmax_is_the_c_loop(seed):
    """Blocks with ties of both signs, signed zeros, all zeros, infinities and NaN: magnitude, value and every
    zero's sign as ggml's loop leaves them."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(8, 600)).astype(F32)    # small integers: many +-ties
    x[:, ::7] *= F32(1e-40)                               # denormals
    x[:, 1::9] = F32(-0.0)
    x[:, 2::9] = np.where(rng.random((8, 1)) < 0.5, F32(-0.0), F32(0.0))
    x[rng.integers(0, 8), 3::50] = F32(np.inf)
    x[rng.integers(0, 8), 4::50] = F32(-np.inf)
    if seed % 2:
        x[rng.integers(0, 8), 5::60] = F32(np.nan)
    from converter.quants.common import first_absmax

    amax, mx = first_absmax(x)
    for j in range(x.shape[1]):
        want = _c_first_absmax(x[:, j])
        got = (amax[j], mx[j])
        assert np.array_equal(np.array(got, F32).view(np.uint32), np.array(want, F32).view(np.uint32)), j
