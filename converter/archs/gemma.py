"""Gemma (``GemmaForCausalLM``): the base of the Gemma family.

Differences from Llama that the converter handles:

* Hugging Face stores every RMSNorm weight as ``w - 1`` and computes ``x * (1 + w)``; llama.cpp multiplies by the
  stored weight, so 1 is added to each ``*norm.weight`` on conversion (also Gemma 2/3's extra norms). The sum
  is taken in float32, as transformers computes ``1 + w.float()``; llama.cpp's converter adds in the checkpoint's
  dtype, so from bf16 checkpoints its norms are rounded to bf16 (up to 2^-8 relative) and differ from ours.
* The output projection is always the token embedding (llama.cpp's Gemma graph has no ``output.weight``), so a
  stray ``lm_head.weight`` (AutoAWQ leaves one) is dropped.
* The input embedding is scaled by ``sqrt(hidden_size)`` and the FFN is GeGLU (tanh GELU): both done by
  llama.cpp's graph, nothing to write.
* RoPE is NeoX-style (no Q/K permutation); ``head_dim`` (256) is decoupled from hidden/heads on Gemma 7B, so the
  key/value lengths are always written.
* The SentencePiece vocabulary adds no space prefix (``tokenizer.ggml.add_space_prefix = false``), and
  ``<end_of_turn>`` is the end-of-turn token (llama.cpp's converter hard-codes id 107, which is that token).
"""

from __future__ import annotations

import gguf
import numpy as np

from ..tokenizer.vocab import Vocab
from .base import Architecture


class Gemma(Architecture):
    """Gemma 1 (2B, 7B, CodeGemma)."""

    gguf_arch = gguf.MODEL_ARCH.GEMMA
    hf_architectures = ("GemmaForCausalLM",)
    tokenizer_kind = "sentencepiece"

    #: llama.cpp's Gemma 1/2 graphs have no ``output.weight``: the embedding is always the output projection.
    output_is_embedding = True

    @property
    def tied_embeddings(self) -> bool:
        return self.output_is_embedding or super().tied_embeddings

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        if self.config.get("head_dim") is None:  # the common keys write these only when config.json has head_dim
            writer.add_key_length(self.head_dim)
            writer.add_value_length(self.head_dim)

    def transform(self, gguf_name: str, hf_name: str, data: np.ndarray) -> np.ndarray:
        if hf_name.endswith("norm.weight"):
            return data + np.float32(1.0)
        return data

    def adjust_vocab(self, vocab: Vocab) -> None:
        if vocab.model == "llama":
            vocab.add_space_prefix = False
        ids = {text: i for i, text in enumerate(vocab.tokens) if text.startswith("<")}
        for role, text in (("eot", "<end_of_turn>"), ("fim_pre", "<|fim_prefix|>"), ("fim_suf", "<|fim_suffix|>"),
                           ("fim_mid", "<|fim_middle|>"), ("fim_sep", "<|file_separator|>")):
            if text in ids:
                vocab.special_ids.setdefault(role, ids[text])
