"""Mixture-of-experts checkpoints: one 2-D tensor per expert -> one 3-D ``ffn_*_exps`` tensor per layer.

Hugging Face MoE checkpoints (Qwen3-MoE, Mixtral, OLMoE...) store every expert's projections apart, e.g.
``model.layers.3.mlp.experts.17.gate_proj.weight``. llama.cpp keeps all experts of a layer in one tensor of shape
``(n_expert, rows, cols)`` (``blk.3.ffn_gate_exps.weight``), stacked in expert order. Like llama.cpp's converter,
a layer's stacked tensors are written where the last of its expert tensors appears in the checkpoint, one per
projection in the family's order (:attr:`ExpertStacking.expert_parts`).
"""

from __future__ import annotations

import re
from typing import Callable, ClassVar, Iterator

import numpy as np

from ..errors import CheckpointError
from ..hf.checkpoint import Checkpoint
from .base import Architecture, PlannedTensor


class ExpertStacking(Architecture):
    """An architecture whose per-expert checkpoint tensors are stacked into ``ffn_*_exps`` tensors."""

    #: Matches one expert's tensor; named groups ``bid`` (layer), ``xid`` (expert) and ``part`` (projection).
    expert_pattern: ClassVar[re.Pattern[str]]
    #: Projection names (the ``part`` group) in the order llama.cpp's converter writes the stacked tensors.
    expert_parts: ClassVar[tuple[str, ...]]

    @property
    def n_experts(self) -> int:
        """Routed experts per layer."""
        return int(self.hparam("num_local_experts", "num_experts"))

    def stacked_hf_name(self, bid: int, part: str) -> str:
        """The checkpoint-style name the stacked tensor is mapped from (override per family)."""
        raise NotImplementedError

    def expert_key(self, hf_name: str) -> str:
        """The name :attr:`expert_pattern` is matched against (a family that renames layers overrides this)."""
        return hf_name

    def tensor_plan(self, checkpoint: Checkpoint) -> Iterator[PlannedTensor]:
        yield from self.extra_tensors(checkpoint)
        pending: dict[int, dict[tuple[int, str], str]] = {}
        per_layer = self.n_experts * len(self.expert_parts)
        for hf_name in checkpoint:
            if self.skip(hf_name):
                continue
            match = self.expert_pattern.fullmatch(self.expert_key(hf_name))
            if match is None:
                yield from self.plan_tensors(checkpoint, hf_name)
                continue
            bid, xid, part = int(match["bid"]), int(match["xid"]), match["part"]
            if xid >= self.n_experts or part not in self.expert_parts:
                raise CheckpointError(f"tensor {hf_name!r} is not one of the {self.n_experts} experts' "
                                      f"{'/'.join(self.expert_parts)} projections", path=self.path)
            layer = pending.setdefault(bid, {})
            layer[(xid, part)] = hf_name
            if len(layer) == per_layer:
                del pending[bid]
                for part in self.expert_parts:
                    yield self._stacked(checkpoint, bid, part, [layer[(x, part)] for x in range(self.n_experts)])
        if pending:
            bid, layer = next(iter(pending.items()))
            raise CheckpointError(f"layer {bid} has {len(layer)} of its {per_layer} expert tensors",
                                  path=self.path)

    def _stacked(self, checkpoint: Checkpoint, bid: int, part: str, sources: list[str]) -> PlannedTensor:
        infos = [checkpoint.info(name) for name in sources]
        shapes = {info.shape for info in infos}
        if len(shapes) != 1:
            raise CheckpointError(f"layer {bid}'s experts have different {part} shapes {sorted(shapes)}",
                                  path=self.path)
        hf_name = self.stacked_hf_name(bid, part)
        gguf_name = self.map_name(hf_name)
        loaders = [self._loader(checkpoint, gguf_name, name) for name in sources]
        return PlannedTensor(gguf_name, (len(sources), *infos[0].shape), _stack(loaders), tuple(sources),
                             sum(info.nbytes for info in infos))


class W123Experts(ExpertStacking):
    """Experts named ``...experts.<x>.w1/w2/w3`` (gate, down, up; Mixtral, LFM2-MoE), stacked in that order and
    mapped through the name ``layers.<bid>.feed_forward.experts.w1`` llama.cpp's converter gives the stack."""

    expert_parts = ("w1", "w2", "w3")

    def stacked_hf_name(self, bid: int, part: str) -> str:
        return f"layers.{bid}.feed_forward.experts.{part}.weight"


def _stack(loaders: list[Callable[[], np.ndarray]]) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        return np.stack([load_one() for load_one in loaders])

    return load
