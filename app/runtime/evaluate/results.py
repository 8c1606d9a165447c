"""What an evaluation hands back: plain dataclasses the CLI prints and the GUI shows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from .stats import KLSummary, ValueWithError


@dataclass(frozen=True)
class EvaluatedModel:
    """A model file as evaluated: its size on disk and, when known, its parameter count and bits per weight."""

    path: Path
    file_size: int
    n_params: Optional[int] = None
    tensor_bytes: Optional[int] = None

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.name

    @property
    def bits_per_weight(self) -> Optional[float]:
        """Tensor bits per parameter, as llama.cpp reports it (None when unknown)."""
        if not self.n_params or not self.tensor_bytes:
            return None
        return 8.0 * self.tensor_bytes / self.n_params

    def to_dict(self) -> dict:
        """Plain-data form for JSON."""
        return {"path": str(self.path), "file_size": self.file_size, "n_params": self.n_params,
                "tensor_bytes": self.tensor_bytes, "bits_per_weight": self.bits_per_weight}


@dataclass(frozen=True)
class PerplexityResult:
    """Perplexity of one model on the evaluation text."""

    model: EvaluatedModel
    ppl: ValueWithError
    n_positions: int
    n_chunks: int
    n_ctx: int

    def to_dict(self) -> dict:
        """Plain-data form for JSON."""
        return {"model": self.model.to_dict(), "ppl": asdict(self.ppl), "n_positions": self.n_positions,
                "n_chunks": self.n_chunks, "n_ctx": self.n_ctx}


@dataclass(frozen=True)
class CandidateResult:
    """One candidate compared with the base: its file and the KL/perplexity summary."""

    model: EvaluatedModel
    summary: KLSummary

    @property
    def kl_mean(self) -> float:
        """Mean KL divergence from the base, in nats."""
        return self.summary.kl_mean.value

    @property
    def kl_p99(self) -> float:
        """99th percentile of the per-position KL divergence."""
        return self.summary.kl_p99

    @property
    def same_top(self) -> float:
        """Share of positions where the candidate's most likely token is the base's, in [0, 1]."""
        return self.summary.same_top.value

    @property
    def ppl(self) -> float:
        """The candidate's perplexity."""
        return self.summary.ppl.value

    def to_dict(self) -> dict:
        """Plain-data form for JSON."""
        return {"model": self.model.to_dict(), **self.summary.to_dict()}


@dataclass
class ComparisonReport:
    """A base model, its perplexity, and every candidate compared with it (in the order given)."""

    base: EvaluatedModel
    base_ppl: ValueWithError
    n_ctx: int
    n_chunks: int
    n_positions: int
    text_name: str
    candidates: list[CandidateResult] = field(default_factory=list)
    #: how many base chunks this run computed and how many came from the cache
    base_chunks_computed: int = 0
    base_chunks_cached: int = 0

    def to_dict(self) -> dict:
        """Plain-data form for JSON."""
        return {"base": {"model": self.base.to_dict(), "ppl": asdict(self.base_ppl)}, "n_ctx": self.n_ctx,
                "n_chunks": self.n_chunks, "n_positions": self.n_positions, "text": self.text_name,
                "base_chunks_computed": self.base_chunks_computed, "base_chunks_cached": self.base_chunks_cached,
                "candidates": [c.to_dict() for c in self.candidates]}
