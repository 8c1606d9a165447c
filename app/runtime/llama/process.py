"""Process-wide llama.cpp set-up: the backend is initialised once, with llama.cpp's log routed to Python logging
first (so even the first lines are captured)."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_ready = False


def ensure_backend() -> None:
    """``llama_backend_init`` once per process (thread-safe), after installing the log handler."""
    global _ready
    with _lock:
        if not _ready:
            import llama_cpp

            from app.runtime.llama.log import install_log_handler

            install_log_handler()
            llama_cpp.llama_backend_init()
            _ready = True
