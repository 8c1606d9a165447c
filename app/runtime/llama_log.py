"""Route llama.cpp's C log output into Python logging (or silence it).

The ctypes callback object must stay referenced for as long as llama.cpp may call it, or the process crashes;
this module keeps it in a module-level variable.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("llama.cpp")

_callback = None  # keeps the ctypes callback alive; never clear it


def install_log_handler(level: int = logging.DEBUG) -> None:
    """Send llama.cpp's log lines to the ``llama.cpp`` logger at ``level`` (idempotent)."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _on_log(lvl, text, user_data):  # noqa: ARG001 - C signature
        if log.isEnabledFor(level):
            msg = ctypes.string_at(text).decode("utf-8", "replace").rstrip("\n")
            if msg:
                log.log(level, "%s", msg)

    _callback = _on_log
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
