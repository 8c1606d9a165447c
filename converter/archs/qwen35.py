"""Qwen3.5 dense (``Qwen3_5ForCausalLM``, and the text model of ``Qwen3_5ForConditionalGeneration``).

A hybrid: most layers (``layer_types`` "linear_attention") are Gated DeltaNet linear attention, every
``full_attention_interval``-th is gated full attention (``q_proj`` holds queries and their output gate; per-head
``q_norm``/``k_norm``; partial interleaved multimodal RoPE). A multi-token-prediction block (``mtp.*``) follows the
last layer. What llama.cpp's converter (Qwen3NextModel, _LinearAttentionVReorderBase) does, and so this module:

* ``block_count`` counts the ``mtp_num_hidden_layers`` MTP layers after the ``num_hidden_layers`` ones; their
  tensors are renamed into those layers (``mtp.fc`` -> ``nextn.eh_proj``, ``mtp.pre_fc_norm_embedding`` ->
  ``nextn.enorm``, ``mtp.pre_fc_norm_hidden`` -> ``nextn.hnorm``, ``mtp.norm`` -> ``nextn.shared_head_norm``),
  and ``nextn_predict_layers`` is written;
* ``A_log`` becomes ``A = -exp(A_log)``, ``dt_bias`` is ``ssm_dt.bias``, the depthwise ``conv1d`` kernel
  ``(channels, 1, K)`` is squeezed to ``(channels, K)`` (kept float32), and every RMSNorm weight except the
  DeltaNet output norm gets 1 added (Qwen3.5 stores ``w - 1``), all in float32;
* with fewer key heads than value heads, the value heads are reordered from grouped-by-key-head to tiled order
  (rows of ``in_proj_qkv``'s V part, ``in_proj_z``, ``in_proj_a``/``in_proj_b``, ``A_log``, ``dt_bias``, the V
  channels of ``conv1d``, and the columns of ``out_proj``);
* the SSM sizes, ``recurrent_layers``, ``full_attention_interval``, the rotated dimension
  (``head_dim * partial_rotary_factor``) and the RoPE sections (default ``[11, 11, 10, 0]``) are written.
"""

from __future__ import annotations

import re
from dataclasses import replace
import gguf
import numpy as np

from ..hf.checkpoint import Checkpoint
from .base import Architecture, PlannedTensor
from .multimodal import TextOfMultimodal

_MTP_RENAMES = {"fc": "eh_proj", "pre_fc_norm_embedding": "enorm", "pre_fc_norm_hidden": "hnorm",
                "norm": "shared_head.norm"}
_NEXTN = {"eh_proj": gguf.MODEL_TENSOR.NEXTN_EH_PROJ, "enorm": gguf.MODEL_TENSOR.NEXTN_ENORM,
          "hnorm": gguf.MODEL_TENSOR.NEXTN_HNORM, "shared_head.norm": gguf.MODEL_TENSOR.NEXTN_SHARED_HEAD_NORM}
_NEXTN_NAME = re.compile(r"model\.layers\.(?P<bid>\d+)\.(?P<part>eh_proj|enorm|hnorm|shared_head\.norm)\.weight")
_DEFAULT_SECTIONS = [11, 11, 10, 0]


class Qwen35(TextOfMultimodal, Architecture):
    """Qwen3.5 dense hybrid models."""

    gguf_arch = gguf.MODEL_ARCH.QWEN35
    hf_architectures = ("Qwen3_5ForCausalLM", "Qwen3_5ForConditionalGeneration")
    tokenizer_kind = "bpe"

    @property
    def n_text_layers(self) -> int:
        """Decoder layers before the MTP block."""
        return int(self.hparam("num_hidden_layers"))

    @property
    def block_count(self) -> int:
        return self.n_text_layers + int(self.hparam("mtp_num_hidden_layers", default=0))

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        if (n_mtp := self.block_count - self.n_text_layers) > 0:
            writer.add_nextn_predict_layers(n_mtp)
        n_v, d_v = int(self.hparam("linear_num_value_heads")), int(self.hparam("linear_value_head_dim"))
        writer.add_ssm_conv_kernel(int(self.hparam("linear_conv_kernel_dim")))
        writer.add_ssm_state_size(int(self.hparam("linear_key_head_dim")))
        writer.add_ssm_group_count(int(self.hparam("linear_num_key_heads")))
        writer.add_ssm_time_step_rank(n_v)
        writer.add_ssm_inner_size(d_v * n_v)
        if (layer_types := self.config.get("layer_types")) is not None:
            recurrent = [kind == "linear_attention" for kind in layer_types]
            recurrent += [False] * (self.block_count - len(recurrent))
            writer.add_array(f"{self.name}.attention.recurrent_layers", recurrent)
        writer.add_full_attention_interval(int(self.hparam("full_attention_interval", default=4)))
        rope = self.rope_parameters
        factor = rope.get("partial_rotary_factor", self.config.get("partial_rotary_factor", 0.25))
        writer.add_rope_dimension_count(int(self.head_dim * factor))
        if "mrope_section" not in rope:
            writer.add_rope_dimension_sections(_DEFAULT_SECTIONS)

    # -- tensors --------------------------------------------------------------------------------------------
    def _hf_name(self, hf_name: str) -> str:
        """The name llama.cpp's converter maps: MTP tensors moved into the layers after the decoder's."""
        name = hf_name.replace("language_model.", "").removeprefix("model.mtp.").removeprefix("mtp.")
        if name == hf_name.replace("language_model.", ""):
            return name.replace(".dt_bias", ".dt_proj.bias")
        parts = name.split(".", 2)
        if parts[0] == "layers" and len(parts) == 3 and parts[1].isdecimal():
            return f"model.layers.{self.n_text_layers + int(parts[1])}.{parts[2]}"
        stem, _, suffix = name.partition(".")
        return f"model.layers.{self.n_text_layers}.{_MTP_RENAMES.get(stem, stem)}.{suffix}"

    def map_name(self, hf_name: str) -> str:
        name = self._hf_name(hf_name)
        if (match := _NEXTN_NAME.fullmatch(name)) is not None:  # older gguf packages lack these mappings
            return gguf.TENSOR_NAMES[_NEXTN[match["part"]]].format(bid=int(match["bid"])) + ".weight"
        return super().map_name(name)

    def plan_tensor(self, checkpoint: Checkpoint, hf_name: str) -> PlannedTensor:
        planned = super().plan_tensor(checkpoint, hf_name)
        if ".conv1d." not in hf_name or len(planned.shape) != 3:
            return planned
        shape = (planned.shape[0], planned.shape[2])
        return replace(planned, shape=shape, load=lambda load=planned.load: load().reshape(shape))

    def transform(self, gguf_name: str, hf_name: str, data: np.ndarray) -> np.ndarray:
        data = self._reorder_v(hf_name, data)
        name = self._hf_name(hf_name)  # the MTP norms count by their new names (enorm, hnorm)
        if name.endswith(".A_log"):
            return -np.exp(data)
        if name.endswith("norm.weight") and not name.endswith("linear_attn.norm.weight"):
            return data + np.float32(1.0)
        return data

    def _reorder_v(self, hf_name: str, data: np.ndarray) -> np.ndarray:
        """Value heads from grouped-by-key-head to tiled order (only when there are fewer key than value heads)."""
        n_k, n_v = int(self.hparam("linear_num_key_heads", default=0)), int(self.hparam("linear_num_value_heads",
                                                                                      default=0))
        if not n_k or not n_v or n_k == n_v or "linear_attn." not in hf_name:
            return data
        d_k, d_v, per_k = int(self.hparam("linear_key_head_dim")), int(self.hparam("linear_value_head_dim")), n_v // n_k
        if ".in_proj_qkv." in hf_name or ".conv1d." in hf_name:
            qk = 2 * n_k * d_k
            return np.concatenate([data[:qk], _tile_heads(data[qk:], 0, n_k, per_k, d_v)])
        if ".in_proj_z." in hf_name:
            return _tile_heads(data, 0, n_k, per_k, d_v)
        if ".in_proj_a." in hf_name or ".in_proj_b." in hf_name or hf_name.endswith((".A_log", ".dt_bias")):
            return _tile_heads(data, 0, n_k, per_k, 1)
        if ".out_proj." in hf_name:
            return _tile_heads(data, 1, n_k, per_k, d_v)
        return data


def _tile_heads(data: np.ndarray, axis: int, n_k: int, per_k: int, head_dim: int) -> np.ndarray:
    shape = data.shape
    grouped = data.reshape(*shape[:axis], n_k, per_k, head_dim, *shape[axis + 1:])
    return np.ascontiguousarray(np.swapaxes(grouped, axis, axis + 1)).reshape(shape)
