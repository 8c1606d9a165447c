"""OLMo 2 and OLMo 3 (``Olmo2ForCausalLM``, ``Olmo3ForCausalLM``).

A Llama-like decoder with the norms moved after the blocks: no ``input_layernorm``, but
``post_attention_layernorm`` and ``post_feedforward_layernorm`` on each block's output, and RMSNorms over the whole
Q and K projections (``q_norm`` of ``n_head * head_dim`` values, ``k_norm`` of ``n_head_kv * head_dim``). RoPE is
NeoX-style, so no Q/K row permutation. OLMo 3 adds sliding-window attention: llama.cpp's converter writes the
window and a per-layer pattern from ``layer_types`` (or every fourth layer global when that is missing) whenever
config.json has a ``sliding_window`` key. Tokenizer: byte-level BPE (``tokenizer.json``).
"""

from __future__ import annotations

import gguf

from ..errors import CheckpointError
from .base import Architecture


class Olmo2(Architecture):
    """OLMo 2 / OLMo 3 dense models."""

    gguf_arch = gguf.MODEL_ARCH.OLMO2
    hf_architectures = ("Olmo2ForCausalLM", "Olmo3ForCausalLM")
    tokenizer_kind = "bpe"

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        if "sliding_window" not in self.config:
            return
        window = self.config["sliding_window"]
        if not isinstance(window, int):
            raise CheckpointError(f"sliding_window must be a number of tokens, not {window!r}",
                                  path=self._config_path)
        writer.add_sliding_window(window)
        if (layer_types := self.config.get("layer_types")) is not None:
            pattern = [kind == "sliding_attention" for kind in layer_types]
        else:
            pattern = [(i + 1) % 4 != 0 for i in range(self.block_count)]
        writer.add_sliding_window_pattern(pattern)
