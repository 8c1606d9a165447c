"""Build a :class:`ModelSpec` for a model that is not converted yet: a Hugging Face folder or Hub repo plus a
target quantization. Only ``config.json`` and the safetensors headers are read (a few KiB), never the weights.

The converter's own pieces do the work, so the estimate describes the file ``kompakt convert`` would write: its
checkpoint reader (local folders), its architecture classes (GGUF metadata, tensor names and shapes, generated
tensors such as Llama 3's ``rope_freqs``) and its mix rules (tensor types).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable, Sequence

from converter.errors import CheckpointError

from .gguf_source import spec_from_metadata
from .model import ModelSpec, WeightTensor
from .mix_types import tensor_types

log = logging.getLogger(__name__)

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


def spec_from_hf_folder(folder: str | Path, quant: str) -> ModelSpec:
    """ModelSpec of a local Hugging Face checkpoint converted to ``quant``."""
    from converter.hf.checkpoint import open_checkpoint
    from converter.hf.config import load_config

    config = load_config(folder)
    return _spec(config, open_checkpoint(folder), quant, str(folder))


def spec_from_hub(repo_id: str, quant: str, revision: str | None = None, token: str | None = None) -> ModelSpec:
    """ModelSpec of a Hub repository (config and safetensors headers fetched by ``app.runtime.hub``)."""
    from app.runtime.hub import remote_checkpoint_meta

    config, tensors = remote_checkpoint_meta(repo_id, revision=revision, token=token)
    return spec_from_checkpoint_meta(config, tensors, quant, source=repo_id)


def spec_from_checkpoint_meta(config: dict[str, Any], tensors: Iterable[tuple[str, str, Sequence[int]]],
                              quant: str, *, source: str = "") -> ModelSpec:
    """ModelSpec from a ``config.json`` dict and ``(name, dtype, shape)`` headers (e.g. read from the Hub).

    Tensors are taken in name order, as the converter reads a shard.
    """
    from converter.hf.checkpoint import Checkpoint
    from converter.hf.safetensors import SafetensorsTensor

    where = Path(source or ".")
    infos: dict[str, SafetensorsTensor] = {}
    for name, dtype, shape in sorted(tensors, key=lambda t: t[0]):
        shape = tuple(int(n) for n in shape)
        count = 1
        for n in shape:
            count *= n
        infos[name] = SafetensorsTensor(name, str(dtype), shape, where, 0,
                                        count * _DTYPE_BYTES.get(str(dtype).upper(), 2))
    if not infos:
        raise CheckpointError("no tensors in the checkpoint", path=source or None)
    return _spec(config, Checkpoint(where, [], infos), quant, source)


def _converter_metadata(arch: Any) -> dict[str, Any]:
    from converter.gguf_out import collect_metadata

    return collect_metadata(arch.name, [], arch.write_metadata).values


def _spec(config: dict[str, Any], checkpoint: Any, quant: str, source: str) -> ModelSpec:
    """Plan the conversion (names, shapes, types) without loading any weight and describe its result."""
    from converter.archs import get_architecture

    arch = get_architecture(config, source or None)
    planned = list(arch.tensor_plan(checkpoint))
    types = tensor_types(arch, planned, quant)
    infos = [WeightTensor(p.name, types[p.name], tuple(reversed(p.shape))) for p in planned]
    try:
        return spec_from_metadata(_converter_metadata(arch), infos, source=source)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot describe the converted model: {exc}", path=source or None) from exc
