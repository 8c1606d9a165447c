"""Perplexity of one model on the evaluation text, exactly as ``llama-perplexity`` computes it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from converter.core.progress import CancelToken, Progress, ProgressCallback, check, emit

from . import stats
from .llama_runner import ChunkRunner
from .logprobs import log_softmax, next_token_nll
from .results import EvaluatedModel, PerplexityResult
from .text import EvalText, chunk, chunk_count, scored_targets


def model_info(path: Path, runner: Optional[ChunkRunner] = None) -> EvaluatedModel:
    """Describe a model file (parameter count and tensor bytes from a loaded ``runner`` when given)."""
    return EvaluatedModel(path=Path(path), file_size=Path(path).stat().st_size,
                     n_params=runner.n_params if runner else None,
                     tensor_bytes=runner.tensor_bytes if runner else None)


def measure_perplexity(model: str | Path, *, text: EvalText | str | Path | None = None, n_ctx: int = 512,
                       n_chunks: Optional[int] = None, n_threads: Optional[int] = None, n_gpu_layers: int = 0,
                       progress: Optional[ProgressCallback] = None,
                       cancel: Optional[CancelToken] = None) -> PerplexityResult:
    """Perplexity of ``model`` over ``n_chunks`` chunks of ``n_ctx`` tokens of ``text`` (default: bundled text).

    Raises :class:`~app.runtime.errors.EvaluationError` (or its ``EvalModelError``) for bad input and
    :class:`~converter.core.progress.Cancelled` when ``cancel`` is set.
    """
    text = text if isinstance(text, EvalText) else EvalText.load(text)
    check(cancel)
    with ChunkRunner(model, n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers, cancel=cancel) as runner:
        tokens = runner.tokenize(text.data)
        n = chunk_count(len(tokens), n_ctx, n_chunks, source=text.name)
        total = n * n_ctx
        name = runner.path.name
        emit(progress, Progress("perplexity", 0, total, "tokens", name))
        nll = []
        for i in range(n):
            check(cancel)
            logits = runner.scored_logits(chunk(tokens, i, n_ctx))
            nll.append(next_token_nll(log_softmax(logits), scored_targets(tokens, i, n_ctx)))
            emit(progress, Progress("perplexity", (i + 1) * n_ctx, total, "tokens", name))
        info = model_info(runner.path, runner)
    all_nll = np.concatenate(nll)
    return PerplexityResult(model=info, ppl=stats.perplexity(all_nll), n_positions=int(all_nll.size),
                            n_chunks=n, n_ctx=n_ctx)
