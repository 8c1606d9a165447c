"""Errors raised by the runtime services (chat, conversations, ...).

Like :mod:`converter.errors`, every error inherits :class:`KompaktRuntimeError` and the built-in a caller would
naturally catch, carries structured fields, and reads as a one-line message naming the file and the problem.
Third-party exceptions (llama.cpp, jinja2, json) are translated into these at the runtime boundary.
"""

from __future__ import annotations

from pathlib import Path


class KompaktRuntimeError(Exception):
    """Base of every error the runtime services raise on purpose."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class EvaluationError(KompaktRuntimeError, ValueError):
    """A quality evaluation cannot run as asked: text too short, vocabularies differ, llama.cpp refused a batch."""


class EvalModelError(EvaluationError, OSError):
    """A model to evaluate is missing, unreadable, or not a GGUF file llama.cpp can load."""
