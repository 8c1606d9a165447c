"""Per-mix facts for the wizard's table: exact tensor bytes from the mix rules, bits per weight and the
fit verdict on this machine. Plain Python; the wizard runs :func:`estimate_options` on a worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from app.runtime.fit import load_spec
from app.runtime.load_policy import plan_load
from converter.core.progress import CancelToken, Progress, ProgressCallback, check, emit
from converter.core.quant_types import OFFERED_MIXES, QType

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class QuantOption:
    """One row of the table."""

    mix: str
    size: int  # bytes of tensor data, exact: each tensor's type as the mix rules assign it
    bits_per_weight: float
    verdict: Optional[str]  # app.runtime.fit verdict, None when unknown
    gpu_layers: int = 0
    error: str = ""


def _spec_for(source, mix: str):
    """ModelSpec of ``source`` quantized to ``mix`` (a GGUF source is re-planned with the mix's rules)."""
    from app.runtime.sources import HubRepo, LocalGGUF

    if isinstance(source, HubRepo):
        return load_spec(source.repo_id, mix)
    if isinstance(source, LocalGGUF):
        return _requantized_spec(Path(source.path), mix)
    return load_spec(str(source.path), mix)


def _requantized_spec(path: Path, mix: str):
    from converter.gguf_in import read_gguf
    from converter.mixes import MixModelParams, MixTensor, plan_types

    spec = load_spec(str(path))
    gf = read_gguf(path)
    infos = [MixTensor(t.name, tuple(t.shape), t.type) for t in spec.tensors]
    types = plan_types(infos, mix, MixModelParams.from_metadata(gf.metadata))
    tensors = [dataclasses.replace(t, type=types.get(t.name, t.type)) for t in spec.tensors]
    return dataclasses.replace(spec, tensors=tensors, file_size=None)


def mix_sizes(folder: Path, mixes) -> tuple[dict[str, int], int]:
    """Exact tensor bytes of each mix for the checkpoint in ``folder`` (reads config and headers, no weights),
    and the parameter count. Each tensor gets the type llama.cpp's mix rules assign it."""
    import gguf

    from converter.archs import get_architecture
    from converter.hf.checkpoint import open_checkpoint
    from converter.hf.config import load_config
    from converter.mixes import MixModelParams, MixTensor, plan_types

    config = load_config(folder)
    arch = get_architecture(config, folder)
    planned = list(arch.tensor_plan(open_checkpoint(folder)))
    writer = gguf.GGUFWriter(None, arch.name)
    arch.write_metadata(writer)
    values = {k: v.value for k, v in writer.kv_data[0].items()}
    values["general.architecture"] = arch.name
    model = MixModelParams.from_metadata(values)
    infos = [MixTensor(t.name, tuple(reversed(t.shape)), QType.F32) for t in planned]
    n_params = sum(int(np.prod(t.shape, dtype=np.int64)) for t in planned)
    sizes = {}
    for mix in mixes:
        types = plan_types(infos, mix, model)
        sizes[mix] = sum(QType(types[t.name]).nbytes(t.shape) for t in infos)
    return sizes, n_params


def estimate_options(source, n_ctx: int = 4096, mixes=OFFERED_MIXES, *, progress: Optional[ProgressCallback] = None,
                     cancel: Optional[CancelToken] = None) -> list[QuantOption]:
    """One :class:`QuantOption` per mix; a mix that cannot be planned gets a row with ``error`` set."""
    from app.runtime.sources import LocalFolder

    exact: dict[str, int] = {}
    n_params = 0
    if isinstance(source, LocalFolder):
        exact, n_params = mix_sizes(Path(source.path), mixes)
    out = []
    for i, mix in enumerate(mixes):
        check(cancel)
        emit(progress, Progress("sizes", i, len(mixes), "types", mix))
        verdict, layers, spec = None, 0, None
        try:
            spec = _spec_for(source, mix)
            plan = plan_load(spec=spec, n_ctx=n_ctx)
            verdict, layers = plan.verdict, plan.params.n_gpu_layers
        except Exception as exc:  # noqa: BLE001 - no verdict is fine when the sizes are known
            log.info("fit estimate for %s failed: %s", mix, exc)
            if not exact:
                if i == 0:
                    raise
                out.append(QuantOption(mix, 0, 0.0, None, error=str(exc)))
                continue
        if exact:
            size, params = exact[mix], n_params
        else:
            size = int(spec.weights_bytes)
            params = sum(int(np.prod(t.shape, dtype=np.int64)) for t in spec.tensors)
        out.append(QuantOption(mix, size, 8.0 * size / max(1, params), verdict, layers))
    return out
