"""Mistral 3 text models (``Mistral3ForConditionalGeneration``: Mistral Small 3.1/3.2, Ministral 3, Magistral
Small; and the text-only ``Ministral3ForCausalLM``).

llama.cpp's converter writes these as its ``mistral3`` architecture with everything of :class:`Llama` (Q/K row
permutation, ``vocab_size`` and RoPE dimension keys, the tokenizer from ``tokenizer.json``). The text settings
come from ``text_config`` and the vision tower and projector are left out (:class:`TextOfMultimodal`). Ministral 3
(``text_config.model_type == "ministral3"``) uses YaRN RoPE and adds two keys from its ``rope_parameters``:
``mscale_all_dim`` as the YaRN log multiplier and ``llama_4_scaling_beta`` as the attention temperature scale.
Mistral Small 4 (``model_type == "mistral4"``) is a DeepSeek-V2-style MoE, which Kompakt does not convert.
"""

from __future__ import annotations

from typing import Any

import gguf

from ..errors import CheckpointError, UnsupportedArchitectureError
from .llama import Llama
from .multimodal import TextOfMultimodal


class Mistral3(TextOfMultimodal, Llama):
    """Mistral 3 dense text models."""

    gguf_arch = gguf.MODEL_ARCH.MISTRAL3
    hf_architectures = ("Mistral3ForConditionalGeneration", "Ministral3ForCausalLM")

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        if self.config.get("model_type") == "mistral4":
            raise UnsupportedArchitectureError("Mistral3ForConditionalGeneration with model_type 'mistral4' "
                                               "(Mistral Small 4, a DeepSeek-V2-style MoE)", path=self.path)

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        super().write_arch_metadata(writer)
        if self.config.get("model_type") != "ministral3":
            return
        rope = self.rope_parameters
        if rope.get("rope_type") != "yarn" or "mscale_all_dim" not in rope or "llama_4_scaling_beta" not in rope:
            raise CheckpointError("ministral3 needs yarn rope_parameters with mscale_all_dim and "
                                  "llama_4_scaling_beta", path=self._config_path)
        writer.add_rope_scaling_yarn_log_mul(float(rope["mscale_all_dim"]))
        writer.add_attn_temperature_scale(float(rope["llama_4_scaling_beta"]))
