"""Pick the file to use: the smallest one whose mean KL divergence stays under a threshold, among those that fit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from .results import CandidateResult

#: Default mean-KL threshold (nats). Around 0.01 a quantization is hard to tell from the base; 0.05 is still close
#: (Q4_K_M of a 7-8B model typically lands between the two); small models drift more at every bit width.
DEFAULT_MAX_KL = 0.05


@dataclass(frozen=True)
class Recommendation:
    """The chosen candidate (None when nothing qualifies) and a one-line reason a user can read."""

    choice: Optional[CandidateResult]
    reason: str


def recommend(results: Sequence[CandidateResult], *, max_kl: float = DEFAULT_MAX_KL,
              fits: Mapping[str, bool] | Callable[[CandidateResult], Optional[bool]] | None = None
              ) -> Recommendation:
    """The smallest file (by size on disk) with mean KL <= ``max_kl`` among the candidates that fit.

    ``fits`` is the fit verdict from the memory estimator: a mapping from file path (str) to bool, or a callable
    taking a result; a missing/None verdict counts as fitting (unknown is not excluded). Without ``fits`` every
    candidate is considered.
    """
    def verdict(r: CandidateResult) -> bool:
        if fits is None:
            return True
        v = fits(r) if callable(fits) else fits.get(str(r.model.path))
        return v is None or bool(v)

    fitting = [r for r in results if verdict(r)]
    if not results:
        return Recommendation(None, "no candidates were evaluated")
    if not fitting:
        return Recommendation(None, "none of the evaluated files fits in memory")
    good = [r for r in fitting if r.kl_mean <= max_kl]
    if not good:
        best = min(fitting, key=lambda r: r.kl_mean)
        return Recommendation(None, f"no fitting file has mean KL <= {max_kl:g}; the closest is "
                                    f"{best.model.name} ({best.kl_mean:.4f})")
    choice = min(good, key=lambda r: (r.model.file_size, r.kl_mean))
    return Recommendation(choice, f"{choice.model.name} is the smallest file that fits with mean KL "
                                  f"{choice.kl_mean:.4f} <= {max_kl:g}")
