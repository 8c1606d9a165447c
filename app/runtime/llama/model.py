"""Open a GGUF model in llama.cpp: check the file, load it, and own it with its contexts until closed.

    with open_model(path, ModelOptions(n_gpu_layers=0), errors=EVAL_ERRORS, cancel=token) as model:
        ctx = model.new_context(ContextOptions(n_ctx=512, n_threads=4), cancel=token)
        ctx.batch.fill(model.tokenize("Hello", add_special=True, parse_special=False))
        ctx.decode()

Every load goes through :func:`~app.runtime.llama.model_file.check_model_file` first, so a corrupt file is a
one-line error instead of an abort inside llama.cpp. Not thread-safe: one thread owns a :class:`LoadedModel`.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from app.runtime.errors import ChatError, ModelFileError
from app.runtime.llama.context import Context, ContextOptions, EvalCallback
from app.runtime.llama.log import first_error
from app.runtime.llama.model_file import check_model_file
from app.runtime.llama.process import ensure_backend
from converter.core.errors import KompaktError
from converter.core.progress import CancelToken, Cancelled, Progress, ProgressCallback, emit

log = logging.getLogger(__name__)

_TOKENIZE_OVERFLOW = -(2 ** 31)  # llama_tokenize's answer when the count does not fit an int32


@dataclass(frozen=True)
class ErrorKinds:
    """The runtime errors a client wants for llama.cpp's failures: ``file`` for a bad or unloadable model file
    (an ``OSError``), ``failure`` for a refused context, tokenization or evaluation."""

    file: type[KompaktError] = ModelFileError
    failure: type[KompaktError] = ChatError


@dataclass(frozen=True)
class ModelOptions:
    """How to load a model: ``n_gpu_layers`` is a concrete count (``settings.GPU_LAYERS_ALL`` for every layer;
    "auto" is resolved by :mod:`app.runtime.load_policy` before a load); ``vocab_only`` loads just the tokenizer."""

    n_gpu_layers: int = 0
    use_mmap: bool = True
    vocab_only: bool = False

    def to_llama(self, L) -> object:
        """The ``llama_model_params`` struct for these options (the progress callback is set by the loader)."""
        p = L.llama_model_default_params()
        if self.n_gpu_layers < 0:
            raise ValueError(f"n_gpu_layers must be a resolved count, got {self.n_gpu_layers} (see load_policy)")
        p.n_gpu_layers = self.n_gpu_layers
        p.load_mode = L.LLAMA_LOAD_MODE_MMAP if self.use_mmap else L.LLAMA_LOAD_MODE_NONE
        p.vocab_only = self.vocab_only
        return p


class LoadedModel:
    """A model loaded in llama.cpp plus the contexts made from it; :meth:`close` frees them all."""

    def __init__(self, path: str | Path, options: ModelOptions = ModelOptions(), *, errors: ErrorKinds = ErrorKinds(),
                 progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> None:
        """Check and load ``path``. Raises ``errors.file`` for a bad file or one llama.cpp cannot load, and
        :class:`Cancelled` when ``cancel`` fires during the load."""
        self.path = Path(path)
        self.errors = errors
        self.contexts: list[Context] = []
        self.model = None
        self.header = check_model_file(self.path, errors.file)  # a bad file stops here, before llama.cpp sees it
        ensure_backend()
        import llama_cpp

        self._L = L = llama_cpp

        def on_progress(fraction: float, _user: ctypes.c_void_p) -> bool:
            if cancel is not None and cancel.cancelled:
                return False
            emit(progress, Progress("load model", float(fraction), 1.0, item=self.path.name))
            return True

        params = options.to_llama(L)
        self._progress_cb = L.llama_progress_callback(on_progress)  # referenced while llama.cpp may call it
        params.progress_callback = self._progress_cb
        first_error()  # forget older ones
        self.model = L.llama_model_load_from_file(str(self.path).encode(), params)
        if not self.model:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            why = first_error() or "see the log for details"
            raise errors.file(f"llama.cpp cannot load this model: {why}", path=self.path)
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = int(L.llama_vocab_n_tokens(self.vocab))
        self.bos = int(L.llama_vocab_bos(self.vocab))
        self.eos = int(L.llama_vocab_eos(self.vocab))
        self.add_bos = bool(L.llama_vocab_get_add_bos(self.vocab))
        self._piece_buf = ctypes.create_string_buffer(256)

    # --- contexts ----------------------------------------------------------------------------------------------
    def new_context(self, options: ContextOptions, *, cancel: Optional[CancelToken] = None,
                    eval_callback: Optional[EvalCallback] = None) -> Context:
        """A context (with its batch) owned by this model. ``cancel`` aborts a running decode; ``eval_callback``
        is llama.cpp's graph callback (``cb_eval``). Raises ``errors.failure`` when llama.cpp refuses it."""
        ctx = Context(self._L, self.model, options, path=self.path, errors=self.errors, cancel=cancel,
                      eval_callback=eval_callback)
        self.contexts.append(ctx)
        return ctx

    # --- facts -------------------------------------------------------------------------------------------------
    def description(self) -> str:
        """llama.cpp's one-line description (``llama 135M Q8_0``)."""
        buf = ctypes.create_string_buffer(256)
        self._L.llama_model_desc(self.model, buf, len(buf))
        return buf.value.decode("utf-8", "replace")

    @property
    def n_params(self) -> int:
        """Number of parameters."""
        return int(self._L.llama_model_n_params(self.model))

    @property
    def size_bytes(self) -> int:
        """Bytes of all tensors."""
        return int(self._L.llama_model_size(self.model))

    @property
    def n_ctx_train(self) -> int:
        """The context length the model was trained with."""
        return int(self._L.llama_model_n_ctx_train(self.model))

    # --- vocabulary --------------------------------------------------------------------------------------------
    def tokenize(self, text: str | bytes, *, add_special: bool, parse_special: bool) -> np.ndarray:
        """``text`` as int32 token ids. ``add_special`` adds BOS/EOS where the vocabulary wants them;
        ``parse_special`` turns ``<|im_start|>`` and the like into their special tokens.

        The one retry policy: the first buffer holds a token per byte plus some; if llama.cpp needs more, it says
        exactly how many, so one retry always suffices. Raises ``errors.failure`` when it cannot tokenize."""
        L = self._L
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        n_max = len(data) + 16
        for _ in range(2):
            buf = (L.llama_token * n_max)()
            n = L.llama_tokenize(self.vocab, data, len(data), buf, n_max, add_special, parse_special)
            if n >= 0:
                return np.ctypeslib.as_array(buf)[:n].astype(np.int32)
            if n == _TOKENIZE_OVERFLOW:
                raise self.errors.failure("the text is too long to tokenize", path=self.path)
            n_max = -n
        raise self.errors.failure(f"llama.cpp failed to tokenize the text ({n})", path=self.path)

    def token_text(self, token: int) -> str:
        """The vocabulary text of ``token`` (special tokens included), ``""`` outside the vocabulary."""
        if token < 0 or token >= self.n_vocab:
            return ""
        return self._L.llama_vocab_get_text(self.vocab, token).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens (EOS, EOT, ``<|im_end|>`` ...)."""
        return bool(self._L.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        """The bytes ``token`` stands for in output text (special tokens render as nothing)."""
        L, buf = self._L, self._piece_buf
        n = L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:max(n, 0)]

    # --- lifetime ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Free every context (and batch) made from this model, then the model (idempotent)."""
        while self.contexts:
            self.contexts.pop().free()
        if self.model:
            self._L.llama_model_free(self.model)
        self.model = None

    def __enter__(self) -> "LoadedModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the normal path
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def open_model(path: str | Path, options: ModelOptions = ModelOptions(), *, errors: ErrorKinds = ErrorKinds(),
               progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> LoadedModel:
    """Check and load the GGUF at ``path``; use the result as a context manager (or call ``close()``)."""
    return LoadedModel(path, options, errors=errors, progress=progress, cancel=cancel)
