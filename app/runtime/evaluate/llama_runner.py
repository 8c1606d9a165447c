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

from converter.core.progress import CancelToken, Cancelled

from ..errors import EvalModelError, EvaluationError
from ..settings import default_threads

log = logging.getLogger(__name__)



def scored_range(n_ctx: int) -> tuple[int, int]:
    """``(first, n_scored)``: the first scored position of a chunk and how many positions are scored."""
    first = n_ctx // 2
    return first, n_ctx - 1 - first


def check_gguf(path: str | Path) -> Path:
    """Return ``path`` if it is a GGUF model llama.cpp can load without aborting the process.

    Uses the chat's full header check (container, architecture, tensors, tokenizer); raises
    :class:`EvalModelError` with a one-line message naming the file otherwise.
    """
    from ..chat.model_file import check_model_file
    from ..errors import ModelFileError

    try:
        check_model_file(path)
    except ModelFileError as exc:
        raise EvalModelError(exc.detail, path=path) from None
    return Path(path)


class ChunkRunner:
    """One model loaded in llama.cpp with a context of ``n_ctx`` tokens, ready to score chunks.

    Use as a context manager (or call :meth:`close`); one thread owns it. ``cancel`` aborts a running decode.
    """

    def __init__(self, path: str | Path, *, n_ctx: int, n_threads: int | None = None, n_gpu_layers: int = 0,
                 cancel: Optional[CancelToken] = None) -> None:
        import llama_cpp as L

        from ..llama_process import ensure_backend

        if n_ctx < 8:
            raise EvaluationError(f"context of {n_ctx} tokens is too small to evaluate (at least 8)")
        self.path = check_gguf(path)
        self.n_ctx = n_ctx
        self.first, self.n_scored = scored_range(n_ctx)
        self._L = L
        self._model = self._ctx = self._batch = None
        ensure_backend()
        mparams = L.llama_model_default_params()
        mparams.n_gpu_layers = n_gpu_layers
        self._model = L.llama_model_load_from_file(str(self.path).encode(), mparams)
        if not self._model:
            raise EvalModelError("llama.cpp cannot load this model (see the log for why)", path=self.path)
        self._vocab = L.llama_model_get_vocab(self._model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self._vocab))
        self.add_bos = bool(L.llama_vocab_get_add_bos(self._vocab))
        self.bos = int(L.llama_vocab_bos(self._vocab))
        self.n_params = int(L.llama_model_n_params(self._model))
        self.tensor_bytes = int(L.llama_model_size(self._model))

        threads = n_threads or default_threads()
        cparams = L.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_ctx
        cparams.n_ubatch = min(n_ctx, 512)
        cparams.n_seq_max = 1
        cparams.n_outputs_max = self.n_scored
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.no_perf = True
        self._cancel = cancel
        self._abort_cb = L.ggml_abort_callback(self._should_abort)  # keep referenced while llama.cpp may call it
        cparams.abort_callback = self._abort_cb
        self._ctx = L.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            self.close()
            raise EvalModelError(f"llama.cpp cannot create a context of {n_ctx} tokens", path=self.path)
        self._batch = L.llama_batch_init(n_ctx, 0, 1)
        b = self._batch
        for k in range(n_ctx):
            b.pos[k] = k
            b.n_seq_id[k] = 1
            b.seq_id[k][0] = 0
            b.logits[k] = 1 if self.first <= k < n_ctx - 1 else 0
        b.n_tokens = n_ctx
        self._tokens = np.ctypeslib.as_array(b.token, shape=(n_ctx,))
        log.debug("loaded %s: n_vocab=%d add_bos=%s threads=%d", self.path.name, self.n_vocab, self.add_bos, threads)

    def _should_abort(self, _data) -> bool:
        return bool(self._cancel is not None and self._cancel.cancelled)

    def tokenize(self, text: bytes) -> np.ndarray:
        """Tokenize like ``llama-perplexity``: special tokens added (BOS if the vocab wants it), none parsed."""
        L = self._L
        n_max = len(text) + 8
        buf = (L.llama_token * n_max)()
        n = L.llama_tokenize(self._vocab, text, len(text), buf, n_max, True, False)
        if n < 0:
            n_max = -n
            buf = (L.llama_token * n_max)()
            n = L.llama_tokenize(self._vocab, text, len(text), buf, n_max, True, False)
        if n < 0:
            raise EvaluationError("llama.cpp failed to tokenize the evaluation text", path=self.path)
        return np.ctypeslib.as_array(buf, shape=(n_max,))[:n].astype(np.int32)

    def scored_logits(self, chunk: np.ndarray) -> np.ndarray:
        """Evaluate one chunk of ``n_ctx`` tokens; return the float32 logits of its scored positions.

        The returned array is llama.cpp's own output buffer: read it before the next call.
        Raises :class:`Cancelled` when the cancel token aborted the decode.
        """
        L = self._L
        if chunk.shape != (self.n_ctx,):
            raise ValueError(f"chunk must hold exactly {self.n_ctx} tokens, got {chunk.shape}")
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()
        self._tokens[:] = chunk
        if self.add_bos:
            self._tokens[0] = self.bos
        L.llama_memory_clear(L.llama_get_memory(self._ctx), True)
        rc = L.llama_decode(self._ctx, self._batch)
        if rc == 2 and self._cancel is not None and self._cancel.cancelled:
            raise Cancelled()
        if rc != 0:
            raise EvaluationError(f"llama_decode failed with code {rc}", path=self.path)
        ptr = L.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(ptr, shape=(self.n_scored * self.n_vocab,)).reshape(self.n_scored, self.n_vocab)

    def close(self) -> None:
        """Free the batch, the context and the model (idempotent)."""
        from ..llama_process import free_handles

        free_handles(self._batch, self._ctx, self._model)
        self._batch = self._ctx = self._model = None

    def __enter__(self) -> "ChunkRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the normal path
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
