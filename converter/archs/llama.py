"""Llama family: Llama 2/3, Mistral, SmolLM/SmolLM2, TinyLlama (``LlamaForCausalLM``, ``MistralForCausalLM``).

Weight fix: llama.cpp applies rotary embedding to interleaved (even, odd) pairs while Hugging Face checkpoints keep
the two rotary halves apart, so the rows of Q and K (weights and biases) are permuted per head:
within each head, row ``h * d + i`` of the HF layout moves to ``h * d + 2 * i`` for the first half and
``h * d + 2 * (i - d/2) + 1`` for the second. K uses the KV head count.

Llama 3's ``rope_type: llama3`` scaling is written as a generated ``rope_freqs.weight`` tensor of per-frequency
factors, as llama.cpp's converter does.
"""

from __future__ import annotations

import math
from typing import Iterable

import gguf
import numpy as np

from ..hf.checkpoint import Checkpoint
from ..tokenizer.vocab import Vocab
from .base import Architecture, PlannedTensor


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a Q or K projection (or bias) from HF's split-halves rotary layout to llama.cpp's."""
    rows = w.shape[0]
    return np.ascontiguousarray(
        w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape))


class Llama(Architecture):
    """Llama and the models that share its graph."""

    gguf_arch = gguf.MODEL_ARCH.LLAMA
    hf_architectures = ("LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM")

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        writer.add_vocab_size(int(self.hparam("vocab_size")))
        writer.add_rope_dimension_count(self.head_dim)

    def adjust_vocab(self, vocab: Vocab) -> None:
        if isinstance(prefix := vocab.tokenizer_config.get("add_prefix_space"), bool):
            vocab.add_space_prefix = prefix
        # llama.cpp's converter: the Granite/SmolLM vocabulary of 49152 tokens does not add a BOS token.
        if int(self.hparam("vocab_size", default=len(vocab))) == 49152:
            vocab.add_special["bos"] = False

    def transform(self, gguf_name: str, hf_name: str, data: np.ndarray) -> np.ndarray:
        if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            return permute_qk(data, self.n_head)
        if hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            return permute_qk(data, self.n_head_kv)
        return data

    def extra_tensors(self, checkpoint: Checkpoint) -> Iterable[PlannedTensor]:
        rope = self.rope_parameters
        if str(rope.get("rope_type", "")).lower() != "llama3":
            return ()
        factors = llama3_rope_factors(
            base=float(rope.get("rope_theta", 10000.0)), dim=self.head_dim, factor=float(rope.get("factor", 8.0)),
            low_freq_factor=float(rope.get("low_freq_factor", 1.0)),
            high_freq_factor=float(rope.get("high_freq_factor", 4.0)),
            old_context_len=int(rope.get("original_max_position_embeddings", 8192)))
        name = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight"
        return (PlannedTensor(name, factors.shape, lambda: factors),)


def llama3_rope_factors(*, base: float, dim: int, factor: float, low_freq_factor: float, high_freq_factor: float,
                        old_context_len: int) -> np.ndarray:
    """Per-frequency RoPE divisors of Llama 3.1's long-context scaling (float32, ``dim // 2`` values)."""
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / np.float32(dim)))
    low_wavelen = old_context_len / low_freq_factor
    high_wavelen = old_context_len / high_freq_factor
    out = []
    for freq in freqs.astype(np.float64):
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, dtype=np.float32)
