"""Qwen3.5 mixture of experts (``Qwen3_5MoeForCausalLM``, and the text model of
``Qwen3_5MoeForConditionalGeneration``: Qwen3.5-35B-A3B, -122B-A10B, -397B-A17B).

Qwen3.5's hybrid layers, MTP block and tensor fixes (:class:`Qwen35`) with Qwen3-MoE's feed-forward in every
layer (:class:`Qwen3Moe`: a float32 router ``mlp.gate``, experts stacked down/gate/up, or an already stacked
``mlp.experts.gate_up_proj`` cut into gate and up), plus one shared expert (``mlp.shared_expert.*``) with its
float32 sigmoid gate ``mlp.shared_expert_gate``. Metadata, in llama.cpp's converter's order: the expert and
shared-expert widths, then Qwen3.5's keys.
"""

from __future__ import annotations

import gguf

from .qwen35 import Qwen35
from .qwen3moe import Qwen3Moe


class Qwen35Moe(Qwen35, Qwen3Moe):
    """Qwen3.5 hybrid mixtures of experts."""

    gguf_arch = gguf.MODEL_ARCH.QWEN35MOE
    hf_architectures = ("Qwen3_5MoeForCausalLM", "Qwen3_5MoeForConditionalGeneration")

    def expert_key(self, hf_name: str) -> str:
        return self._hf_name(hf_name)  # MTP experts match under their layer number after the decoder's

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        Qwen3Moe.write_arch_metadata(self, writer)
        Qwen35.write_arch_metadata(self, writer)

