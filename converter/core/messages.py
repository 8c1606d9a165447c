"""One-line messages for errors, shared by the CLI, the GUI and the logs."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """The first non-empty line of ``str(exc)``, or the exception's class name when it has no text.

    Kompakt's own errors already read as one line (``path: problem``); third-party exceptions may carry tracebacks,
    JSON bodies or nothing at all, and a user should still see a single readable line.
    """
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
