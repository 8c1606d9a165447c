"""Qwen3-MoE (``Qwen3MoeForCausalLM``: Qwen3-30B-A3B, Qwen3-235B-A22B, Qwen3-Coder-30B-A3B...).

Qwen 3's attention (per-head ``q_norm``/``k_norm``, ``head_dim`` apart from the hidden size, NeoX RoPE so no Q/K
permutation) with a mixture-of-experts MLP in every layer: a router ``mlp.gate`` (kept float32) picks
``num_experts_per_tok`` of ``num_experts`` SwiGLU experts, each of ``moe_intermediate_size``. llama.cpp's converter
(Qwen2MoeModel) stacks the experts in the order down, gate, up and writes ``expert_feed_forward_length``; the
``norm_topk_prob`` of the released models is what llama.cpp's qwen3moe graph always does, so it is not written.

Checkpoints saved by newer transformers keep the experts already stacked: ``mlp.experts.down_proj``
``(n_expert, n_embd, n_ff)`` is written as it is, and ``mlp.experts.gate_up_proj`` ``(n_expert, 2 * n_ff, n_embd)``
is cut into its gate (first half of the rows) and up halves, as llama.cpp's converter does.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

import gguf
import numpy as np

from ..errors import CheckpointError
from ..hf.checkpoint import Checkpoint
from .base import PlannedTensor
from .moe import ExpertStacking

_FUSED_SUFFIXES = (".mlp.experts.gate_up_proj", ".mlp.experts.down_proj")


class Qwen3Moe(ExpertStacking):
    """Qwen3 mixture-of-experts models."""

    gguf_arch = gguf.MODEL_ARCH.QWEN3MOE
    hf_architectures = ("Qwen3MoeForCausalLM",)
    tokenizer_kind = "bpe"
    expert_pattern = re.compile(r"model\.layers\.(?P<bid>\d+)\.mlp\.experts\.(?P<xid>\d+)\."
                                r"(?P<part>down_proj|gate_proj|up_proj)\.weight")
    expert_parts = ("down_proj", "gate_proj", "up_proj")

    def stacked_hf_name(self, bid: int, part: str) -> str:
        return f"model.layers.{bid}.mlp.experts.{part}.weight"

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        if (n_ff_exp := self.config.get("moe_intermediate_size")) is not None:
            writer.add_expert_feed_forward_length(int(n_ff_exp))
        if (n_ff_shexp := self.config.get("shared_expert_intermediate_size")) is not None:
            writer.add_expert_shared_feed_forward_length(int(n_ff_shexp))

    def plan_tensors(self, checkpoint: Checkpoint, hf_name: str) -> Iterable[PlannedTensor]:
        stem = hf_name.removesuffix(".weight")
        if not stem.endswith(_FUSED_SUFFIXES):
            return super().plan_tensors(checkpoint, hf_name)
        info = checkpoint.info(hf_name)
        if stem.endswith(".down_proj"):
            gguf_name = self.map_name(stem + ".weight")
            return (PlannedTensor(gguf_name, info.shape, self._loader(checkpoint, gguf_name, hf_name), (hf_name,),
                                  info.nbytes),)
        if len(info.shape) != 3 or info.shape[1] % 2:
            raise CheckpointError(f"tensor {hf_name!r} has shape {info.shape}, expected (experts, 2 * n_ff, n_embd)",
                                  path=self.path)
        n_ff = info.shape[1] // 2
        base = stem.removesuffix(".gate_up_proj")
        out = []
        for half, part in enumerate(("gate_proj", "up_proj")):
            gguf_name = self.map_name(f"{base}.{part}.weight")
            rows = slice(half * n_ff, (half + 1) * n_ff)
            out.append(PlannedTensor(gguf_name, (info.shape[0], n_ff, info.shape[2]),
                                     _rows(self._loader(checkpoint, gguf_name, hf_name), rows), (hf_name,),
                                     info.nbytes // 2))
        return out


def _rows(load: Callable[[], np.ndarray], rows: slice) -> Callable[[], np.ndarray]:
    def load_rows() -> np.ndarray:
        return np.ascontiguousarray(load()[:, rows, :])

    return load_rows
