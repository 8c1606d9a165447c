"""Qwen 2 and Qwen 2.5 (``Qwen2ForCausalLM``).

The Llama graph with biases on the Q, K and V projections, NeoX-style RoPE (rotary halves kept apart, exactly as
Hugging Face stores them, so no Q/K row permutation), and usually tied embeddings on the small models.
llama.cpp's converter writes only the common hyperparameters for it (context, sizes, heads, RoPE base and YaRN
scaling, RMS epsilon); ``sliding_window`` / ``use_sliding_window`` are ignored by llama.cpp and not written.
"""

from __future__ import annotations

import gguf

from .base import Architecture


class Qwen2(Architecture):
    """Qwen 2 / 2.5 dense models."""

    gguf_arch = gguf.MODEL_ARCH.QWEN2
    hf_architectures = ("Qwen2ForCausalLM",)
