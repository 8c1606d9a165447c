"""Terminal helpers shared by the subcommands: a progress line, Ctrl-C as cancel, and error reporting."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from typing import Callable, Iterator, TextIO

from converter.core.errors import KompaktError
from converter.core.units import human_bytes, human_duration
from converter.core.messages import one_line
from converter.core.progress import CancelToken, Cancelled, Progress

log = logging.getLogger("kompakt")


def _rate(p: Progress) -> str:
    """", 12.3 MiB/s, 1m05s left" for reports that carry ``speed``/``eta`` (downloads), else ""."""
    speed, eta = getattr(p, "speed", None), getattr(p, "eta", None)
    if not speed:
        return ""
    return f", {human_bytes(speed)}/s" + (f", {human_duration(eta)} left" if eta is not None else "")


class ProgressLine:
    """Render :class:`Progress` reports as one self-updating terminal line (throttled to ~10 per second)."""

    def __init__(self, stream: TextIO | None = None, *, interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = 0.0
        self._width = 0
        self._tty = self.stream.isatty()

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        final = p.total is not None and p.done >= p.total
        if not final and now - self._last < self.interval:
            return
        self._last = now
        if p.unit == "bytes":
            amount = human_bytes(p.done) + (f" / {human_bytes(p.total)}" if p.total else "")
        else:
            amount = f"{p.done:.0f}" + (f"/{p.total:.0f}" if p.total else "") + (f" {p.unit}" if p.unit else "")
        pct = f"{100 * p.fraction:5.1f}% " if p.fraction is not None else ""
        text = f"{p.stage}: {pct}{amount}{_rate(p)} {p.item}".rstrip()
        if self._tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
            if final:
                self.stream.write("\n")
        elif final:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the line so later output starts on a fresh one."""
        if self._tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


@contextlib.contextmanager
def ctrl_c_cancels() -> Iterator[CancelToken]:
    """Yield a :class:`CancelToken` that the first Ctrl-C sets (a second Ctrl-C interrupts as usual)."""
    token = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):  # noqa: ARG001 - signal signature
        if token.cancelled:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        token.cancel()
        print("\ncancelling…", file=sys.stderr)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield token
        return
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def run_job(job: Callable[[], int]) -> int:
    """Run ``job`` and turn expected failures into a one-line message and a non-zero exit code.

    Kompakt's own errors, ``OSError`` and ``ValueError`` print ``kompakt: error: <message>`` and return 1 (the
    traceback goes to the log file of ``--log-file``, and to stderr with ``-v``); a cancel returns 130.
    """
    try:
        return job()
    except Cancelled:
        print("kompakt: cancelled", file=sys.stderr)
        return 130
    except (KompaktError, OSError, ValueError) as exc:
        log.info("%s", one_line(exc), exc_info=True)
        print(f"kompakt: error: {exc}", file=sys.stderr)
        return 1
