"""Run runtime jobs off the UI thread: one generic :class:`Worker` for everything long.

A job is any callable taking keyword-only ``progress=`` and ``cancel=`` (the converter/runtime convention). The
worker runs it on its own QThread, turns progress reports into a throttled ``progress`` signal (at most one per
``interval`` seconds, plus the last one), and ends with exactly one of ``succeeded(result)``, ``failed(message)``
or ``cancelled()``, then ``done()``; ``stopped()`` follows once the thread has ended. Signals arrive on the thread
that created the worker (queued connections), so slots may touch widgets; connect them to bound methods of the
widget (not lambdas) so Qt drops them if the widget is deleted first. The UI never calls ``processEvents()``.

Every started worker is registered until its thread has finished; :func:`stop_all` cancels and joins them (the
main window calls it on close, tests check :func:`live_workers` is empty after each test).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QThread, Signal

from converter.core.messages import one_line
from converter.core.progress import CancelToken, Cancelled, Progress

log = logging.getLogger(__name__)

_live: set["Worker"] = set()
_live_lock = threading.Lock()


def live_workers() -> list["Worker"]:
    """Workers whose thread has not finished yet."""
    with _live_lock:
        return [w for w in _live if w.is_running()]


def stop_all(timeout: float = 10.0) -> bool:
    """Cancel every live worker and wait for their threads; True when all have stopped within ``timeout``."""
    workers = live_workers()
    for w in workers:
        w.cancel()
    deadline = time.monotonic() + timeout
    ok = True
    for w in workers:
        ok &= w.wait(max(0.0, deadline - time.monotonic()))
    return ok


class _Thread(QThread):
    def __init__(self, worker: "Worker") -> None:
        super().__init__()
        self._worker = worker

    def run(self) -> None:  # noqa: D102 - runs on the new thread
        self._worker._run()


class Worker(QObject):
    """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` on a QThread.

    ``takes_progress``/``takes_cancel`` can be turned off for callables without those keywords (they then only
    honour a cancel between steps of the caller's own making).
    """

    progress = Signal(object)  # converter.core.progress.Progress (or a subclass), throttled
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    done = Signal()
    stopped = Signal()  # after the thread has ended (is_running() is False from here on)

    def __init__(self, fn: Callable[..., Any], *args: Any, interval: float = 0.1, takes_progress: bool = True,
                 takes_cancel: bool = True, name: str = "", **kwargs: Any) -> None:
        super().__init__()
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._interval = interval
        self._takes_progress, self._takes_cancel = takes_progress, takes_cancel
        self.token = CancelToken()
        self.name = name or getattr(fn, "__name__", "job")
        self._last_emit = 0.0
        self._pending: Optional[Progress] = None
        self._thread = _Thread(self)
        self._thread.setObjectName(f"kompakt-{self.name}")
        self._thread.finished.connect(self._thread_finished)
        self.result: Any = None
        self.error: Optional[BaseException] = None

    # -- control (UI thread) ----------------------------------------------------------------------------------
    def start(self) -> "Worker":
        """Start the job; returns self for chaining."""
        with _live_lock:
            _live.add(self)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop at its next cancel check (within a fraction of a second for converter jobs)."""
        self.token.cancel()

    def is_running(self) -> bool:
        """True until the thread has finished."""
        return self._thread.isRunning() or (self in _live and not self._thread.isFinished())

    def wait(self, timeout: float = 10.0) -> bool:
        """Block until the thread ends (tests and shutdown only); True when it did within ``timeout``."""
        # the registry keeps this object alive until the thread's queued ``finished`` has been handled, so a
        # worker dropped by its owner right after wait() is never deleted under a pending signal
        return self._thread.wait(int(timeout * 1000))

    def _thread_finished(self) -> None:
        # ``finished`` is emitted from the thread just before it exits: wait for the exit, or dropping the last
        # reference here would destroy a QThread that is still running (Qt aborts the process)
        self._thread.wait()
        self.stopped.emit()
        self._forget()

    def _forget(self) -> None:
        with _live_lock:
            _live.discard(self)

    # -- the job (worker thread) ------------------------------------------------------------------------------
    def _report(self, report: Progress) -> None:
        now = time.monotonic()
        self._pending = report
        if now - self._last_emit >= self._interval:
            self._last_emit = now
            self._pending = None
            self.progress.emit(report)

    def _run(self) -> None:
        kwargs = dict(self._kwargs)
        if self._takes_progress:
            kwargs["progress"] = self._report
        if self._takes_cancel:
            kwargs["cancel"] = self.token
        try:
            if self.token.cancelled:
                raise Cancelled()
            self.result = self._fn(*self._args, **kwargs)
        except Cancelled:
            self.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure becomes one message for the UI
            self.error = exc
            log.warning("%s failed: %s", self.name, one_line(exc), exc_info=True)  # the traceback goes to the log
            self.failed.emit(one_line(exc))
        else:
            if self._pending is not None:
                self.progress.emit(self._pending)
            if self.token.cancelled and self.result is None:
                self.cancelled.emit()
            else:
                self.succeeded.emit(self.result)
        finally:
            self.done.emit()
