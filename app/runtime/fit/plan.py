"""Turn estimates into a verdict: does the model fit, with how many GPU layers, and up to which context."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from converter.core.quant_types import QType

from .context import CTX_PAD, ContextParams
from .devices import Machine
from .estimate import MemoryEstimate, estimate
from .model import ModelSpec

FITS_GPU = "fits_gpu"
PARTIAL = "partial_offload"
CPU_ONLY = "cpu_only"
NO_FIT = "does_not_fit"

VERDICT_TEXT = {
    FITS_GPU: "fits entirely on the GPU",
    PARTIAL: "fits with {n} of {total} layers on the GPU",
    CPU_ONLY: "fits in system memory (CPU only)",
    NO_FIT: "does not fit",
}


@dataclass
class FitPlan:
    """The verdict for one model and request, the estimate behind it, and what would fit instead."""

    verdict: str
    estimate: MemoryEstimate
    n_layer: int
    max_ctx: int | None = None
    suggestions: list[str] = field(default_factory=list)

    @property
    def gpu_layers(self) -> int:
        """GPU layers of the chosen configuration (llama.cpp's count: output layer included)."""
        return self.estimate.gpu_layers

    def summary(self) -> str:
        """One sentence for people."""
        return VERDICT_TEXT[self.verdict].format(n=self.gpu_layers, total=self.n_layer + 1)


def best_gpu_layers(spec: ModelSpec, machine: Machine, ctx: ContextParams) -> MemoryEstimate | None:
    """The estimate with the most GPU layers that fits everywhere, or None when nothing fits.

    With one GPU, its use grows and the CPU's shrinks with every offloaded layer, so a binary search finds the
    most layers the GPU holds, and if the CPU part does not fit there it fits nowhere. Several GPUs (split by
    free memory) and unified memory (both sides share one pool) are searched linearly.
    """
    if len(machine.gpus) == 1 and not machine.gpus[0].unified_memory:
        def gpu_fits(n: int) -> bool:
            return estimate(spec, machine, ctx, n).devices[1].fits

        lo, hi = 0, spec.n_layer + 1  # gpu_fits(0) holds: an unused GPU costs nothing
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if gpu_fits(mid):
                lo = mid
            else:
                hi = mid - 1
        est = estimate(spec, machine, ctx, lo)
        return est if est.fits else None
    for n in range(spec.n_layer + 1, -1, -1) if machine.gpus else [0]:
        est = estimate(spec, machine, ctx, n)
        if est.fits:
            return est
    return None


def max_context(spec: ModelSpec, machine: Machine, ctx: ContextParams, n_gpu_layers: int | None,
                limit: int | None = None) -> int | None:
    """Largest context (a multiple of 256, at most ``limit``) that fits with ``n_gpu_layers`` (None = best).

    Returns None when not even 256 tokens fit.
    """
    limit = limit or max(spec.n_ctx_train, ctx.n_ctx, CTX_PAD)

    def fits(n_ctx: int) -> bool:
        c = replace(ctx, n_ctx=n_ctx)
        if n_gpu_layers is None:
            return best_gpu_layers(spec, machine, c) is not None
        return estimate(spec, machine, c, n_gpu_layers).fits

    lo, hi = 0, limit // CTX_PAD
    if hi == 0 or not fits(CTX_PAD):
        return None
    lo = 1
    while lo < hi:  # invariant: lo fits
        mid = (lo + hi + 1) // 2
        if fits(mid * CTX_PAD):
            lo = mid
        else:
            hi = mid - 1
    return lo * CTX_PAD


def plan_fit(spec: ModelSpec, machine: Machine, ctx: ContextParams, gpu_layers: int | None = None) -> FitPlan:
    """Decide how ``spec`` runs on ``machine`` at ``ctx``: ``gpu_layers=None`` searches the best offload."""
    if gpu_layers is None:
        best = best_gpu_layers(spec, machine, ctx)
        est = best or estimate(spec, machine, ctx, 0 if not machine.gpus else spec.n_layer + 1)
    else:
        est = estimate(spec, machine, ctx, gpu_layers)
        best = est if est.fits else None
    if best is None:
        verdict = NO_FIT
    elif best.gpu_layers == 0:
        verdict = CPU_ONLY
    elif best.gpu_layers >= spec.n_layer + 1:
        verdict = FITS_GPU
    else:
        verdict = PARTIAL
    limit = max(spec.n_ctx_train, ctx.n_ctx)
    max_ctx = max_context(spec, machine, ctx, gpu_layers if gpu_layers is not None else est.gpu_layers, limit)
    plan = FitPlan(verdict=verdict, estimate=est, n_layer=spec.n_layer, max_ctx=max_ctx)
    if verdict == NO_FIT:
        plan.suggestions = _suggestions(spec, machine, ctx, gpu_layers, limit)
    return plan


def _suggestions(spec: ModelSpec, machine: Machine, ctx: ContextParams, gpu_layers: int | None,
                 limit: int) -> list[str]:
    out = []
    fits_ctx = max_context(spec, machine, ctx, gpu_layers, limit)
    if fits_ctx:
        out.append(f"a context of {fits_ctx} tokens fits")
    if not (ctx.k_type.is_quantized and ctx.v_type.is_quantized):  # suggest the 8-bit cache
        q8 = replace(ctx, type_k=QType.Q8_0.name.lower(), type_v=QType.Q8_0.name.lower(), flash_attn=True)
        alt = best_gpu_layers(spec, machine, q8) if gpu_layers is None else estimate(spec, machine, q8, gpu_layers)
        if alt is not None and alt.fits:
            out.append("a q8_0 KV cache with flash attention fits")
    if not fits_ctx:
        out.append("even the smallest context does not fit: pick a smaller quantization or model")
    return out
