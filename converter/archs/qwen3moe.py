"""Qwen3-MoE (``Qwen3MoeForCausalLM``: Qwen3-30B-A3B, Qwen3-235B-A22B, Qwen3-Coder-30B-A3B...).

Qwen 3's attention (per-head ``q_norm``/``k_norm``, ``head_dim`` apart from the hidden size, NeoX RoPE so no Q/K
permutation) with a mixture-of-experts MLP in every layer: a router ``mlp.gate`` (kept float32) picks
``num_experts_per_tok`` of ``num_experts`` SwiGLU experts, each of ``moe_intermediate_size``. llama.cpp's converter
(Qwen2MoeModel) stacks the experts in the order down, gate, up and writes ``expert_feed_forward_length``; the
``norm_topk_prob`` of the released models is what llama.cpp's qwen3moe graph always does, so it is not written.
"""

from __future__ import annotations

import re

import gguf

from .moe import ExpertStacking


class Qwen3Moe(ExpertStacking):
    """Qwen3 mixture-of-experts models."""

    gguf_arch = gguf.MODEL_ARCH.QWEN3MOE
    hf_architectures = ("Qwen3MoeForCausalLM",)
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
