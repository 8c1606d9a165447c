"""The evaluation maths (log-softmax, KL divergence, top token, statistics) against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.runtime.evaluate.logprobs import (KEEP_PROB, PositionStats, base_record, compare_to_base, log_softmax,
                                           next_token_nll)
from app.runtime.evaluate.stats import covariance, mean_and_uncertainty, median, percentile, summarize


def _logits(*probs) -> np.ndarray:
    return np.log(np.array(probs, dtype=np.float64)).astype(np.float32)[None, :]


def test_log_softmax_matches_float64_and_llama_nll():
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((3, 1000)) * 4).astype(np.float32)
    lp = log_softmax(z)
    assert lp.dtype == np.float32
    ref = z.astype(np.float64) - np.log(np.exp(z.astype(np.float64)).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(lp, ref, atol=2e-5)
    # llama.cpp: nll = max_logit + (float)log(sum_exp) - logits[tok], all float32 but the sum
    tok = np.array([1, 2, 3])
    for i in range(3):
        m = z[i].max()
        lse = np.float32(math.log(float(np.exp(z[i] - m).astype(np.float64).sum())))
        assert next_token_nll(lp, tok)[i] == np.float32((m + lse) - z[i, tok[i]])


def test_kl_of_small_distributions_by_hand():
    # KL([.5,.25,.25] || [.25,.5,.25]) = .5 ln 2 + .25 ln .5 = .25 ln 2
    base = base_record(_logits(0.5, 0.25, 0.25), np.array([0]))
    s = compare_to_base(_logits(0.25, 0.5, 0.25), np.array([0]), base)
    assert s.kl[0] == pytest.approx(0.25 * math.log(2), abs=1e-6)
    assert s.nll[0] == pytest.approx(math.log(4), abs=1e-6) and s.nll_base[0] == pytest.approx(math.log(2), abs=1e-6)
    assert not s.same_top[0]


def test_kl_folds_the_unlikely_tail_into_one_bucket():
    tiny = KEEP_PROB / 10
    p = [0.9, 0.1 - 2 * tiny, tiny, tiny]
    q = [0.8, 0.2 - 3 * tiny, 2 * tiny, tiny]
    base = base_record(_logits(*p), np.array([1]))
    assert list(np.diff(base.offsets)) == [2] and list(base.ids) == [0, 1]
    s = compare_to_base(_logits(*q), np.array([1]), base)
    pt, qt = 2 * tiny, 3 * tiny
    expected = p[0] * math.log(p[0] / q[0]) + p[1] * math.log(p[1] / q[1]) + pt * math.log(pt / qt)
    assert s.kl[0] == pytest.approx(expected, abs=2e-6)
    assert s.same_top[0]


def test_model_against_itself_is_exactly_zero_and_agrees_on_top():
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((40, 3000)) * 3).astype(np.float32)
    tok = rng.integers(0, 3000, 40)
    s = compare_to_base(z, tok, base_record(z, tok))
    assert np.all(s.kl == 0.0) and s.same_top.all() and np.all(s.p_diff == 0)


def test_top_token_ties_take_the_first_index():
    z = np.array([[1.0, 3.0, 3.0, 0.0]], dtype=np.float32)
    rec = base_record(z, np.array([0]))
    assert rec.top[0] == 1
    swapped = np.array([[1.0, 3.0, 3.0001, 0.0]], dtype=np.float32)
    assert not compare_to_base(swapped, np.array([0]), rec).same_top[0]


def _llama_cpp_uint16_kl(base: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """perplexity.cpp's method: base log-probs as 16-bit fixed point over [max-16, max], tokens below e^-16 skipped."""
    out = []
    for zb, zc in zip(base.astype(np.float32), cand.astype(np.float32)):
        mx, mn = zb.max(), max(zb.min(), zb.max() - np.float32(16))
        lse = np.float32(math.log(float(np.exp(zb - mx).astype(np.float64).sum())))
        min_log_prob = mn - mx - lse
        scale = (mx - mn) / np.float32(65535)
        code = np.where(zb > mn, np.rint((zb - mn) / scale), 0).astype(np.uint16)
        lpb = scale * code.astype(np.float32) + min_log_prob
        cmx = zc.max()
        clse = np.float32(math.log(float(np.exp(zc - cmx).astype(np.float64).sum())))
        keep = lpb > -16
        out.append(float((np.exp(lpb[keep]) * (lpb[keep] - zc[keep] + (cmx + clse))).astype(np.float64).sum()))
    return np.array(out)


def test_kl_agrees_with_llama_cpp_compressed_base_format():
    rng = np.random.default_rng(2)
    z = (rng.standard_normal((30, 8000)) * 2.5).astype(np.float32)
    z[:, :50] += 6  # a peaked head like a language model's
    cand = (z + rng.standard_normal(z.shape) * 0.3).astype(np.float32)
    tok = rng.integers(0, 50, 30)
    ours = compare_to_base(cand, tok, base_record(z, tok)).kl
    ref = _llama_cpp_uint16_kl(z, cand)
    assert ours.mean() == pytest.approx(ref.mean(), rel=0.01)
    np.testing.assert_allclose(ours, ref, rtol=0.03)


def test_percentile_median_and_standard_errors_by_hand():
    v = np.arange(1, 11, dtype=np.float64)
    assert percentile(v, 0.99) == pytest.approx(9.91)
    assert percentile(v, 0.5) == pytest.approx(5.5) and percentile(v, 0) == 1 and percentile(v, 1) == 10
    assert median(v) == 5.5 and median(np.array([1.0, 2.0, 7.0])) == 2.0
    assert mean_and_uncertainty(v).se == 0.0  # llama.cpp reports no error for 10 values or fewer
    w = np.arange(11, dtype=np.float64)  # mean 5, E[x^2] = 35, variance 10
    est = mean_and_uncertainty(w)
    assert est.value == 5.0 and est.se == pytest.approx(math.sqrt(10 / 10))
    assert covariance(w, 2 * w) == pytest.approx(2 * 10 / 10)


def test_summary_of_known_positions():
    n = 20
    kl = np.linspace(0, 0.19, n)
    nll = np.full(n, math.log(10), dtype=np.float32)
    nll_base = np.full(n, math.log(8), dtype=np.float32)
    same = np.array([True] * 15 + [False] * 5)
    s = summarize(PositionStats(kl=kl, nll=nll, nll_base=nll_base, same_top=same))
    assert s.n_positions == n
    assert s.kl_mean.value == pytest.approx(0.095) and s.kl_max == pytest.approx(0.19)
    assert s.kl_median == pytest.approx(0.095) and s.kl_p99 == pytest.approx(0.99 * 19 * 0.01)
    assert s.ppl.value == pytest.approx(10, rel=1e-6) and s.ppl_base.value == pytest.approx(8, rel=1e-6)
    assert s.ppl_ratio.value == pytest.approx(1.25, rel=1e-6) and s.ppl_diff.value == pytest.approx(2, rel=1e-5)
    assert s.same_top.value == 0.75 and s.same_top.se == pytest.approx(math.sqrt(0.75 * 0.25 / 19))
    assert s.p_diff_mean.value == pytest.approx(0.1 - 0.125, rel=1e-5)
    assert s.p_diff_rms.value == pytest.approx(0.025, rel=1e-5)
