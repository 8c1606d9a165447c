"""Mixtral (``MixtralForCausalLM``: Mixtral-8x7B, Mixtral-8x22B and their fine-tunes).

llama.cpp runs Mixtral as its ``llama`` architecture with experts: everything of :class:`Llama` (Q/K row
permutation, SentencePiece or BPE tokenizer, ``vocab_size`` and RoPE dimension keys) plus a router
``block_sparse_moe.gate`` (kept float32) and ``num_local_experts`` SwiGLU experts ``w1`` (gate), ``w2`` (down)
and ``w3`` (up), stacked per layer in that order into ``ffn_gate_exps``, ``ffn_down_exps`` and ``ffn_up_exps``.
"""

from __future__ import annotations

import re

from .llama import Llama
from .moe import W123Experts


class Mixtral(W123Experts, Llama):
    """Mixtral sparse mixtures of experts."""

    hf_architectures = ("MixtralForCausalLM",)
    expert_pattern = re.compile(r"model\.layers\.(?P<bid>\d+)\.block_sparse_moe\.experts\.(?P<xid>\d+)\."
                                r"(?P<part>w1|w2|w3)\.weight")

    @property
    def n_experts(self) -> int:
        return int(self.hparam("num_local_experts"))
