"""Gemma 3 text models (``Gemma3ForCausalLM``, and the language model of ``Gemma3ForConditionalGeneration``).

On top of Gemma 2: per-head RMSNorms on queries and keys (``q_norm``/``k_norm``, stored as ``w - 1`` like every
Gemma norm), no attention soft-capping (final-logit capping only when configured), five local layers per global
one (llama.cpp's default period 6; other patterns, from ``layer_types`` or ``sliding_window_pattern``, are written
per layer), and two RoPE bases: ``rope_theta`` (1e6, global layers, with the linear ``rope_scaling`` of the 4B+
models) and ``rope_local_base_freq`` (1e4, local layers, never scaled).

The multimodal checkpoints keep the text settings under ``text_config`` (with many keys left to their defaults)
and prefix the language-model tensors with ``language_model.``; the vision tower and projector are not converted
(:class:`TextOfMultimodal`).
Their embedding has more rows (262208) than the tokenizer has pieces (262144); as llama.cpp's converter does,
the embedding (and an untied output projection) is cut to the vocabulary.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterator, Optional

import gguf

from ..hf.checkpoint import Checkpoint
from ..tokenizer.vocab import Vocab
from .base import PlannedTensor
from .gemma2 import Gemma2
from .multimodal import TextOfMultimodal

#: Gemma3TextConfig defaults that multimodal checkpoints leave out of ``text_config``.
TEXT_DEFAULTS: dict[str, Any] = {
    "max_position_embeddings": 131072, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
    "rms_norm_eps": 1e-6, "rope_theta": 1_000_000.0, "rope_local_base_freq": 10_000.0, "sliding_window": 4096,
    "query_pre_attn_scalar": 256, "tie_word_embeddings": True,
}


class Gemma3(TextOfMultimodal, Gemma2):
    """Gemma 3 (270M, 1B text-only; 4B, 12B, 27B language models)."""

    gguf_arch = gguf.MODEL_ARCH.GEMMA3
    hf_architectures = ("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration")
    tokenizer_kind = None  # tokenizer.model when present, else tokenizer.json (byte-level BPE)
    default_swa_period = 6
    output_is_embedding = False  # an untied lm_head is a real output projection here
    _n_vocab: Optional[int] = None  # set by adjust_vocab, which the pipeline calls before tensor_plan
    big_model_layers = 62
    text_defaults = TEXT_DEFAULTS

    @property
    def rope_parameters(self) -> dict[str, Any]:
        """The global layers' RoPE settings (newer configs nest them under ``full_attention``)."""
        params = super().rope_parameters
        full = params.get("full_attention")
        if isinstance(full, dict):
            params = dict(full)
            if "type" in params and "rope_type" not in params:
                params["rope_type"] = params["type"]
            params.setdefault("rope_theta", self.config["rope_theta"])
        return params

    def local_rope_theta(self) -> float:
        nested = (self.config.get("rope_parameters") or {}).get("sliding_attention")
        if isinstance(nested, dict) and nested.get("rope_theta") is not None:
            return float(nested["rope_theta"])
        return float(self.config["rope_local_base_freq"])

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        writer.add_rope_freq_base_swa(self.local_rope_theta())
        if cap := self.config.get("final_logit_softcapping"):
            writer.add_final_logit_softcapping(float(cap))
        if self.config.get("sliding_window_pattern") != 1:
            writer.add_sliding_window(int(self.hparam("sliding_window")))
            self.write_swa_pattern(writer)
        self.check_attention_scale()

    def adjust_vocab(self, vocab: Vocab) -> None:
        super().adjust_vocab(vocab)
        self._n_vocab = len(vocab)

    def tensor_plan(self, checkpoint: Checkpoint) -> Iterator[PlannedTensor]:
        n_vocab = self._n_vocab
        for planned in super().tensor_plan(checkpoint):
            if (n_vocab is not None and planned.name in ("token_embd.weight", "output.weight")
                    and planned.shape[0] > n_vocab):
                yield replace(planned, shape=(n_vocab, *planned.shape[1:]),
                              load=lambda load=planned.load: load()[:n_vocab])
            else:
                yield planned
