"""LFM2-MoE (``Lfm2MoeForCausalLM``: LFM2-8B-A1B, LFM2-24B-A2B), LFM2's convolution/attention hybrid with experts.

Everything of :class:`Lfm2` (per-layer ``head_count_kv``, squeezed float32 ``shortconv.conv``), but the first
``num_dense_layers`` keep a dense SwiGLU while the others route each token through ``num_experts_per_tok`` of
``num_experts`` experts: a float32 router ``feed_forward.gate``, a per-expert selection bias
``feed_forward.expert_bias`` (written as ``exp_probs_b.bias``) and experts ``w1``/``w2``/``w3`` stacked in that
order into ``ffn_gate_exps``/``ffn_down_exps``/``ffn_up_exps``. llama.cpp's converter writes the expert width,
the leading dense block count and sigmoid gating; the feed-forward length is config.json's ``intermediate_size``.
"""

from __future__ import annotations

import re

import gguf

from .lfm2 import Lfm2
from .moe import W123Experts


class Lfm2Moe(W123Experts, Lfm2):
    """LFM2 mixtures of experts."""

    gguf_arch = gguf.MODEL_ARCH.LFM2MOE
    hf_architectures = ("Lfm2MoeForCausalLM",)
    expert_pattern = re.compile(r"model\.layers\.(?P<bid>\d+)\.feed_forward\.experts\.(?P<xid>\d+)\."
                                r"(?P<part>w1|w2|w3)\.weight")

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        writer.add_expert_feed_forward_length(int(self.hparam("moe_intermediate_size")))
        writer.add_leading_dense_block_count(int(self.hparam("num_dense_layers")))
        writer.add_expert_gating_func(gguf.ExpertGatingFuncType.SIGMOID)
        super().write_arch_metadata(writer)

    def map_name(self, hf_name: str) -> str:
        if hf_name.endswith(".expert_bias"):
            hf_name += ".bias"
        return super().map_name(hf_name)
