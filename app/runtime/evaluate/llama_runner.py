"""Run a GGUF model over fixed-size chunks of tokens with llama.cpp and hand back the logits that get scored.

Like ``llama-perplexity``: each chunk of ``n_ctx`` tokens is evaluated from an empty KV cache in ONE
``llama_decode`` (``n_batch = n_ctx``), its first token replaced by BOS when the vocabulary adds one, and only the
second half is scored: the logits at positions ``n_ctx/2 .. n_ctx-2`` predict tokens ``n_ctx/2+1 .. n_ctx-1``.
We ask llama.cpp for exactly those rows (``n_outputs_max`` is sized to them), so the other half costs no output
projection. A cancel token is polled by llama.cpp's abort callback during the decode, so even a long chunk on a
big model stops within one graph node.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from app.runtime.errors import EvalModelError, EvaluationError
from app.runtime.llama.context import ContextOptions
from app.runtime.llama.model import ErrorKinds, ModelOptions, open_model
from app.runtime.llama.model_file import check_model_file
from app.runtime.settings import default_threads
from converter.core.progress import CancelToken

log = logging.getLogger(__name__)


def scored_range(n_ctx: int) -> tuple[int, int]:
    """``(first, n_scored)``: the first scored position of a chunk and how many positions are scored."""
    first = n_ctx // 2
    return first, n_ctx - 1 - first


_ERRORS = ErrorKinds(file=EvalModelError, failure=EvaluationError)


def check_gguf(path: str | Path) -> Path:
    """Return ``path`` if it is a GGUF model llama.cpp can load without aborting the process.

    Uses the adapter's full header check (container, architecture, tensors, tokenizer); raises
    :class:`EvalModelError` with a one-line message naming the file otherwise.
    """
    check_model_file(path, EvalModelError)
    return Path(path)


class ChunkRunner:
    """One model loaded in llama.cpp with a context of ``n_ctx`` tokens, ready to score chunks.

    Use as a context manager (or call :meth:`close`); one thread owns it. ``cancel`` aborts a running decode.
    """

    def __init__(self, path: str | Path, *, n_ctx: int, n_threads: int | None = None, n_gpu_layers: int = 0,
                 cancel: Optional[CancelToken] = None) -> None:
        if n_ctx < 8:
            raise EvaluationError(f"context of {n_ctx} tokens is too small to evaluate (at least 8)")
        self.path = Path(path)
        self.n_ctx = n_ctx
        self.first, self.n_scored = scored_range(n_ctx)
        self._cancel = cancel
        # ``cancel`` aborts decodes only: callers check it between models, and a load is short next to a ladder
        self._model = open_model(self.path, ModelOptions(n_gpu_layers=n_gpu_layers), errors=_ERRORS)
        m = self._model
        self.n_vocab, self.add_bos, self.bos = m.n_vocab, m.add_bos, m.bos
        self.n_params = m.n_params
        self.tensor_bytes = m.size_bytes
        threads = n_threads or default_threads()
        try:
            self._ctx = m.new_context(ContextOptions(n_ctx=n_ctx, n_threads=threads, n_batch=n_ctx,
                                                     n_outputs_max=self.n_scored), cancel=cancel)
        except BaseException:
            self.close()
            raise
        self._ctx.batch.fill(np.zeros(n_ctx, dtype=np.int32), outputs=(self.first, n_ctx - 1))
        self._tokens = self._ctx.batch.tokens
        log.debug("loaded %s: n_vocab=%d add_bos=%s threads=%d", self.path.name, self.n_vocab, self.add_bos, threads)

    def tokenize(self, text: bytes) -> np.ndarray:
        """Tokenize like ``llama-perplexity``: special tokens added (BOS if the vocab wants it), none parsed."""
        return self._model.tokenize(text, add_special=True, parse_special=False)

    def scored_logits(self, chunk: np.ndarray) -> np.ndarray:
        """Evaluate one chunk of ``n_ctx`` tokens; return the float32 logits of its scored positions.

        The returned array is llama.cpp's own output buffer: read it before the next call.
        Raises :class:`Cancelled` when the cancel token aborted the decode.
        """
        if chunk.shape != (self.n_ctx,):
            raise ValueError(f"chunk must hold exactly {self.n_ctx} tokens, got {chunk.shape}")
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()
        self._tokens[:self.n_ctx] = chunk
        if self.add_bos:
            self._tokens[0] = self.bos
        self._ctx.clear()
        self._ctx.decode()
        return self._ctx.logits(self.n_scored, self.n_vocab)

    def close(self) -> None:
        """Free the context, its batch and the model (idempotent)."""
        self._model.close()

    def __enter__(self) -> "ChunkRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
