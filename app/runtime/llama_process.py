"""Process-wide llama.cpp set-up shared by chat, evaluation and importance matrices: the backend is initialised
once (with llama.cpp's log routed to Python logging first), and a model's handles are freed in one order."""

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

            from app.runtime.llama_log import install_log_handler

            install_log_handler()
            llama_cpp.llama_backend_init()
            _ready = True


def free_handles(batch, ctx, model) -> None:
    """Free a batch, a context and a model, in that order, each only if there is one (a batch is a struct, so
    None means none; contexts and models are pointers, so null does)."""
    import llama_cpp

    if batch is not None:
        llama_cpp.llama_batch_free(batch)
    if ctx:
        llama_cpp.llama_free(ctx)
    if model:
        llama_cpp.llama_model_free(model)
