"""One llama.cpp model and context, driven through llama-cpp-python's low-level API.

We skip the high-level ``llama_cpp.Llama`` class on purpose: it redirects the process's stdout/stderr while loading,
keeps a ``n_ctx x n_vocab`` logits buffer for speculative decoding, and compiles every template in the metadata
(failing the load on a broken one). Here the file is validated first (:mod:`app.runtime.chat.model_file`), llama.cpp's
log goes to Python logging, and the K/V cache is tracked token by token so each turn only evaluates new tokens.

Not thread-safe: exactly one thread may use a :class:`LlamaBackend` (see :mod:`app.runtime.chat.worker`).
"""

from __future__ import annotations

import ctypes
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from app.runtime.chat.settings import LoadSettings
from app.runtime.errors import ChatError, ModelFileError
from app.runtime.chat.model_file import check_model_file
from app.runtime.llama_process import ensure_backend, free_handles
from converter.core.progress import CancelToken, Cancelled, Progress, ProgressCallback, emit
from converter.core.quant_types import QType

log = logging.getLogger(__name__)

_FLASH = {"auto": -1, "off": 0, "on": 1}  # LLAMA_FLASH_ATTN_TYPE_*


def _llama_errors() -> str:
    """llama.cpp's first error line since the last call, without its ``function_name:`` prefixes."""
    from app.runtime.llama_log import take_errors

    lines = take_errors()
    if not lines:
        return ""
    return re.sub(r"^(?:[a-z_][a-z0-9_]*: |error loading model: )+", "", lines[0])


@dataclass(frozen=True)
class LoadedModelInfo:
    """Facts about a loaded model."""

    path: Path
    description: str
    n_params: int
    size_bytes: int
    n_ctx_train: int
    n_ctx: int
    n_vocab: int


class LlamaBackend:
    """A loaded model plus its context, batch and a mirror of the K/V cache contents (:attr:`cached`)."""

    def __init__(self, path: str | Path, settings: LoadSettings, *, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> None:
        """Validate and load ``path``. Raises :class:`ModelFileError` for a bad file, :class:`ChatError` when
        llama.cpp cannot load it or create the context, :class:`Cancelled` when ``cancel`` fires during the load."""
        settings.validate()
        self.path = Path(path)
        self.settings = settings
        self.header = check_model_file(self.path)  # a bad file stops here, before llama.cpp can abort on it
        ensure_backend()
        import llama_cpp

        self._ll = llama_cpp
        self.model = self.ctx = self.batch = None
        _llama_errors()  # forget older ones
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = 0x7FFFFFFF if settings.n_gpu_layers < 0 else settings.n_gpu_layers

        def on_progress(fraction: float, _user: ctypes.c_void_p) -> bool:
            if cancel is not None and cancel.cancelled:
                return False
            emit(progress, Progress("load model", float(fraction), 1.0, item=self.path.name))
            return True

        self._progress_cb = llama_cpp.llama_progress_callback(on_progress)  # referenced while llama.cpp may call it
        mparams.progress_callback = self._progress_cb
        self.model = llama_cpp.llama_model_load_from_file(str(self.path).encode(), mparams)
        if not self.model:
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            why = _llama_errors() or "see the log for details"
            raise ModelFileError(f"llama.cpp cannot load this model: {why}", path=self.path)
        try:
            self._create_context()
        except BaseException:
            self.close()
            raise
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.n_ctx = llama_cpp.llama_n_ctx(self.ctx)
        self.n_batch = min(settings.n_batch, self.n_ctx)
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._mem = llama_cpp.llama_get_memory(self.ctx)
        self._piece_buf = ctypes.create_string_buffer(256)
        self.cached: list[int] = []  # tokens whose K/V sit at positions 0..len-1 of sequence 0

    def _create_context(self) -> None:
        ll, s = self._ll, self.settings
        cparams = ll.llama_context_default_params()
        cparams.n_ctx = s.n_ctx
        cparams.n_batch = cparams.n_ubatch = min(s.n_batch, s.n_ctx)
        cparams.n_threads = cparams.n_threads_batch = s.n_threads
        cparams.type_k = int(QType.parse(s.type_k))
        cparams.type_v = int(QType.parse(s.type_v))
        cparams.flash_attn_type = _FLASH[s.flash_attn]
        cparams.no_perf = True
        self.ctx = ll.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            why = _llama_errors() or "out of memory?"
            raise ChatError(f"llama.cpp cannot create a {s.n_ctx}-token context (K/V {s.type_k}/{s.type_v}, "
                            f"flash attention {s.flash_attn}): {why}")

    # --- facts -------------------------------------------------------------------------------------------------
    def info(self) -> LoadedModelInfo:
        """Description, parameter count, size and context sizes of the loaded model."""
        ll = self._ll
        buf = ctypes.create_string_buffer(256)
        ll.llama_model_desc(self.model, buf, len(buf))
        return LoadedModelInfo(self.path, buf.value.decode("utf-8", "replace"),
                               int(ll.llama_model_n_params(self.model)), int(ll.llama_model_size(self.model)),
                               int(ll.llama_model_n_ctx_train(self.model)), self.n_ctx, self.n_vocab)

    def chat_template_source(self) -> str | None:
        """The model's ``tokenizer.chat_template`` (None if it has none)."""
        value = self.header.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    def token_text(self, token: int) -> str:
        """The vocabulary text of ``token`` (special tokens included), ``""`` for -1."""
        if token < 0 or token >= self.n_vocab:
            return ""
        return self._ll.llama_vocab_get_text(self.vocab, token).decode("utf-8", "replace")

    @property
    def bos_token(self) -> int:
        return int(self._ll.llama_vocab_bos(self.vocab))

    @property
    def eos_token(self) -> int:
        return int(self._ll.llama_vocab_eos(self.vocab))

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens (EOS, EOT, ``<|im_end|>`` ...)."""
        return bool(self._ll.llama_vocab_is_eog(self.vocab, token))

    # --- text <-> tokens ---------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        """Tokenize ``text`` with special tokens parsed. ``add_bos`` None adds BOS when the model asks for it and
        the text does not already start with it (templates often write ``bos_token`` themselves)."""
        ll = self._ll
        if add_bos is None:
            bos = self.bos_token
            add_bos = bool(ll.llama_vocab_get_add_bos(self.vocab)) and bos >= 0 and \
                not text.startswith(self.token_text(bos) or "\0")
        data = text.encode("utf-8")
        n_max = len(data) + 8
        while True:
            buf = (ll.llama_token * n_max)()
            n = ll.llama_tokenize(self.vocab, data, len(data), buf, n_max, add_bos, True)
            if n >= 0:
                return list(buf[:n])
            if n == -(2 ** 31):
                raise ChatError("the text is too long to tokenize")
            n_max = -n

    def piece(self, token: int) -> bytes:
        """The bytes ``token`` stands for in output text (special tokens render as nothing)."""
        ll, buf = self._ll, self._piece_buf
        n = ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = ll.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:max(n, 0)]

    # --- K/V cache ---------------------------------------------------------------------------------------------
    def truncate(self, n_keep: int) -> None:
        """Forget cached tokens from position ``n_keep`` on (everything if the cache cannot be cut partially)."""
        if n_keep >= len(self.cached):
            return
        if n_keep > 0 and self._ll.llama_memory_seq_rm(self._mem, -1, n_keep, -1):
            del self.cached[n_keep:]
            return
        self.clear()

    def clear(self) -> None:
        """Empty the K/V cache."""
        self._ll.llama_memory_clear(self._mem, True)
        self.cached.clear()

    def decode(self, tokens: Sequence[int], *, all_logits: bool = False) -> None:
        """Evaluate ``tokens`` after the cached ones (at most ``n_batch``), keeping logits for the last token or,
        with ``all_logits``, for every token. Raises :class:`ChatError` if llama.cpp refuses."""
        n = len(tokens)
        if not 0 < n <= self.n_batch:
            raise ChatError(f"internal error: batch of {n} tokens (limit {self.n_batch})")
        start = len(self.cached)
        if start + n > self.n_ctx:
            raise ChatError(f"context full: {start + n} tokens do not fit in {self.n_ctx}")
        b = self.batch
        token, pos, n_seq, seq, logits = b.token, b.pos, b.n_seq_id, b.seq_id, b.logits
        for i, t in enumerate(tokens):
            token[i] = t
            pos[i] = start + i
            n_seq[i] = 1
            seq[i][0] = 0
            logits[i] = all_logits
        logits[n - 1] = True
        b.n_tokens = n
        rc = self._ll.llama_decode(self.ctx, b)
        if rc != 0:
            self.clear()
            reason = {1: "no room left in the K/V cache", 2: "aborted"}.get(rc, f"error code {rc}")
            raise ChatError(f"llama.cpp failed to evaluate {n} tokens: {reason}")
        self.cached.extend(tokens)

    def prefill(self, tokens: Sequence[int], *, cancel: CancelToken | None = None) -> int:
        """Make the cache hold exactly ``tokens`` with logits for the last one, reusing the longest cached prefix.

        Returns how many tokens were evaluated. Checks ``cancel`` between batches and raises :class:`Cancelled`.
        """
        if not tokens:
            raise ChatError("internal error: empty prompt")
        common = 0
        for a, b in zip(self.cached, tokens):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # always evaluate the last token: its logits start the answer
        self.truncate(common)
        todo = list(tokens[len(self.cached):])
        for i in range(0, len(todo), self.n_batch):
            if cancel is not None and cancel.cancelled:
                raise Cancelled()
            self.decode(todo[i:i + self.n_batch])
        return len(todo)

    def close(self) -> None:
        """Free the batch, context and model (idempotent)."""
        free_handles(self.batch, self.ctx, self.model)
        self.batch = self.ctx = self.model = None
