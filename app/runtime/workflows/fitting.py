"""The GUI's access to the memory-fit estimator (:mod:`app.runtime.fit`) with the machine detected once.

All functions are plain Python; callers decide the thread. ``hardware.detect()`` asks llama.cpp and NVML about
devices, which takes a moment the first time, so :func:`machine` caches it.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Optional

log = logging.getLogger(__name__)

#: Verdict -> (badge text, colour) for tables and the fit bar.
BADGES = {
    "fits_gpu": ("GPU", "#2e7d32"),
    "partial_offload": ("GPU+CPU", "#ef8f00"),
    "cpu_only": ("CPU", "#1565c0"),
    "does_not_fit": ("too big", "#c62828"),
}


@functools.lru_cache(maxsize=1)
def hardware_info() -> Any:
    """:func:`app.runtime.hardware.detect`, once per process."""
    from app.runtime import hardware

    return hardware.detect()


def machine() -> Any:
    """The fit estimator's Machine for this computer."""
    from app.runtime.fit import machine_from_hardware

    return machine_from_hardware(hardware_info())


def context_params(n_ctx: int = 4096, kv_type: str = "f16", *, ubatch: int = 512) -> Any:
    """ContextParams as ``kompakt fit`` builds them (a quantized V cache needs flash attention)."""
    from app.runtime.fit import ContextParams

    return ContextParams(n_ctx=n_ctx, n_ubatch=ubatch, type_k=kv_type, type_v=kv_type,
                         flash_attn=kv_type != "f16", swa_full=True, use_mmap=True)


def load_spec(model: str, quant: Optional[str] = None) -> Any:
    """ModelSpec for a GGUF file, an HF folder + quant, or a Hub repo + quant."""
    from app.runtime.fit import load_spec as _load

    return _load(model, quant)


def plan(spec: Any, n_ctx: int = 4096, kv_type: str = "f16", gpu_layers: Optional[int] = None) -> Any:
    """FitPlan for ``spec`` on this machine."""
    from app.runtime.fit import plan_fit

    return plan_fit(spec, machine(), context_params(n_ctx, kv_type), gpu_layers)


def badge(verdict: Optional[str]) -> tuple[str, str]:
    """(text, colour) for a verdict; ("?", grey) when unknown."""
    return BADGES.get(verdict or "", ("?", "#757575"))


def quick_verdict(model: str, quant: Optional[str] = None, n_ctx: int = 4096) -> tuple[Optional[str], int]:
    """(verdict, weights bytes) for a model; (None, 0) when the estimator cannot tell (logged)."""
    try:
        spec = load_spec(model, quant)
        return plan(spec, n_ctx).verdict, int(spec.weights_bytes)
    except Exception as exc:  # noqa: BLE001 - a badge is optional; the reason goes to the log
        log.info("fit estimate for %s failed: %s", model, exc)
        return None, 0
