"""Ground truth for the estimator: load a GGUF in llama.cpp (:mod:`app.runtime.llama`), read the buffer sizes it logs.

llama.cpp reports every buffer it allocates (``load_tensors: CPU_Mapped model buffer size = 98.87 MiB``,
``llama_kv_cache: CPU KV buffer size``, ``sched_reserve: CPU compute buffer size``, ``llama_context: CPU output
buffer size``), rounded to 0.01 MiB. We capture those lines through :mod:`app.runtime.llama.log` and compare them
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
    from app.runtime.llama.context import ContextOptions
    from app.runtime.llama.log import install_log_handler
    from app.runtime.llama.model import ModelOptions, open_model

    install_log_handler()
    logger = logging.getLogger("llama.cpp")
    collector = _BufferSizeLog()
    old_level = logger.level
    logger.addHandler(collector)
    logger.setLevel(logging.DEBUG)
    try:
        with open_model(path, ModelOptions(n_gpu_layers=0, use_mmap=ctx.use_mmap)) as model:
            model.new_context(ContextOptions(
                n_ctx=ctx.n_ctx, n_threads=threads, n_batch=ctx.n_batch, n_ubatch=ctx.n_ubatch,
                type_k=ctx.type_k, type_v=ctx.type_v, flash_attn="on" if ctx.flash_attn else "off",
                swa_full=ctx.swa_full))
    finally:
        logger.removeHandler(collector)
        logger.setLevel(old_level)
    return collector.sizes
