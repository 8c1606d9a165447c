"""SmolLM3 (``SmolLM3ForCausalLM``: SmolLM3-3B).

The Llama graph (Q/K row permutation, ``vocab_size`` and RoPE dimension keys, Llama's tokenizer handling) under its
own GGUF architecture ``smollm3``: llama.cpp leaves RoPE out of every fourth layer itself (the ``no_rope_layers``
of config.json follow that interval on the released model), so llama.cpp's converter writes no extra key.
"""

from __future__ import annotations

import gguf

from .llama import Llama


class SmolLM3(Llama):
    """SmolLM3 dense models."""

    gguf_arch = gguf.MODEL_ARCH.SMOLLM3
    hf_architectures = ("SmolLM3ForCausalLM",)
