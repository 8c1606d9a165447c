"""Summary statistics of an evaluation, with the standard errors ``llama-perplexity`` prints.

``mean_and_uncertainty``, ``covariance`` and ``percentile`` follow perplexity.cpp: the standard error of a mean is
``sqrt((E[x^2] - E[x]^2) / (n - 1))`` (0 for ten values or fewer), a perplexity's error is ``PPL * se(mean nll)``,
the log-PPL ratio's error accounts for the covariance of the two models' nll, and percentiles interpolate linearly
between sorted values at ``fraction * (n - 1)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from .logprobs import PositionStats


@dataclass(frozen=True)
class ValueWithError:
    """A value with its standard error."""

    value: float
    se: float

    def __str__(self) -> str:
        return f"{self.value:.6g} ± {self.se:.2g}"


def mean_and_uncertainty(values: np.ndarray) -> ValueWithError:
    """Mean of ``values`` and its standard error (0 when there are 10 values or fewer), as llama.cpp computes."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n < 1:
        return ValueWithError(0.0, 0.0)
    mean = float(x.sum() / n)
    var = float((x * x).sum() / n - mean * mean)
    return ValueWithError(mean, math.sqrt(var / (n - 1)) if var > 0 and n > 10 else 0.0)


def covariance(a: np.ndarray, b: np.ndarray) -> float:
    """Covariance of the means of ``a`` and ``b`` (0 for fewer than 10 values), as llama.cpp computes."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = a.size
    if n < 10:
        return 0.0
    return float(((a * b).sum() / n - (a.sum() / n) * (b.sum() / n)) / (n - 1))


def percentile(sorted_values: np.ndarray, fraction: float) -> float:
    """Linearly interpolated percentile of already sorted values (``fraction`` in [0, 1])."""
    v = np.asarray(sorted_values, dtype=np.float64)
    if v.size == 0:
        return float("nan")
    if fraction <= 0:
        return float(v[0])
    if fraction >= 1:
        return float(v[-1])
    p = fraction * (v.size - 1)
    i = int(p)
    p -= i
    return float((1 - p) * v[i] + p * v[min(i + 1, v.size - 1)])


def median(sorted_values: np.ndarray) -> float:
    """Median of already sorted values (mean of the two middle ones for an even count)."""
    v = np.asarray(sorted_values, dtype=np.float64)
    n = v.size
    if n == 0:
        return float("nan")
    return float(v[n // 2]) if n % 2 else float(0.5 * (v[n // 2] + v[n // 2 - 1]))


def perplexity(nll: np.ndarray) -> ValueWithError:
    """Perplexity ``exp(mean nll)`` with its standard error."""
    log_ppl = mean_and_uncertainty(nll)
    ppl = math.exp(log_ppl.value)
    return ValueWithError(ppl, ppl * log_ppl.se)


@dataclass(frozen=True)
class KLSummary:
    """How far a candidate's next-token distribution is from the base's, over every scored position."""

    n_positions: int
    ppl: ValueWithError  # candidate
    ppl_base: ValueWithError
    ln_ppl_ratio: ValueWithError  # ln(PPL(Q) / PPL(base))
    ppl_ratio: ValueWithError  # PPL(Q) / PPL(base)
    ppl_diff: ValueWithError  # PPL(Q) - PPL(base)
    kl_mean: ValueWithError
    kl_median: float
    kl_p90: float
    kl_p99: float
    kl_p999: float
    kl_max: float
    same_top: ValueWithError  # share of positions whose top token agrees, in [0, 1]
    p_diff_mean: ValueWithError  # mean change of the actual token's probability
    p_diff_rms: ValueWithError

    def to_dict(self) -> dict:
        """Plain-data form (estimates become ``{"value": .., "se": ..}``), for JSON."""
        return asdict(self)


def summarize(stats: PositionStats) -> KLSummary:
    """Summarize per-position comparisons the way ``llama-perplexity --kl-divergence`` does."""
    n = int(stats.kl.size)
    nll = stats.nll.astype(np.float64)
    nll_base = stats.nll_base.astype(np.float64)
    log_ppl = mean_and_uncertainty(nll)
    log_ppl_base = mean_and_uncertainty(nll_base)
    cov = covariance(nll, nll_base)
    ratio_se = math.sqrt(max(0.0, log_ppl.se ** 2 + log_ppl_base.se ** 2 - 2.0 * cov))
    ln_ratio = ValueWithError(log_ppl.value - log_ppl_base.value, ratio_se)
    ppl = perplexity(nll)
    ppl_base = perplexity(nll_base)
    ppl_cov = ppl.value * ppl_base.value * cov
    diff_se = math.sqrt(max(0.0, ppl.se ** 2 + ppl_base.se ** 2 - 2.0 * ppl_cov))
    kl_sorted = np.sort(stats.kl)
    p_diff = stats.p_diff
    mse = mean_and_uncertainty(p_diff ** 2)
    rms = math.sqrt(mse.value)
    same = float(stats.same_top.sum()) / n if n else 0.0
    same_se = math.sqrt(same * (1 - same) / (n - 1)) if n > 1 else 0.0
    return KLSummary(
        n_positions=n, ppl=ppl, ppl_base=ppl_base, ln_ppl_ratio=ln_ratio,
        ppl_ratio=ValueWithError(math.exp(ln_ratio.value), math.exp(ln_ratio.value) * ln_ratio.se),
        ppl_diff=ValueWithError(ppl.value - ppl_base.value, diff_se),
        kl_mean=mean_and_uncertainty(stats.kl), kl_median=median(kl_sorted),
        kl_p90=percentile(kl_sorted, 0.90), kl_p99=percentile(kl_sorted, 0.99),
        kl_p999=percentile(kl_sorted, 0.999), kl_max=float(kl_sorted[-1]) if n else float("nan"),
        same_top=ValueWithError(same, same_se), p_diff_mean=mean_and_uncertainty(p_diff),
        p_diff_rms=ValueWithError(rms, 0.5 / rms * mse.se if rms > 0 else 0.0),
    )
