"""Compare candidate models with a base model: KL divergence, top-token agreement and perplexity ratio.

The base pass runs once per (base file, text, context size) and is cached on disk (see :mod:`.base_cache`);
each candidate then costs one pass of its own over the same tokens, exactly like
``llama-perplexity --kl-divergence-base`` followed by ``--kl-divergence`` runs.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from converter.core.progress import CancelToken, Progress, ProgressCallback, check, emit

from . import stats
from ..errors import EvaluationError
from .base_cache import BaseCache
from .llama_runner import ChunkRunner, check_gguf
from .logprobs import PositionStats, base_record, compare_to_base
from .perplexity import model_info
from .results import CandidateResult, ComparisonReport, EvaluatedModel
from .text import EvalText, chunk, chunk_count, scored_targets


class _Ticker:
    """Overall progress in tokens across the base pass and every candidate pass."""

    def __init__(self, progress: Optional[ProgressCallback], total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def tick(self, item: str, n: int = 0) -> None:
        self.done += n
        emit(self.progress, Progress("evaluate", self.done, self.total, "tokens", item))


def _base_pass(base: Path, text: EvalText, cache: BaseCache, *, n_ctx: int, n_chunks: Optional[int],
               runner_kwargs: dict, progress: Optional[ProgressCallback], n_candidates: int,
               cancel: Optional[CancelToken]) -> tuple[np.ndarray, dict, int, int, _Ticker]:
    """Make sure the cache holds the base's tokens and the records of the chunks to score.

    Returns ``(tokens, meta, n_chunk, computed, ticker)``; loads the base model only if something is missing.
    """
    cached = cache.load_tokens()
    missing: list[int] = []
    if cached is not None:
        tokens, meta = cached
        n = chunk_count(len(tokens), n_ctx, n_chunks, source=text.name)
        missing = [i for i in range(n) if not cache.has_chunk(i)]
        if not missing:
            ticker = _Ticker(progress, n * n_ctx * n_candidates)
            return tokens, meta, n, 0, ticker
    with ChunkRunner(base, n_ctx=n_ctx, cancel=cancel, **runner_kwargs) as runner:
        if cached is None:
            tokens = runner.tokenize(text.data)
            n = chunk_count(len(tokens), n_ctx, n_chunks, source=text.name)
            missing = list(range(n))
            cache.save_tokens(tokens, runner.n_vocab, text_name=text.name, n_params=runner.n_params,
                              tensor_bytes=runner.tensor_bytes)
            tokens, meta = cache.load_tokens() or (tokens, {"n_vocab": runner.n_vocab})
        ticker = _Ticker(progress, (len(missing) + n * n_candidates) * n_ctx)
        item = f"base {runner.path.name}"
        ticker.tick(item)
        for i in missing:
            check(cancel)
            logits = runner.scored_logits(chunk(tokens, i, n_ctx))
            cache.save_chunk(i, base_record(logits, scored_targets(tokens, i, n_ctx)))
            ticker.tick(item, n_ctx)
    return tokens, meta, n, len(missing), ticker


def _candidate_pass(path: Path, tokens: np.ndarray, n_vocab: int, cache: BaseCache, n: int, *, n_ctx: int,
                    runner_kwargs: dict, ticker: _Ticker, cancel: Optional[CancelToken]) -> CandidateResult:
    per_chunk: list[PositionStats] = []
    with ChunkRunner(path, n_ctx=n_ctx, cancel=cancel, **runner_kwargs) as runner:
        if runner.n_vocab != n_vocab:
            raise EvaluationError(f"its vocabulary has {runner.n_vocab} tokens but the base's has {n_vocab}; "
                                  "only quantizations of the same model can be compared", path=path)
        ticker.tick(runner.path.name)
        for i in range(n):
            check(cancel)
            record = cache.load_chunk(i)
            if record is None:
                raise EvaluationError(f"the cached base log-probabilities of chunk {i} disappeared; run again",
                                      path=cache.dir)
            logits = runner.scored_logits(chunk(tokens, i, n_ctx))
            per_chunk.append(compare_to_base(logits, scored_targets(tokens, i, n_ctx), record))
            ticker.tick(runner.path.name, n_ctx)
        info = model_info(runner.path, runner)
    merged = PositionStats(kl=np.concatenate([s.kl for s in per_chunk]),
                           nll=np.concatenate([s.nll for s in per_chunk]),
                           nll_base=np.concatenate([s.nll_base for s in per_chunk]),
                           same_top=np.concatenate([s.same_top for s in per_chunk]))
    return CandidateResult(model=info, summary=stats.summarize(merged))


def compare_models(base: str | Path, candidates: Sequence[str | Path], *,
                   text: EvalText | str | Path | None = None, n_ctx: int = 512, n_chunks: Optional[int] = None,
                   n_threads: Optional[int] = None, n_gpu_layers: int = 0, use_cache: bool = True,
                   cache_root: Optional[Path] = None, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None,
                   on_result: Optional[Callable[[CandidateResult], None]] = None) -> ComparisonReport:
    """Evaluate ``base`` once (or reuse its cached pass) and compare every candidate with it.

    ``on_result`` is called with each :class:`CandidateResult` as soon as it is ready (the GUI fills its table
    row by row). Progress is reported in tokens over the whole job. Raises
    :class:`~app.runtime.errors.EvaluationError` for bad input and :class:`~converter.core.progress.Cancelled` on cancel
    (finished base chunks stay cached).
    """
    text = text if isinstance(text, EvalText) else EvalText.load(text)
    base = check_gguf(base)
    paths = [check_gguf(c) for c in candidates]
    runner_kwargs = {"n_threads": n_threads, "n_gpu_layers": n_gpu_layers}
    check(cancel)
    with tempfile.TemporaryDirectory(prefix="kompakt-eval-") if not use_cache else contextlib.nullcontext() as tmp:
        cache = BaseCache(base, text, n_ctx, root=Path(tmp) if tmp else cache_root)
        tokens, meta, n, computed, ticker = _base_pass(
            base, text, cache, n_ctx=n_ctx, n_chunks=n_chunks, runner_kwargs=runner_kwargs, progress=progress,
            n_candidates=len(paths), cancel=cancel)
        base_nll = np.concatenate([_require(cache, i).nll for i in range(n)])
        report = ComparisonReport(
            base=EvaluatedModel(path=base, file_size=base.stat().st_size, n_params=meta.get("n_params"),
                           tensor_bytes=meta.get("tensor_bytes")),
            base_ppl=stats.perplexity(base_nll), n_ctx=n_ctx, n_chunks=n, n_positions=int(base_nll.size),
            text_name=text.name, base_chunks_computed=computed, base_chunks_cached=n - computed)
        for path in paths:
            result = _candidate_pass(path, tokens, int(meta["n_vocab"]), cache, n, n_ctx=n_ctx,
                                     runner_kwargs=runner_kwargs, ticker=ticker, cancel=cancel)
            report.candidates.append(result)
            if on_result is not None:
                on_result(result)
    return report


def is_base_cached(base: str | Path, *, text: EvalText | str | Path | None = None, n_ctx: int = 512,
                   n_chunks: Optional[int] = None, cache_root: Optional[Path] = None) -> bool:
    """True when :func:`compare_models` with these arguments would not need to run the base model at all."""
    text = text if isinstance(text, EvalText) else EvalText.load(text)
    if not Path(base).is_file():
        return False
    cache = BaseCache(base, text, n_ctx, root=cache_root)
    cached = cache.load_tokens()
    if cached is None:
        return False
    n = chunk_count(len(cached[0]), n_ctx, n_chunks, source=text.name)
    return all(cache.has_chunk(i) for i in range(n))


def _require(cache: BaseCache, index: int):
    record = cache.load_chunk(index)
    if record is None:
        raise EvaluationError(f"the cached base log-probabilities of chunk {index} are missing; run again",
                              path=cache.dir)
    return record
