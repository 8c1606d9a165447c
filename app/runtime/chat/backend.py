"""One llama.cpp model and context for chat, opened through :mod:`app.runtime.llama`.

We skip the high-level ``llama_cpp.Llama`` class on purpose: it redirects the process's stdout/stderr while loading,
keeps a ``n_ctx x n_vocab`` logits buffer for speculative decoding, and compiles every template in the metadata
(failing the load on a broken one). The adapter checks the file first and routes llama.cpp's log to Python logging;
here the K/V cache is tracked token by token so each turn only evaluates new tokens.

Not thread-safe: exactly one thread may use a :class:`LlamaBackend` (see :mod:`app.runtime.chat.worker`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from app.runtime.chat.settings import LoadSettings
from app.runtime.errors import ChatError
from app.runtime.llama.context import ContextOptions
from app.runtime.llama.model import ModelOptions, open_model
from converter.core.progress import CancelToken, Cancelled, ProgressCallback

log = logging.getLogger(__name__)


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
        """Validate and load ``path``. Raises :class:`ModelFileError` for a bad file or one llama.cpp cannot load,
        :class:`ChatError` when it cannot create the context, :class:`Cancelled` when ``cancel`` fires during the
        load."""
        settings.validate()
        self.path = Path(path)
        self.settings = settings
        self.model = open_model(self.path, ModelOptions(n_gpu_layers=settings.n_gpu_layers), progress=progress,
                                cancel=cancel)
        self.header = self.model.header
        try:
            self.context = self.model.new_context(ContextOptions(
                n_ctx=settings.n_ctx, n_threads=settings.n_threads, n_batch=settings.n_batch,
                n_ubatch=settings.n_batch, type_k=settings.type_k, type_v=settings.type_v,
                flash_attn=settings.flash_attn))
        except BaseException:
            self.close()
            raise
        self.n_vocab = self.model.n_vocab
        self.n_ctx = self.context.n_ctx
        self.n_batch = self.context.n_batch
        self.cached: list[int] = []  # tokens whose K/V sit at positions 0..len-1 of sequence 0

    # --- facts -------------------------------------------------------------------------------------------------
    def info(self) -> LoadedModelInfo:
        """Description, parameter count, size and context sizes of the loaded model."""
        m = self.model
        return LoadedModelInfo(self.path, m.description(), m.n_params, m.size_bytes, m.n_ctx_train, self.n_ctx,
                               self.n_vocab)

    def chat_template_source(self) -> str | None:
        """The model's ``tokenizer.chat_template`` (None if it has none)."""
        value = self.header.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    def token_text(self, token: int) -> str:
        """The vocabulary text of ``token`` (special tokens included), ``""`` for -1."""
        return self.model.token_text(token)

    @property
    def bos_token(self) -> int:
        return self.model.bos

    @property
    def eos_token(self) -> int:
        return self.model.eos

    def is_eog(self, token: int) -> bool:
        """True for end-of-generation tokens (EOS, EOT, ``<|im_end|>`` ...)."""
        return self.model.is_eog(token)

    # --- text <-> tokens ---------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, add_bos: bool | None = None) -> list[int]:
        """Tokenize ``text`` with special tokens parsed. ``add_bos`` None adds BOS when the model asks for it and
        the text does not already start with it (templates often write ``bos_token`` themselves)."""
        if add_bos is None:
            bos = self.bos_token
            add_bos = self.model.add_bos and bos >= 0 and not text.startswith(self.token_text(bos) or "\0")
        return self.model.tokenize(text, add_special=add_bos, parse_special=True).tolist()

    def piece(self, token: int) -> bytes:
        """The bytes ``token`` stands for in output text (special tokens render as nothing)."""
        return self.model.piece(token)

    # --- K/V cache ---------------------------------------------------------------------------------------------
    def truncate(self, n_keep: int) -> None:
        """Forget cached tokens from position ``n_keep`` on (everything if the cache cannot be cut partially)."""
        if n_keep >= len(self.cached):
            return
        if n_keep > 0 and self.context.remove(-1, n_keep):
            del self.cached[n_keep:]
            return
        self.clear()

    def clear(self) -> None:
        """Empty the K/V cache."""
        self.context.clear()
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
        self.context.batch.fill(tokens, start=start, outputs="all" if all_logits else "last")
        try:
            self.context.decode()
        except ChatError:
            self.clear()
            raise
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
        """Free the context, its batch and the model (idempotent)."""
        self.model.close()
