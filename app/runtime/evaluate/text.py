"""The evaluation text: the bundled default or the user's own file, and how its tokens split into chunks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EvaluationError

DEFAULT_TEXT = ("eval", "python-docs.txt")


def default_text_path() -> Path:
    """The bundled evaluation text (excerpts of Python's documentation; see resources/eval/SOURCE.md)."""
    from ..resources import resource_path

    return resource_path(*DEFAULT_TEXT)


@dataclass(frozen=True)
class EvalText:
    """Raw bytes of an evaluation text (tokenized by llama.cpp as-is), its name and SHA-256."""

    data: bytes
    name: str
    sha256: str

    @classmethod
    def load(cls, path: str | Path | None = None) -> "EvalText":
        """Read ``path`` (or the bundled default text); raise :class:`EvaluationError` if unreadable or empty."""
        p = Path(path) if path is not None else default_text_path()
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise EvaluationError(f"cannot read the evaluation text: {exc.strerror or exc}", path=p) from None
        if not data.strip():
            raise EvaluationError("the evaluation text is empty", path=p)
        return cls.from_bytes(data, name=p.name)

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "text") -> "EvalText":
        """Wrap in-memory text."""
        return cls(data=data, name=name, sha256=hashlib.sha256(data).hexdigest())


def chunk_count(n_tokens: int, n_ctx: int, n_chunks: int | None, *, source: str = "the evaluation text") -> int:
    """How many chunks of ``n_ctx`` tokens to score: all that fit, or at most ``n_chunks``.

    Like ``llama-perplexity``, the text must hold at least two chunks' worth of tokens.
    """
    if n_tokens < 2 * n_ctx:
        raise EvaluationError(f"{source} tokenizes to only {n_tokens} tokens; a context of {n_ctx} "
                              f"needs at least {2 * n_ctx} (use a longer text or a smaller context)")
    available = n_tokens // n_ctx
    if n_chunks is not None and n_chunks < 1:
        raise EvaluationError(f"the number of chunks must be at least 1, got {n_chunks}")
    return available if n_chunks is None else min(n_chunks, available)


def chunk(tokens: np.ndarray, index: int, n_ctx: int) -> np.ndarray:
    """Tokens of chunk ``index`` (``n_ctx`` of them)."""
    return tokens[index * n_ctx:(index + 1) * n_ctx]


def scored_targets(tokens: np.ndarray, index: int, n_ctx: int) -> np.ndarray:
    """The next tokens predicted at the scored positions of chunk ``index``."""
    first = n_ctx // 2
    start = index * n_ctx
    return tokens[start + first + 1:start + n_ctx]
