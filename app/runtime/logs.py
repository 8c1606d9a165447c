"""Logging set-up for the GUI and the CLI: one place that decides the handlers, formats and the log file.

The GUI logs to a rotating file in the data directory (:func:`log_file`; ``KOMPAKT_DATA_DIR`` moves it, so tests
never touch the real home) and shows its path in Help > About and under error messages; warnings also go to
stderr. The CLI logs warnings (``-v``: debug messages) to stderr and, with ``--log-file``, to a file as well.
Libraries only create loggers (``logging.getLogger(__name__)``); nothing below ``app.gui``/``app.cli`` calls
:func:`configure`.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Optional

from app.runtime import paths

log = logging.getLogger(__name__)

LOG_NAME = "kompakt.log"
MAX_BYTES = 2 * 1024 * 1024  # per file; the file rotates to kompakt.log.1 ... .3
BACKUPS = 3
FILE_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(threadName)s] %(name)s: %(message)s"
STDERR_FORMAT = "%(levelname)s %(name)s: %(message)s"

_MARK = "_kompakt_handler"  # set on the handlers this module installs, so a second configure() replaces them
_configured_file: Optional[Path] = None


def log_file() -> Path:
    """The GUI's log file: ``<data dir>/logs/kompakt.log``."""
    return paths.logs_dir() / LOG_NAME


def current_log_file() -> Optional[Path]:
    """The file :func:`configure` writes to in this process, or None when logging goes to stderr only."""
    return _configured_file


def configure(*, stderr_level: Optional[int] = logging.WARNING, file: Optional[Path] = None,
              file_level: int = logging.INFO) -> Optional[Path]:
    """Install Kompakt's handlers on the root logger, replacing those of an earlier call.

    ``stderr_level``: messages at this level and above go to stderr (None: none). ``file``: also append to this
    rotating file (directories are created) at ``file_level``. Returns the log file, or None when there is none
    or it cannot be opened (then a warning says why and logging goes on without it).
    """
    global _configured_file
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    levels = []
    if stderr_level is not None:
        _install(root, _Stderr(), stderr_level, STDERR_FORMAT)
        levels.append(stderr_level)
    _configured_file = None
    if file is not None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(file, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                           encoding="utf-8")
        except OSError as exc:
            log.warning("%s: cannot write the log file: %s", file, exc.strerror or exc)
        else:
            _install(root, handler, file_level, FILE_FORMAT)
            levels.append(file_level)
            _configured_file = file
    root.setLevel(min(levels, default=logging.WARNING))
    logging.captureWarnings(True)
    return _configured_file


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time of each message (tests swap it)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # noqa: ARG002 - StreamHandler.__init__ assigns it
        pass


def _install(root: logging.Logger, handler: logging.Handler, level: int, fmt: str) -> None:
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(fmt))
    setattr(handler, _MARK, True)
    root.addHandler(handler)


def log_uncaught_exceptions() -> None:
    """Send exceptions nobody caught (main thread, other threads, Qt slots) to the log with their traceback;
    the previous hooks still run (they print to stderr)."""
    previous, previous_thread = sys.excepthook, threading.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: Optional[TracebackType]) -> None:
        logging.getLogger("kompakt").critical("uncaught exception", exc_info=(kind, exc, tb))
        previous(kind, exc, tb)

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            logging.getLogger("kompakt").critical("uncaught exception in thread %s",
                                                  args.thread.name if args.thread else "?",
                                                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
        previous_thread(args)

    sys.excepthook = hook
    threading.excepthook = thread_hook
