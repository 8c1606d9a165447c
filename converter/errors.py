"""Errors raised by the converter.

Every error inherits :class:`ConverterError` and also the built-in exception a caller would naturally catch
(``CheckpointError`` is an ``OSError`` too, ``UnsupportedArchitectureError`` a ``ValueError``), carries structured
fields, and reads as a one-line message that names the file and the problem.

Cancellation is not an error: see :class:`converter.core.progress.Cancelled`.
"""

from __future__ import annotations

from pathlib import Path

from .core.errors import KompaktError


class ConverterError(KompaktError):
    """Base of every error the converter raises on purpose."""


class CheckpointError(ConverterError, OSError):
    """A checkpoint file is missing, truncated, or its header lies about its contents."""


class GGUFError(ConverterError, OSError):
    """A GGUF file is truncated or malformed."""


class UnsupportedArchitectureError(ConverterError, ValueError):
    """The checkpoint's architecture is not one the converter knows."""

    def __init__(self, architecture: str, *, path: str | Path | None = None, supported: list[str] | None = None):
        self.architecture = architecture
        self.supported = sorted(supported or [])
        hint = f" (supported: {', '.join(self.supported)})" if self.supported else ""
        super().__init__(f"unsupported architecture {architecture!r}{hint}", path=path)


class TokenizerError(ConverterError, ValueError):
    """The tokenizer is missing or cannot be converted."""


class QuantizationError(ConverterError, ValueError):
    """A tensor cannot be quantized as asked (NaN/Inf values, a row length the type cannot hold, ...)."""


class OutputError(ConverterError, OSError):
    """The output cannot be written (directory not writable, disk full, ...)."""
