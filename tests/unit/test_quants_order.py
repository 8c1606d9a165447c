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
