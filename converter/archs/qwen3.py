"""Qwen 3 dense models (``Qwen3ForCausalLM``).

Like Qwen 2 without the Q/K/V biases, plus a per-head RMSNorm on queries and keys (``q_norm``/``k_norm``, one
weight of ``head_dim`` values each, applied before RoPE) and a ``head_dim`` decoupled from
``hidden_size / num_attention_heads`` (Qwen3-0.6B: 16 heads of 128 on a 1024 hidden size). The key/value lengths
come from ``head_dim``; the RoPE dimension count defaults to the key length in llama.cpp, so it is not written.
"""

from __future__ import annotations

import gguf

from .base import Architecture


class Qwen3(Architecture):
    """Qwen 3 dense models."""

    gguf_arch = gguf.MODEL_ARCH.QWEN3
    hf_architectures = ("Qwen3ForCausalLM",)

