"""One view over a checkpoint's weights, whether in one safetensors file or sharded with an index.

``open_checkpoint(model_dir)`` finds ``model.safetensors``, ``model.safetensors.index.json`` (sharded) or any other
``*.safetensors`` files, validates every header, and returns a :class:`Checkpoint` mapping tensor names to
:class:`SafetensorsTensor`. Tensor data is read only by :meth:`Checkpoint.load`, one tensor at a time.

PyTorch pickle checkpoints (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) are refused: unpickling can run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import CheckpointError
from .config import read_json
from .safetensors import SafetensorsFile, SafetensorsTensor, load_tensor

INDEX_NAME = "model.safetensors.index.json"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


class Checkpoint:
    """Tensor name -> :class:`SafetensorsTensor` over all of a checkpoint's safetensors files, in a stable order."""

    def __init__(self, model_dir: Path, files: list[Path], tensors: dict[str, SafetensorsTensor]) -> None:
        self.model_dir = model_dir
        self.files = files
        self.tensors = tensors

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def info(self, name: str) -> SafetensorsTensor:
        """The :class:`SafetensorsTensor` of ``name``; :class:`CheckpointError` if the checkpoint lacks it."""
        try:
            return self.tensors[name]
        except KeyError:
            raise CheckpointError(f"tensor {name!r} not found in the checkpoint", path=self.model_dir) from None

    def load(self, name: str) -> np.ndarray:
        """Read tensor ``name`` (float dtypes as float32). Only this tensor is held in memory."""
        return load_tensor(self.info(name))

    @property
    def total_bytes(self) -> int:
        """Bytes of tensor data on disk."""
        return sum(t.nbytes for t in self.tensors.values())


def open_checkpoint(model_dir: str | Path) -> Checkpoint:
    """Find and validate the safetensors weights of ``model_dir``; raise :class:`CheckpointError` on problems."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise CheckpointError("not a directory", path=model_dir)
    index = model_dir / INDEX_NAME
    if index.is_file():
        return _open_sharded(model_dir, index)
    single = model_dir / "model.safetensors"
    files = [single] if single.is_file() else sorted(model_dir.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for p in model_dir.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickles:
            raise CheckpointError(
                f"only PyTorch pickle weights found ({', '.join(pickles[:3])}); they are not loaded because "
                "unpickling can run arbitrary code; use a safetensors version of the model", path=model_dir)
        raise CheckpointError("no *.safetensors weights found", path=model_dir)
    tensors: dict[str, SafetensorsTensor] = {}
    for path in files:
        shard = SafetensorsFile(path)
        for name in sorted(shard.tensors):
            if name in tensors:
                raise CheckpointError(f"tensor {name!r} appears in more than one file", path=path)
            tensors[name] = shard.tensors[name]
    return Checkpoint(model_dir, files, tensors)


def _open_sharded(model_dir: Path, index: Path) -> Checkpoint:
    data = read_json(index)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError("index has no weight_map", path=index)
    shard_names: list[str] = []
    for name, shard in weight_map.items():
        if not isinstance(shard, str) or "/" in shard or "\\" in shard or shard.startswith("."):
            raise CheckpointError(f"tensor {name!r} points to an invalid shard name {shard!r}", path=index)
        if shard not in shard_names:
            shard_names.append(shard)
    shards: dict[str, SafetensorsFile] = {}
    files: list[Path] = []
    for shard in sorted(shard_names):
        path = model_dir / shard
        if not path.is_file():
            raise CheckpointError(f"shard {shard} listed in {INDEX_NAME} is missing", path=model_dir)
        shards[shard] = SafetensorsFile(path)
        files.append(path)
    tensors: dict[str, SafetensorsTensor] = {}
    for shard in sorted(shards):
        for name in sorted(shards[shard].tensors):
            if weight_map.get(name) != shard:
                continue  # a tensor the index does not list (or lists elsewhere) is ignored, as transformers does
            tensors[name] = shards[shard].tensors[name]
    missing = [n for n in weight_map if n not in tensors]
    if missing:
        raise CheckpointError(f"tensor {missing[0]!r} is listed in {INDEX_NAME} but not found in "
                              f"{weight_map[missing[0]]}", path=model_dir)
    return Checkpoint(model_dir, files, tensors)
