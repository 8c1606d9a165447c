"""Gemma 2 (``Gemma2ForCausalLM``).

On top of Gemma: four norms per block (``input_layernorm``, ``post_attention_layernorm`` -> ``post_attention_norm``,
``pre_feedforward_layernorm`` -> ``ffn_norm``, ``post_feedforward_layernorm`` -> ``post_ffw_norm``), soft-capping
of attention scores and of the final logits (``tanh(x / cap) * cap``), and sliding-window attention on every other
layer (layers 0, 2, 4, ... are local), which is llama.cpp's default pattern for this architecture.

llama.cpp derives the attention scale from the shapes (``1/sqrt(head_dim)``, or ``1/sqrt(hidden/heads)`` for the
46-layer 27B) and has no key for ``query_pre_attn_scalar``; a config whose scalar disagrees is converted with a
warning, because llama.cpp will compute that model slightly differently.
"""

from __future__ import annotations

import logging
import math

import gguf

from .gemma import Gemma

log = logging.getLogger(__name__)


class Gemma2(Gemma):
    """Gemma 2 (2B, 9B, 27B)."""

    gguf_arch = gguf.MODEL_ARCH.GEMMA2
    hf_architectures = ("Gemma2ForCausalLM",)
    #: llama.cpp's built-in sliding-window period for the architecture (``load_swa_pattern(ml, n)``).
    default_swa_period = 2
    #: Block count of the model whose attention scale llama.cpp takes from hidden/heads (Gemma 2 27B).
    big_model_layers = 46

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        super().write_arch_metadata(writer)
        writer.add_attn_logit_softcapping(float(self.hparam("attn_logit_softcapping", default=50.0)))
        writer.add_final_logit_softcapping(float(self.hparam("final_logit_softcapping", default=30.0)))
        writer.add_sliding_window(int(self.hparam("sliding_window", default=4096)))
        self.write_swa_pattern(writer)
        self.check_attention_scale()

    # -- sliding window -------------------------------------------------------------------------------------
    def swa_layers(self) -> list[bool]:
        """Per layer, True for sliding-window (local) attention, as config.json describes it."""
        types = self.config.get("layer_types")
        if isinstance(types, list) and len(types) == self.block_count:
            return [t == "sliding_attention" for t in types]
        period = int(self.hparam("sliding_window_pattern", default=self.default_swa_period))
        return self.swa_pattern(period)

    def swa_pattern(self, period: int) -> list[bool]:
        """llama.cpp's ``set_swa_pattern(period)``: every layer local except each ``period``-th."""
        return [period == 0 or i % period < period - 1 for i in range(self.block_count)]

    def write_swa_pattern(self, writer: gguf.GGUFWriter) -> None:
        """Write the per-layer pattern only where llama.cpp's default for the architecture would be wrong."""
        layers = self.swa_layers()
        if layers != self.swa_pattern(self.default_swa_period):
            writer.add_sliding_window_pattern(layers)

    # -- attention scale ------------------------------------------------------------------------------------
    def check_attention_scale(self) -> None:
        """Warn when ``query_pre_attn_scalar`` differs from the scale llama.cpp will use."""
        scalar = self.config.get("query_pre_attn_scalar")
        if scalar is None:
            return
        used = (self.embedding_length / self.n_head if self.block_count == self.big_model_layers
                else self.head_dim)
        if not math.isclose(float(scalar), float(used)):
            log.warning("%s: query_pre_attn_scalar=%s but llama.cpp scales attention by 1/sqrt(%s); "
                        "the converted model will compute slightly differently", self.name, scalar, used)
