"""Route llama.cpp's C log output into Python logging (or silence it).

The ctypes callback object must stay referenced for as long as llama.cpp may call it, or the process crashes;
this module keeps it in a module-level variable. Error-level lines are also kept (the last few) so a failed load
can say why (llama.cpp logs file-format and memory problems there, never prompt text).
"""

from __future__ import annotations

import ctypes
import logging
import re

log = logging.getLogger("llama.cpp")

_callback = None  # keeps the ctypes callback alive; never clear it
_errors: list[str] = []
_ERROR_LEVEL = 4  # GGML_LOG_LEVEL_ERROR


def install_log_handler(level: int = logging.DEBUG) -> None:
    """Send llama.cpp's log lines to the ``llama.cpp`` logger at ``level`` (idempotent)."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _on_log(lvl, text, user_data):  # noqa: ARG001 - C signature
        is_error = lvl == _ERROR_LEVEL
        if is_error or log.isEnabledFor(level):
            msg = ctypes.string_at(text).decode("utf-8", "replace").rstrip("\n")
            if is_error and msg.strip():
                _errors.append(msg.strip())
                del _errors[:-20]
            if msg:
                log.log(level, "%s", msg)

    _callback = _on_log
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


def take_errors() -> list[str]:
    """The error lines llama.cpp logged since the previous call (oldest first, at most 20), and forget them."""
    lines = list(_errors)
    _errors.clear()
    return lines


def first_error() -> str:
    """llama.cpp's first error line since the previous call, without its ``function_name:`` prefixes ("" if none);
    the other lines are forgotten."""
    lines = take_errors()
    if not lines:
        return ""
    return re.sub(r"^(?:[a-z_][a-z0-9_]*: |error loading model: )+", "", lines[0])
