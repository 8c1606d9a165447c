"""The one load policy: (a model, the user's settings and explicit choices, this machine) -> the concrete parameters
llama.cpp gets, the memory-fit plan for exactly those parameters, and the refusal when they cannot fit.

Every place that loads or sizes a model asks :func:`plan_load`: the Chat view and ``kompakt chat`` (through
:class:`app.runtime.chat.ChatSession`), the Fit view and ``kompakt fit``, and the fit badges of the Models and
Quantize views. The rules, in order:

1. Values: explicit choices (``n_ctx=...``, a flag, a control the user moved) win over the user's saved
   :class:`~app.runtime.settings.Settings`, which win over the built-in defaults. Explicit values are kept as given
   (and refused when they cannot fit); a context from the settings is only a preference: it is capped at the
   length the model was trained with and lowered, in steps of 256 tokens, until the model fits.
2. GPU layers: -1 (:data:`~app.runtime.settings.GPU_LAYERS_AUTO`) is "as many as fit", chosen by the estimator;
   counts above the model's layers mean all of them; with no usable GPU every layer stays on the CPU.
3. Flash attention "auto" is resolved the way llama.cpp resolves ``LLAMA_FLASH_ATTN_TYPE_AUTO`` when it creates a
   context (``llama_init_from_model`` and ``llama_context::resolve_fused_ops`` in llama-context.cpp of the pinned
   build): a quantized V cache forces it on ("enabling flash_attn since it is required for quantized V cache");
   otherwise llama.cpp reserves a graph and keeps it on unless some layer's fused-attention op lands on another
   device than the layer, which happens when the GPU backend cannot run it for that head size and cache type
   ("Flash Attention not supported, set to disabled"). The CPU backend runs every case, so a load with no GPU
   layers (or only the output layer on the GPU) always gets it; with GPU layers it is on when the GPU backend
   supports the model's head sizes and cache types (:meth:`app.runtime.fit.GpuDevice.supports_flash_attn`).
   The resolved "on"/"off" is what llama.cpp is given, so the estimate and the load cannot disagree.
4. When the estimator cannot read the model (an architecture it does not model, say) and the caller asked for a
   best effort (chat loading), the load goes ahead unchecked: -1 becomes all layers when there is a GPU (else 0),
   "auto" is left to llama.cpp, and the reason is logged. The check is a safety net, never a gate on valid files.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Optional

from app.runtime.chat.settings import LoadSettings
from app.runtime.errors import InsufficientMemoryError
from app.runtime.fit import NO_FIT, ContextParams, FitPlan, Machine, ModelSpec, load_spec, plan_fit
from app.runtime.fit.context import CTX_PAD
from converter.core.quant_types import QType
from app.runtime.settings import GPU_LAYERS_ALL, GPU_LAYERS_AUTO, Settings

log = logging.getLogger(__name__)

#: Free memory is re-read when the last look is older than this (device discovery takes a moment).
MACHINE_MAX_AGE_S = 30.0
_LOAD_FIELDS = frozenset(f.name for f in fields(LoadSettings))
_hw_lock = threading.Lock()
_hw_cache: Optional[tuple[float, Any]] = None


def hardware_info(max_age: float = MACHINE_MAX_AGE_S) -> Any:
    """:func:`app.runtime.hardware.detect`, reused for ``max_age`` seconds (thread-safe)."""
    global _hw_cache
    from app.runtime import hardware

    with _hw_lock:
        if _hw_cache is None or time.monotonic() - _hw_cache[0] > max_age:
            _hw_cache = (time.monotonic(), hardware.detect())
        return _hw_cache[1]


def this_machine(*, ram: Optional[int] = None, vram: Optional[int] = None) -> Machine:
    """The estimator's :class:`Machine` for this computer; ``ram``/``vram`` pretend other free memory (see
    :func:`app.runtime.fit.machine_from_hardware`)."""
    from app.runtime.fit import machine_from_hardware

    return machine_from_hardware(hardware_info(), ram=ram, vram=vram)


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


@dataclass
class LoadPlan:
    """What the policy decided: ``params`` go to llama.cpp as they are; ``fit`` is the estimate for exactly them
    (None when the estimator could not tell, see ``notes``); ``notes`` say what was chosen and why."""

    params: LoadSettings
    spec: Optional[ModelSpec] = None
    machine: Optional[Machine] = None
    fit: Optional[FitPlan] = None
    notes: list[str] = field(default_factory=list)

    @property
    def context(self) -> Optional[ContextParams]:
        """The context settings the estimate used (None without an estimate)."""
        return self.fit.estimate.ctx if self.fit is not None else None

    @property
    def verdict(self) -> Optional[str]:
        """The fit verdict (:data:`app.runtime.fit.FITS_GPU` ...), None when unknown."""
        return self.fit.verdict if self.fit is not None else None

    def refusal(self) -> Optional[InsufficientMemoryError]:
        """The error to raise when these parameters cannot fit (with what would), else None."""
        if self.fit is None or self.fit.verdict != NO_FIT:
            return None
        devices = self.fit.estimate.devices
        short = [d for d in devices if not d.fits]
        worst = short[0] if short else devices[0]
        available = worst.budget_bytes or 0
        hints = list(self.fit.suggestions)
        name = Path(self.spec.source).name if self.spec is not None and self.spec.source else "the model"
        message = (f"{name} needs about {_gib(worst.total_bytes)} of {worst.name} memory at a context of "
                   f"{self.params.n_ctx} tokens, but only {_gib(available)} is available")
        if hints:
            message += "; " + "; ".join(hints)
        return InsufficientMemoryError(message, needed=worst.total_bytes, available=available, suggestions=hints)

    def ensure_fits(self) -> None:
        """Raise :class:`InsufficientMemoryError` when the estimate says these parameters do not fit."""
        error = self.refusal()
        if error is not None:
            raise error


def resolve_flash_attn(mode: str, spec: ModelSpec, machine: Machine, type_k: str, type_v: str,
                       gpu_layers: Optional[int]) -> bool:
    """Flash attention on or off as llama.cpp decides for ``mode`` ("auto", "on", "off") with ``gpu_layers``
    offloaded (None: not decided yet; assume some layers go to the GPU). See rule 3 of the module docstring."""
    if mode != "auto":
        return mode == "on"
    if QType.parse(type_v).is_quantized:  # llama.cpp forces it on: attention cannot read a quantized V otherwise
        return True
    if not machine.gpus or (gpu_layers is not None and gpu_layers <= 1):  # no attention runs on a GPU
        return True
    heads = sorted(set(zip(spec.head_dim_k, spec.head_dim_v)))
    return all(g.supports_flash_attn(heads, type_k, type_v) for g in machine.gpus)


def plan_load(model: str | Path | None = None, prefs: Optional[Settings] = None, *,
              spec: Optional[ModelSpec] = None, machine: Optional[Machine] = None, quant: Optional[str] = None,
              swa_full: bool = True, use_mmap: bool = True, best_effort: bool = False, **explicit: Any) -> LoadPlan:
    """Decide how to load ``model`` (a GGUF file, a Hugging Face folder + ``quant``, a Hub repo id; or a ready
    ``spec``) on ``machine`` (default: this computer) with the user's ``prefs`` (default: the built-in settings)
    and ``explicit`` choices, named as :class:`LoadSettings` fields (None values are ignored).

    ``swa_full``/``use_mmap`` are llama.cpp's defaults, as chat loads use them (``kompakt fit`` can vary them).
    Raises :class:`SettingsError` for values out of range or a combination llama.cpp would refuse, and, unless
    ``best_effort``, the estimator's errors (a model it cannot read, a machine it cannot probe).
    """
    unknown = set(explicit) - _LOAD_FIELDS
    if unknown:
        raise TypeError(f"plan_load got unknown settings: {', '.join(sorted(unknown))}")
    if model is None and spec is None:
        raise TypeError("plan_load needs a model or a spec")
    prefs = prefs or Settings()
    given = {k: v for k, v in explicit.items() if v is not None}
    params = LoadSettings(n_ctx=prefs.context_length, n_gpu_layers=prefs.gpu_layers, n_threads=prefs.threads,
                          type_k=prefs.kv_type, type_v=prefs.kv_type)
    params = replace(params, **given)
    params.validate()
    try:
        spec = spec or load_spec(model, quant)  # type: ignore[arg-type]  # model is not None here
        machine = machine or this_machine()
        plan = LoadPlan(replace(params), spec, machine)
        _decide(plan, ctx_soft="n_ctx" not in given, swa_full=swa_full, use_mmap=use_mmap)
        return plan
    except Exception as exc:  # noqa: BLE001 - re-raised unless the caller asked for a best effort
        if not best_effort:
            raise
        return _unchecked(params, machine, exc)


def _unchecked(params: LoadSettings, machine: Optional[Machine], why: BaseException) -> LoadPlan:
    """Rule 4: a plan without an estimate."""
    log.info("memory estimate unavailable, loading unchecked: %s", why)
    if params.n_gpu_layers == GPU_LAYERS_AUTO:
        params.n_gpu_layers = GPU_LAYERS_ALL if machine is not None and machine.gpus else 0
    return LoadPlan(params, None, machine, None)


def _decide(plan: LoadPlan, *, ctx_soft: bool, swa_full: bool, use_mmap: bool) -> None:
    """Rules 1-3 on ``plan`` (in place): context, GPU layers, flash attention, and the fit for them."""
    p, spec, machine = plan.params, plan.spec, plan.machine
    assert spec is not None and machine is not None
    trained = max(spec.n_ctx_train, CTX_PAD) if spec.n_ctx_train else 0
    if ctx_soft and trained and p.n_ctx > trained:
        plan.notes.append(f"context capped at the {trained} tokens the model was trained with")
        p.n_ctx = trained
    if not machine.gpus:
        layers: Optional[int] = 0
    elif p.n_gpu_layers == GPU_LAYERS_AUTO:
        layers = None
    else:
        layers = min(p.n_gpu_layers, spec.n_layer + 1)
    fit = _fit(plan, layers, swa_full, use_mmap)
    if fit.verdict == NO_FIT and ctx_soft and fit.max_ctx and fit.max_ctx < p.n_ctx:
        plan.notes.append(f"context lowered from {p.n_ctx} to {fit.max_ctx} tokens to fit")
        p.n_ctx = fit.max_ctx
        fit = _fit(plan, layers, swa_full, use_mmap)
    plan.fit = fit
    p.n_gpu_layers = fit.gpu_layers
    p.flash_attn = "on" if fit.estimate.ctx.flash_attn else "off"


def _fit(plan: LoadPlan, layers: Optional[int], swa_full: bool, use_mmap: bool) -> FitPlan:
    """The fit plan for ``plan.params`` with flash attention resolved (rule 3)."""
    p, spec, machine = plan.params, plan.spec, plan.machine
    assert spec is not None and machine is not None
    fa = resolve_flash_attn(p.flash_attn, spec, machine, p.type_k, p.type_v, layers)
    ctx = ContextParams(n_ctx=p.n_ctx, n_batch=p.n_batch, n_ubatch=p.n_batch, type_k=p.type_k, type_v=p.type_v,
                        flash_attn=fa, swa_full=swa_full, use_mmap=use_mmap)
    fit = plan_fit(spec, machine, ctx, layers)
    if p.flash_attn == "auto" and not fa and fit.gpu_layers <= 1:  # it ended up on the CPU, where FA runs
        fit = plan_fit(spec, machine, replace(ctx, flash_attn=True), fit.gpu_layers)
    return fit
