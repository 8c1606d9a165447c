"""Ground truth for the estimator: load a GGUF in llama-cpp-python and read the buffer sizes llama.cpp logs.

llama.cpp reports every buffer it allocates (``load_tensors: CPU_Mapped model buffer size = 98.87 MiB``,
``llama_kv_cache: CPU KV buffer size``, ``sched_reserve: CPU compute buffer size``, ``llama_context: CPU output
buffer size``), rounded to 0.01 MiB. We capture those lines through :mod:`app.runtime.llama_log` and compare them
with :mod:`app.runtime.fit` in bench/fit_accuracy.py and the integration tests.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from .context import ContextParams

_LINE = re.compile(r"(\S+)\s+(model|KV|compute|output) buffer size =\s*([\d.]+) MiB")


class _BufferSizeLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sizes: dict[str, float] = {}

    def emit(self, record: logging.LogRecord) -> None:
        m = _LINE.search(record.getMessage())
        if m:
            key = f"{m.group(2)}:{m.group(1)}"
            self.sizes[key] = self.sizes.get(key, 0.0) + float(m.group(3)) * (1 << 20)


def measure_buffers(path: str | Path, ctx: ContextParams, *, threads: int = 1) -> dict[str, float]:
    """Load ``path`` with ``ctx``'s settings on the CPU and return ``{"model:CPU_Mapped": bytes, ...}``.

    Keys are ``<kind>:<buffer type>`` with kind one of model, KV, compute, output; sizes of buffers logged
    twice (the two caches of an iSWA model) are summed.
    """
    import llama_cpp

    from app.runtime.llama_log import install_log_handler

    install_log_handler()
    logger = logging.getLogger("llama.cpp")
    collector = _BufferSizeLog()
    old_level = logger.level
    logger.addHandler(collector)
    logger.setLevel(logging.DEBUG)
    try:
        llm = llama_cpp.Llama(
            str(path), n_ctx=ctx.n_ctx, n_batch=ctx.n_batch, n_ubatch=ctx.n_ubatch, n_gpu_layers=0,
            flash_attn=ctx.flash_attn, type_k=int(ctx.k_type), type_v=int(ctx.v_type),
            swa_full=ctx.swa_full, use_mmap=ctx.use_mmap, n_threads=threads, n_threads_batch=threads,
            verbose=False)
        llm.close()
    finally:
        logger.removeHandler(collector)
        logger.setLevel(old_level)
    return collector.sizes
