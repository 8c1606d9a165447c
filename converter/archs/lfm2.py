"""LFM2 (``Lfm2ForCausalLM``: Liquid AI's LFM2 and LFM2.5 350M-2.6B), a hybrid of short convolutions and attention.

Most layers (``layer_types`` "conv") mix tokens with a gated short convolution: ``conv.in_proj`` makes three
streams, a depthwise ``conv.conv`` of ``conv_L_cache`` taps runs over the sequence, and ``conv.out_proj`` maps
back; the other layers are grouped-query attention with per-head ``q_layernorm``/``k_layernorm`` and NeoX RoPE
(no Q/K permutation). The final norm is ``model.embedding_norm``.

As llama.cpp's converter does: ``attention.head_count_kv`` is written per layer (0 for convolution layers), the
depthwise kernel ``(n_embd, 1, L)`` is squeezed to ``(n_embd, L)`` and kept float32, ``shortconv.l_cache`` is
written, and the feed-forward length is the SwiGLU width LFM2 actually builds from ``block_ff_dim``
(``2/3`` of it, times ``block_ffn_dim_multiplier``, rounded up to ``block_multiple_of``, when
``block_auto_adjust_ff_dim``) at the place of config.json's ``intermediate_size``. ``norm_eps`` is the RMS epsilon.
Tokenizer: byte-level BPE (``tokenizer.json``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

import gguf

from ..hf.checkpoint import Checkpoint
from .base import Architecture, PlannedTensor


class Lfm2(Architecture):
    """LFM2 dense hybrid models."""

    gguf_arch = gguf.MODEL_ARCH.LFM2
    hf_architectures = ("Lfm2ForCausalLM", "LFM2ForCausalLM")
    tokenizer_kind = "bpe"

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        config = dict(config)
        if config.get("norm_eps") is not None:
            config["rms_norm_eps"] = config["norm_eps"]
        if (n_ff := config.get("block_ff_dim", config.get("intermediate_size"))) is not None:
            config["intermediate_size"] = _swiglu_width(int(n_ff), config)
        super().__init__(config, **kwargs)

    @property
    def layer_types(self) -> list[str]:
        """``"conv"`` or ``"full_attention"`` per layer."""
        return list(self.hparam("layer_types"))

    @property
    def head_count_kv_metadata(self) -> list[int]:
        return [0 if kind == "conv" else self.n_head_kv for kind in self.layer_types]

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        writer.add_vocab_size(int(self.hparam("vocab_size")))
        writer.add_shortconv_l_cache(int(self.hparam("conv_L_cache")))

    def plan_tensors(self, checkpoint: Checkpoint, hf_name: str) -> Iterable[PlannedTensor]:
        planned = self.plan_tensor(checkpoint, hf_name)
        if ".conv.conv." not in hf_name or len(planned.shape) != 3:
            return (planned,)
        rows, _, taps = planned.shape
        return (replace(planned, shape=(rows, taps), load=lambda load=planned.load: load().reshape(rows, taps)),)


def _swiglu_width(n_ff: int, config: dict[str, Any]) -> int:
    """The feed-forward width LFM2 builds from ``block_ff_dim`` (llama.cpp's converter's arithmetic)."""
    if not config.get("block_auto_adjust_ff_dim"):
        return n_ff
    n_ff = int(2 * n_ff / 3)
    if (multiplier := config.get("block_ffn_dim_multiplier")) is not None:
        n_ff = int(multiplier * n_ff)
    multiple = int(config["block_multiple_of"])
    return multiple * ((n_ff + multiple - 1) // multiple)
