"""The base of every error Kompakt raises on purpose.

Each layer has its own errors module (:mod:`converter.errors`, :mod:`app.runtime.errors`) whose classes inherit
:class:`KompaktError` and the built-in exception a caller would naturally catch. Every error carries the file it
is about (``path``, may be None) and the problem (``detail``), and ``str()`` reads as one line: ``path: problem``.

Cancellation is not an error: see :class:`converter.core.progress.Cancelled`.
"""

from __future__ import annotations

from pathlib import Path


class KompaktError(Exception):
    """Base of every error Kompakt raises on purpose: one line naming the file (if any) and the problem."""

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)
