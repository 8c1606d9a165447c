"""Route llama.cpp's C log output into Python logging (or silence it).

The ctypes callback object must stay referenced for as long as llama.cpp may call it, or the process crashes;
this module keeps it in a module-level variable. The last error-level line is kept so a failed load can say why
(llama.cpp logs file-format and memory problems, never prompt text).
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("llama.cpp")

_callback = None  # keeps the ctypes callback alive; never clear it
_last_error = ""
_ERROR_LEVEL = 4  # GGML_LOG_LEVEL_ERROR


def install_log_handler(level: int = logging.DEBUG) -> None:
    """Send llama.cpp's log lines to the ``llama.cpp`` logger at ``level`` (idempotent)."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _on_log(lvl, text, user_data):  # noqa: ARG001 - C signature
        global _last_error
        is_error = lvl == _ERROR_LEVEL
        if is_error or log.isEnabledFor(level):
            msg = ctypes.string_at(text).decode("utf-8", "replace").rstrip("\n")
            if is_error and msg.strip():
                _last_error = msg.strip()
            if msg:
                log.log(level, "%s", msg)

    _callback = _on_log
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


def take_last_error() -> str:
    """The last error line llama.cpp logged since the previous call (``""`` if none), and forget it."""
    global _last_error
    msg, _last_error = _last_error, ""
    return msg
