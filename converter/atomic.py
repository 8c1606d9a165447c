"""Write outputs under a temporary name and rename them into place only when complete."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator

from .errors import ConverterError, OutputError


def check_output_dir(path: str | Path) -> None:
    """Raise :class:`OutputError` unless ``path``'s directory exists and is writable (call it before long work)."""
    final = Path(path)
    directory = final.parent if str(final.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError("output directory does not exist", path=directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputError("output directory is not writable", path=directory)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds, delete it otherwise.

    Raises :class:`OutputError` up front when the directory is missing or not writable, and translates "disk full"
    into a clear message. Whatever happens (an exception, a cancel, a KeyboardInterrupt), no partial file remains.
    """
    final = Path(path)
    check_output_dir(final)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    except OSError as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, ConverterError):
            raise
        if exc.errno == errno.ENOSPC:
            raise OutputError("disk full while writing", path=final) from exc
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OutputError(f"cannot write: {exc.strerror}", path=final) from exc
        raise
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
