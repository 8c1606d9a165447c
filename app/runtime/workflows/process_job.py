"""Run a long job in a child process, so nothing it does can hold the GUI process's GIL.

Threads are not enough for a UI that must never stall: a worker thread that loads a tokenizer (Rust) or imports
an extension module holds the GIL for hundreds of milliseconds. :func:`run_in_process` keeps the usual
``progress=``/``cancel=`` contract: progress reports come back over a queue (throttled in the child), a cancel in
the parent sets an event the child turns into its own CancelToken, and the child's result, error message or
cancellation is re-raised here. The child's log records come back over the same queue and go to this process's
handlers (the GUI's log file), a failure's traceback included. Plain Python (no Qt); the GUI calls it from a
:class:`app.gui.workers.Worker`.
"""

from __future__ import annotations

import logging
import logging.handlers
import multiprocessing as mp
import queue
import threading
import time
from typing import Any, Callable, Optional

from app.runtime.errors import JobError
from converter.core.messages import one_line
from converter.core.progress import CancelToken, Cancelled, Progress, ProgressCallback

log = logging.getLogger(__name__)

_INTERVAL = 0.05  # seconds between progress reports sent by the child


class _LogToParent(logging.handlers.QueueHandler):
    """Send each log record (message formatted, traceback as text) to the parent as ``("log", record)``."""

    def enqueue(self, record: logging.LogRecord) -> None:  # noqa: D102
        self.queue.put(("log", record))


def _child(fn: Callable[..., Any], args: tuple, kwargs: dict, out: Any, cancel_flag: Any, log_level: int) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_LogToParent(out)]
    root.setLevel(log_level)
    token = CancelToken()

    def watch() -> None:
        # polls a shared byte: a multiprocessing.Event would make the parent's set() wait for this thread forever
        # once this process has exited
        while not cancel_flag.value:
            time.sleep(0.05)
        token.cancel()

    threading.Thread(target=watch, name="cancel-watch", daemon=True).start()
    last = [0.0]

    def progress(p: Progress) -> None:
        now = time.monotonic()
        if now - last[0] >= _INTERVAL:
            last[0] = now
            out.put(("progress", p))

    try:
        result = fn(*args, progress=progress, cancel=token, **kwargs)
    except Cancelled:
        out.put(("cancelled", None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent as one line
        log.warning("%s failed: %s", getattr(fn, "__name__", "job"), one_line(exc), exc_info=True)
        out.put(("error", one_line(exc)))
    else:
        out.put(("ok", result))


def run_in_process(fn: Callable[..., Any], *args: Any, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None, **kwargs: Any) -> Any:
    """``fn(*args, progress=..., cancel=..., **kwargs)`` in a fresh (spawned) process; ``fn``, the arguments and
    the result must be picklable. Raises Cancelled, or JobError with the child's message."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    cancel_flag = ctx.RawValue("b", 0)
    level = logging.getLogger().getEffectiveLevel()
    proc = ctx.Process(target=_child, args=(fn, args, kwargs, out, cancel_flag, level), name="kompakt-job")
    proc.start()
    try:
        while True:
            if cancel is not None and cancel.cancelled:
                cancel_flag.value = 1
            try:
                kind, value = out.get(timeout=0.05)
            except queue.Empty:
                if not proc.is_alive():
                    raise JobError(f"the job process stopped unexpectedly (exit code {proc.exitcode})") from None
                continue
            if kind == "progress":
                if progress is not None:
                    progress(value)
                continue
            if kind == "log":
                logging.getLogger(value.name).handle(value)
                continue
            if kind == "ok":
                return value
            if kind == "cancelled":
                raise Cancelled()
            raise JobError(value)
    finally:
        cancel_flag.value = 1
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)
        out.close()
        out.join_thread()
