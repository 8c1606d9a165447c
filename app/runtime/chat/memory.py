"""The memory-fit estimator applied to chat loading: pick context and GPU layers, refuse loads that cannot fit.

llama.cpp aborts or swaps itself to a crawl when an allocation does not fit; we ask the estimator
(:mod:`app.runtime.fit`) first. When the estimator cannot read a model (an architecture it does not model, say), the
load goes ahead unchecked and the reason is logged: the check is a safety net, never a gate on valid files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from app.runtime.errors import InsufficientMemoryError
from app.runtime.fit.plan import NO_FIT

if TYPE_CHECKING:
    from app.runtime.fit import FitPlan

    from .settings import LoadSettings

log = logging.getLogger(__name__)

#: Context used when neither the user nor the model asks for less: enough for long chats, cheap everywhere.
DEFAULT_CTX = 4096


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def plan_for(model_path: str | Path, settings: "LoadSettings", *, gpu_layers: Optional[int]) -> Optional["FitPlan"]:
    """The estimator's plan for loading ``model_path`` with ``settings`` here, or None if it cannot tell."""
    try:
        from app.runtime.fit import ContextParams, load_spec, machine_from_hardware, plan_fit
        from app.runtime.hardware import detect

        spec = load_spec(model_path)
        hw = detect()
        ctx = ContextParams(n_ctx=settings.n_ctx, n_batch=settings.n_batch, type_k=settings.type_k,
                            type_v=settings.type_v, flash_attn=settings.flash_attn != "off")
        return plan_fit(spec, machine_from_hardware(hw), ctx, gpu_layers)
    except Exception as exc:  # the estimator is advisory: never block a load on its own failure
        log.info("memory estimate unavailable for %s: %s", Path(model_path).name, exc)
        return None


def n_ctx_train(model_path: str | Path) -> int:
    """The context length the model was trained with (0 when unknown)."""
    try:
        from app.runtime.fit import load_spec

        return load_spec(model_path).n_ctx_train
    except Exception:
        return 0


def choose(model_path: str | Path, settings: "LoadSettings", *, ctx_given: bool, layers_given: bool) -> None:
    """Fill in the context size and GPU layers the user left open, from the model and the estimator (in place).

    Context: the model's trained length capped at :data:`DEFAULT_CTX`, then lowered to the largest that fits.
    GPU layers: as many as fit (all of them when the model fits on the GPU).
    """
    if not ctx_given:
        trained = n_ctx_train(model_path)
        settings.n_ctx = min(DEFAULT_CTX, trained) if trained else DEFAULT_CTX
    plan = plan_for(model_path, settings, gpu_layers=settings.n_gpu_layers if layers_given else None)
    if plan is None:
        return
    if not layers_given:
        settings.n_gpu_layers = plan.gpu_layers
    if plan.verdict == NO_FIT and not ctx_given and plan.max_ctx and plan.max_ctx >= 256:
        settings.n_ctx = plan.max_ctx
        plan = plan_for(model_path, settings, gpu_layers=settings.n_gpu_layers if layers_given else None)
        if plan is not None and not layers_given:
            settings.n_gpu_layers = plan.gpu_layers


def ensure_fits(model_path: str | Path, settings: "LoadSettings") -> None:
    """Raise :class:`InsufficientMemoryError` when loading with ``settings`` would not fit in memory."""
    plan = plan_for(model_path, settings, gpu_layers=settings.n_gpu_layers)
    if plan is None or plan.verdict != NO_FIT:
        return
    short = [d for d in plan.estimate.devices if not d.fits]
    worst = short[0] if short else plan.estimate.devices[0]
    available = worst.budget_bytes or 0
    hints = list(plan.suggestions)
    message = (f"{Path(model_path).name} needs about {_gib(worst.total_bytes)} of {worst.name} memory at a "
               f"context of {settings.n_ctx} tokens, but only {_gib(available)} is available")
    if hints:
        message += "; " + "; ".join(hints)
    raise InsufficientMemoryError(message, needed=worst.total_bytes, available=available, suggestions=hints)
