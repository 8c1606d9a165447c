"""A llama.cpp context and its batch, made by :meth:`app.runtime.llama.model.LoadedModel.new_context`.

A :class:`Context` owns the ``llama_context`` pointer, the ctypes callbacks llama.cpp may call (abort, graph eval)
and one :class:`Batch` of ``n_batch`` tokens. :meth:`Context.decode` evaluates the batch and turns
llama.cpp's return code into the caller's error, or :class:`Cancelled` when the cancel token aborted it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from converter.core.quant_types import KV_CACHE_DEFAULT, QType
from app.runtime.llama.log import first_error
from converter.core.progress import CancelToken, Cancelled

if TYPE_CHECKING:
    from app.runtime.llama.model import ErrorKinds

log = logging.getLogger(__name__)

FLASH_ATTN = {"auto": -1, "off": 0, "on": 1}  # LLAMA_FLASH_ATTN_TYPE_*
_DECODE_FAILURES = {1: "no room left in the K/V cache", 2: "aborted"}

#: ``ggml_backend_sched_eval_callback``: ``(tensor address, ask, user data) -> bool``.
EvalCallback = Callable[[int, bool, int], bool]


@dataclass(frozen=True)
class ContextOptions:
    """What a context is created with. ``n_batch`` and ``n_ubatch`` default to ``n_ctx`` and ``min(n_batch,
    512)``; ``n_outputs_max`` 0 means ``n_batch``; ``swa_full`` None keeps llama.cpp's default."""

    n_ctx: int
    n_threads: int
    n_batch: Optional[int] = None
    n_ubatch: Optional[int] = None
    n_seq_max: int = 1
    n_outputs_max: int = 0
    type_k: str = KV_CACHE_DEFAULT
    type_v: str = KV_CACHE_DEFAULT
    flash_attn: str = "auto"  # one of FLASH_ATTN
    swa_full: Optional[bool] = None

    @property
    def batch_size(self) -> int:
        """The effective ``n_batch`` (never more than the context)."""
        return min(self.n_batch or self.n_ctx, self.n_ctx)

    @property
    def ubatch_size(self) -> int:
        """The effective ``n_ubatch``."""
        return min(self.n_ubatch or 512, self.batch_size)

    def describe(self) -> str:
        """``a 512-token context (K/V f16/f16, flash attention auto)`` for error messages."""
        return (f"a {self.n_ctx}-token context (K/V {self.type_k}/{self.type_v}, "
                f"flash attention {self.flash_attn})")

    def to_llama(self, L) -> object:
        """The ``llama_context_params`` struct for these options (callbacks are set by :class:`Context`)."""
        p = L.llama_context_default_params()
        p.n_ctx = self.n_ctx
        p.n_batch = self.batch_size
        p.n_ubatch = self.ubatch_size
        p.n_seq_max = self.n_seq_max
        p.n_outputs_max = self.n_outputs_max
        p.n_threads = p.n_threads_batch = self.n_threads
        p.type_k = int(QType.parse(self.type_k))
        p.type_v = int(QType.parse(self.type_v))
        p.flash_attn_type = FLASH_ATTN[self.flash_attn]
        if self.swa_full is not None:
            p.swa_full = self.swa_full
        p.no_perf = True
        return p


class Batch:
    """A ``llama_batch`` of ``capacity`` tokens of one sequence, with NumPy views on its token, position and
    output-flag arrays."""

    def __init__(self, L, capacity: int) -> None:
        self._L = L
        self.capacity = capacity
        self.raw = L.llama_batch_init(capacity, 0, 1)
        self.tokens = np.ctypeslib.as_array(self.raw.token, shape=(capacity,))
        self.pos = np.ctypeslib.as_array(self.raw.pos, shape=(capacity,))
        self.outputs = np.ctypeslib.as_array(self.raw.logits, shape=(capacity,))
        self.raw.n_tokens = 0
        self._seq = -1
        self._set_seq(0)

    def _set_seq(self, seq: int) -> None:
        if seq != self._seq:
            b = self.raw
            for k in range(self.capacity):
                b.n_seq_id[k] = 1
                b.seq_id[k][0] = seq
            self._seq = seq

    def fill(self, tokens: Sequence[int] | np.ndarray, *, start: int = 0, outputs: str | tuple[int, int] = "last",
             seq: int = 0) -> None:
        """Put ``tokens`` of sequence ``seq`` at positions ``start, start+1, ...``; ``outputs`` asks for logits of
        the ``"last"`` token, of ``"all"`` tokens, or of the batch rows ``(first, stop)``."""
        n = len(tokens)
        if not 0 < n <= self.capacity:
            raise ValueError(f"internal error: batch of {n} tokens (capacity {self.capacity})")
        self._set_seq(seq)
        self.tokens[:n] = tokens
        self.pos[:n] = np.arange(start, start + n, dtype=self.pos.dtype)
        if outputs == "all":
            self.outputs[:n] = 1
        elif outputs == "last":
            self.outputs[:n] = 0
            self.outputs[n - 1] = 1
        else:
            self.outputs[:n] = 0
            self.outputs[outputs[0]:outputs[1]] = 1
        self.raw.n_tokens = n

    @property
    def n_tokens(self) -> int:
        """How many tokens the batch holds now."""
        return int(self.raw.n_tokens)

    def free(self) -> None:
        """Free the batch's arrays (idempotent)."""
        if self.raw is not None:
            self._L.llama_batch_free(self.raw)
            self.raw = None


class Context:
    """A ``llama_context`` with one :class:`Batch`. Made and freed by its :class:`LoadedModel`."""

    def __init__(self, L, model, options: ContextOptions, *, path: Path, errors: "ErrorKinds",
                 cancel: Optional[CancelToken] = None, eval_callback: Optional[EvalCallback] = None) -> None:
        self._L = L
        self.path = path
        self.errors = errors
        self.options = options
        self._cancel = cancel
        self.ctx = self.batch = None
        params = options.to_llama(L)
        # the ctypes callbacks stay referenced by this object for as long as llama.cpp may call them; the abort
        # callback runs once per graph node, so it is installed only when there is something to cancel
        self._abort_cb = self._eval_cb = None
        if cancel is not None:
            self._abort_cb = L.ggml_abort_callback(self._should_abort)
            params.abort_callback = self._abort_cb
        if eval_callback is not None:
            self._eval_cb = L.ggml_backend_sched_eval_callback(eval_callback)
            params.cb_eval = self._eval_cb
            params.cb_eval_user_data = None
        first_error()  # forget older ones
        self.ctx = L.llama_init_from_model(model, params)
        if not self.ctx:
            why = first_error() or "out of memory?"
            raise errors.failure(f"llama.cpp cannot create {options.describe()}: {why}", path=path)
        self.n_ctx = int(L.llama_n_ctx(self.ctx))
        self.memory = L.llama_get_memory(self.ctx)
        self.batch = Batch(L, min(options.batch_size, self.n_ctx))

    def _should_abort(self, _data) -> bool:
        return bool(self._cancel is not None and self._cancel.cancelled)

    @property
    def n_batch(self) -> int:
        """The most tokens one :meth:`decode` takes."""
        return self.batch.capacity

    def clear(self) -> None:
        """Empty the K/V cache (every sequence)."""
        self._L.llama_memory_clear(self.memory, True)

    def remove(self, seq: int, start: int, stop: int = -1) -> bool:
        """Forget positions ``start..stop`` of sequence ``seq`` (-1: all); False when the cache cannot be cut so."""
        return bool(self._L.llama_memory_seq_rm(self.memory, seq, start, stop))

    def decode(self) -> None:
        """Evaluate the batch. Raises :class:`Cancelled` when the cancel token aborted it, the caller's failure
        error when llama.cpp refused."""
        n = self.batch.n_tokens
        rc = self._L.llama_decode(self.ctx, self.batch.raw)
        if rc == 0:
            return
        if rc == 2 and self._cancel is not None and self._cancel.cancelled:
            raise Cancelled()
        reason = _DECODE_FAILURES.get(rc, f"error code {rc}")
        raise self.errors.failure(f"llama.cpp failed to evaluate {n} tokens: {reason}", path=self.path)

    def logits(self, n_rows: int, n_vocab: int) -> np.ndarray:
        """The first ``n_rows`` output rows of the last decode as a (n_rows, n_vocab) float32 view of llama.cpp's
        buffer: read it before the next decode."""
        ptr = self._L.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(ptr, shape=(n_rows * n_vocab,)).reshape(n_rows, n_vocab)

    def free(self) -> None:
        """Free the batch and the context (idempotent)."""
        if self.batch is not None:
            self.batch.free()
        if self.ctx:
            self._L.llama_free(self.ctx)
        self.ctx = None
