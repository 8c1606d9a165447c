"""Progress reporting and cooperative cancellation for long-running work.

Long functions take keyword-only ``progress=`` (a callable receiving :class:`Progress`) and ``cancel=`` (a
:class:`CancelToken`). They call :func:`check` between files, tensors and row groups, so a cancel takes effect
within a fraction of a second and leaves no partial output behind.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional


class Cancelled(Exception):
    """Raised inside a job when its :class:`CancelToken` was cancelled. Not an error: callers report it quietly."""


class CancelToken:
    """A thread-safe flag that a UI or CLI sets and the worker polls."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the job to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


@dataclass(frozen=True)
class Progress:
    """One progress report.

    ``done`` and ``total`` are in ``unit`` (``"tensors"``, ``"bytes"``, ``"tokens"``, ...); ``total`` is None when
    unknown. ``stage`` names the phase ("convert", "quantize Q4_K_M", "download", ...); ``item`` the tensor or
    file being worked on.
    """

    stage: str
    done: float
    total: Optional[float] = None
    unit: str = ""
    item: str = ""
    started: float = field(default_factory=time.monotonic, compare=False)

    @property
    def fraction(self) -> Optional[float]:
        """Share of the work done in [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))


ProgressCallback = Callable[[Progress], None]


def check(cancel: Optional[CancelToken]) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set; a no-op for ``None``."""
    if cancel is not None:
        cancel.raise_if_cancelled()


def emit(progress: Optional[ProgressCallback], report: Progress) -> None:
    """Send ``report`` to ``progress`` if a callback was given."""
    if progress is not None:
        progress(report)
