"""Phi-3 and Phi-3.5 / Phi-4-mini (``Phi3ForCausalLM``).

The Llama block with fused projections, which llama.cpp keeps fused: ``qkv_proj`` (rows: all query heads, then
key heads, then value heads) becomes ``attn_qkv`` and ``gate_up_proj`` (gate rows, then up rows) becomes
``ffn_up`` of ``2 * intermediate_size`` rows, which llama.cpp's SwiGLU splits in the same order. RoPE is NeoX-style
(no permutation) over ``partial_rotary_factor * head_dim`` dimensions.

Long-context variants carry LongRoPE (``rope_scaling.type`` "longrope"/"su") per-frequency factors; they are
written as the generated ``rope_factors_long.weight`` / ``rope_factors_short.weight`` tensors together with the
attention factor ``sqrt(1 + ln(scale) / ln(original context))``; llama.cpp picks the long set when the context
is larger than ``original_max_position_embeddings``. ``sliding_window`` is written (0 when absent), though
llama.cpp currently disables sliding-window attention for Phi-3.

The metadata is exactly the set llama.cpp's Phi-3 converter writes (it does not use the common keys).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Optional

import gguf
import numpy as np

from ..errors import CheckpointError
from ..hf.checkpoint import Checkpoint
from .base import Architecture, PlannedTensor


class Phi3(Architecture):
    """Phi-3 mini/medium, Phi-3.5-mini, Phi-4-mini."""

    gguf_arch = gguf.MODEL_ARCH.PHI3
    hf_architectures = ("Phi3ForCausalLM",)
    tokenizer_kind = "sentencepiece"  # Phi-4-mini ships only tokenizer.json (byte-level BPE), read as such

    @property
    def original_context(self) -> int:
        rope = self.rope_parameters
        value = rope.get("original_max_position_embeddings", self.config.get("original_max_position_embeddings"))
        if value is None and not rope.get("long_factor"):  # early Phi-3 4k configs: nothing was extended
            value = self.hparam("max_position_embeddings", "n_positions")
        if value is None:
            raise CheckpointError("config.json lacks original_max_position_embeddings needed for phi3",
                                  path=self._config_path)
        return int(value)

    @property
    def rope_dims(self) -> int:
        factor = float(self.rope_parameters.get("partial_rotary_factor",
                                                self.config.get("partial_rotary_factor", 1.0)))
        return int(factor * self.embedding_length) // self.n_head

    def write_metadata(self, writer: gguf.GGUFWriter, file_type: Optional[int] = None) -> None:
        writer.add_context_length(int(self.hparam("max_position_embeddings", "n_positions")))
        writer.add_rope_scaling_orig_ctx_len(self.original_context)
        writer.add_embedding_length(self.embedding_length)
        writer.add_feed_forward_length(int(self.hparam("intermediate_size")))
        writer.add_block_count(self.block_count)
        writer.add_head_count(self.n_head)
        writer.add_head_count_kv(self.n_head_kv)
        writer.add_layer_norm_rms_eps(float(self.hparam("rms_norm_eps")))
        writer.add_rope_dimension_count(self.rope_dims)
        writer.add_rope_freq_base(float(self.rope_parameters.get("rope_theta", 10000.0)))
        if file_type is not None:
            writer.add_file_type(file_type)
        writer.add_sliding_window(int(self.config.get("sliding_window") or 0))
        if (attn_factor := self.longrope_attn_factor()) is not None:
            writer.add_rope_scaling_attn_factors(attn_factor)

    def longrope_attn_factor(self) -> float | None:
        """The cos/sin scale of LongRoPE (None when the model has no long-context factors)."""
        rope = self.rope_parameters
        if not rope.get("long_factor"):
            return None
        scale = int(self.hparam("max_position_embeddings", "n_positions")) / self.original_context
        kind = str(rope.get("rope_type", "")).lower()
        if kind in ("su", "longrope"):
            return math.sqrt(1 + math.log(scale) / math.log(self.original_context)) if scale > 1.0 else 1.0
        if kind == "yarn":
            return 0.1 * math.log(scale) + 1.0 if scale > 1.0 else 1.0
        raise CheckpointError(f"rope_scaling type {kind or 'missing'!r} with long_factor is not supported",
                              path=self._config_path)

    def extra_tensors(self, checkpoint: Checkpoint) -> Iterable[PlannedTensor]:
        rope = self.rope_parameters
        if not rope.get("long_factor"):
            return ()
        out = []
        for kind, key in ((gguf.MODEL_TENSOR.ROPE_FACTORS_LONG, "long_factor"),
                          (gguf.MODEL_TENSOR.ROPE_FACTORS_SHORT, "short_factor")):
            values = _factors(rope.get(key), key, self.rope_dims // 2, self._config_path)
            out.append(PlannedTensor(gguf.TENSOR_NAMES[kind] + ".weight", values.shape,
                                     lambda v=values: v))
        return out


def _factors(values: Any, key: str, n: int, path: Path | None) -> np.ndarray:
    if not isinstance(values, list) or len(values) != n:
        got = len(values) if isinstance(values, list) else "none"
        raise CheckpointError(f"rope_scaling.{key} must list {n} factors (got {got})", path=path)
    return np.asarray(values, dtype=np.float32)
