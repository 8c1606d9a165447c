"""Memory-fit estimator: will this model run here, on which device, with how much context?

Inputs are a GGUF file, a Hugging Face folder plus a target quantization, or a Hub repo id (metadata only).
``plan_fit(load_spec(...), machine_from_hardware(detect()), ContextParams(...))`` gives a :class:`FitPlan`;
places that load or size a model for the user go through :func:`app.runtime.load_policy.plan_load`, which picks
the parameters (context, GPU layers, flash attention) and plans the fit for exactly them.
Each module holds one part of the model of llama.cpp's allocations: ``weights`` (placement, mapping, repacking),
``kv_cache``, ``compute`` (graph and output buffers), ``estimate`` (per-device totals and margins), ``plan``
(verdict, best GPU layer count, largest context).
"""

from __future__ import annotations

import re
from pathlib import Path

from converter.core.quant_types import DEFAULT_MIX

from .context import ContextParams
from .devices import GpuDevice, Machine
from .estimate import DeviceUsage, MemoryEstimate, estimate
from .model import ModelSpec, WeightTensor
from .plan import CPU_ONLY, FITS_GPU, NO_FIT, PARTIAL, FitPlan, plan_fit

__all__ = [
    "CPU_ONLY", "FITS_GPU", "NO_FIT", "PARTIAL", "ContextParams", "DeviceUsage", "MemoryEstimate", "FitPlan",
    "GpuDevice", "Machine", "ModelSpec", "WeightTensor", "estimate", "load_spec", "machine_from_hardware", "plan_fit",
]

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def load_spec(model: str | Path, quant: str | None = None, *, revision: str | None = None,
              token: str | None = None) -> ModelSpec:
    """ModelSpec from a GGUF file, a Hugging Face folder (+ ``quant``) or a Hub repo id (+ ``quant``).

    ``quant`` is ignored for GGUF files (their tensor types are what they are).
    """
    from converter.errors import CheckpointError

    path = Path(model)
    if path.is_file():
        from .gguf_source import spec_from_gguf

        return spec_from_gguf(path)
    if path.is_dir():
        from .hf_source import spec_from_hf_folder

        return spec_from_hf_folder(path, quant or DEFAULT_MIX.name)
    if _REPO_ID.match(str(model)) and not str(model).endswith(".gguf"):
        from .hf_source import spec_from_hub

        return spec_from_hub(str(model), quant or DEFAULT_MIX.name, revision=revision, token=token)
    raise CheckpointError("no such file or folder, and not a Hub repo id", path=path)


def machine_from_hardware(hw, *, ram: int | None = None, vram: int | None = None) -> Machine:
    """A :class:`Machine` from :func:`app.runtime.hardware.detect` output, with optional budget overrides.

    ``ram`` replaces the available system memory. ``vram`` replaces the free memory of the first usable GPU, or,
    when there is none, adds a hypothetical CUDA GPU of that size (to ask "what if I had this card").
    """
    gpus = [GpuDevice(g.name, g.kind, g.free_bytes, g.total_bytes) for g in hw.usable_gpus]
    if vram is not None:
        if gpus:
            gpus[0] = GpuDevice(gpus[0].name, gpus[0].kind, vram, max(vram, gpus[0].total_bytes))
        elif vram > 0:
            gpus = [GpuDevice("hypothetical GPU", "cuda", vram, vram)]
    return Machine(ram_free=hw.ram_available if ram is None else ram, ram_total=hw.ram_total,
                   cpu_isa=hw.cpu_isa, gpus=gpus)
