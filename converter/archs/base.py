"""The architecture interface: how one model family's ``config.json`` and weights become GGUF.

An :class:`Architecture` is built from a ``config.json`` dict. It knows its GGUF architecture name, writes its
hyperparameters as GGUF metadata (:meth:`Architecture.write_metadata`), and yields a *tensor plan*
(:meth:`Architecture.tensor_plan`): one :class:`PlannedTensor` per output tensor with its GGUF name, shape and a
loader returning the fixed-up float32 array. Nothing is read until a loader is called, so the pipeline holds one
tensor at a time.

Subclasses override the small hooks: :meth:`skip` (tensors to drop), :meth:`transform` (weight fixes such as
Llama's Q/K permutation or Gemma's norm +1), :meth:`extra_tensors` (generated tensors such as rope_freqs),
:meth:`write_arch_metadata` (architecture-specific keys), :meth:`keeps_f32` (tensors that stay float32) and
:meth:`adjust_vocab` (tokenizer fix-ups).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Optional, Sequence

import gguf
import numpy as np

from ..errors import CheckpointError
from ..hf.checkpoint import Checkpoint
from ..tokenizer.vocab import Vocab

_MISSING = object()

#: Router score functions in config.json -> the GGUF expert gating function.
_GATING_FUNCS = {"sigmoid": gguf.ExpertGatingFuncType.SIGMOID, "softmax": gguf.ExpertGatingFuncType.SOFTMAX}

#: HF tensors no architecture needs (rotary caches, attention masks stored as buffers).
IGNORED_SUFFIXES = (".rotary_emb.inv_freq", ".attention.masked_bias", ".attention.bias")

#: GGUF tensor kinds llama.cpp's converter always keeps in float32 (besides 1-D tensors and norms).
F32_TENSORS = (gguf.MODEL_TENSOR.FFN_GATE_INP, gguf.MODEL_TENSOR.FFN_GATE_INP_SHEXP, gguf.MODEL_TENSOR.POS_EMBD,
               gguf.MODEL_TENSOR.TOKEN_TYPES, gguf.MODEL_TENSOR.SSM_CONV1D, gguf.MODEL_TENSOR.SHORTCONV_CONV)


@dataclass(frozen=True)
class PlannedTensor:
    """One output tensor: GGUF ``name``, NumPy (row-major) ``shape``, and ``load()`` giving float32 data.

    ``sources`` names the checkpoint tensors it is made from (for progress and error messages); ``n_bytes_in``
    is how many bytes of the checkpoint it reads.
    """

    name: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]
    sources: tuple[str, ...] = ()
    n_bytes_in: int = 0


class Architecture:
    """Base class of every supported model family. Subclasses set :attr:`gguf_arch` and :attr:`hf_architectures`."""

    #: The GGUF architecture (``gguf.MODEL_ARCH.LLAMA``...).
    gguf_arch: ClassVar[gguf.MODEL_ARCH]
    #: HF ``architectures`` names this class handles (the registry reads these).
    hf_architectures: ClassVar[tuple[str, ...]] = ()
    #: Preferred tokenizer reader when several fit: "sentencepiece", "bpe", or None to decide from the files.
    tokenizer_kind: ClassVar[Optional[str]] = None

    def __init__(self, config: dict[str, Any], *, path: str | Path | None = None) -> None:
        self.config = config
        self.path = Path(path) if path is not None else None
        self.tensor_map = gguf.get_tensor_name_map(self.gguf_arch, self.block_count)

    # -- hyperparameters ------------------------------------------------------------------------------------
    def hparam(self, *keys: str, default: Any = _MISSING) -> Any:
        """The first of ``keys`` present (and not None) in config.json; ``default`` or a CheckpointError if none."""
        for key in keys:
            value = self.config.get(key)
            if value is not None:
                return value
        if default is not _MISSING:
            return default
        raise CheckpointError(f"config.json lacks {' / '.join(keys)} needed for {self.name}",
                              path=self._config_path)

    @property
    def _config_path(self) -> Optional[Path]:
        return self.path / "config.json" if self.path is not None else None

    @property
    def name(self) -> str:
        """The GGUF architecture name (``general.architecture``), e.g. ``"llama"``."""
        return gguf.MODEL_ARCH_NAMES[self.gguf_arch]

    @property
    def block_count(self) -> int:
        """Number of transformer blocks."""
        return int(self.hparam("num_hidden_layers", "n_layer", "num_layers"))

    @property
    def n_head(self) -> int:
        return int(self.hparam("num_attention_heads", "n_head", "n_heads"))

    @property
    def n_head_kv(self) -> int:
        return int(self.hparam("num_key_value_heads", "n_kv_heads", default=self.n_head))

    @property
    def head_count_kv_metadata(self) -> int | list[int]:
        """The ``attention.head_count_kv`` value: one count, or (hybrids) one per layer, 0 where no attention."""
        return self.n_head_kv

    @property
    def embedding_length(self) -> int:
        return int(self.hparam("hidden_size", "n_embd", "dim"))

    @property
    def head_dim(self) -> int:
        return int(self.hparam("head_dim", default=self.embedding_length // self.n_head))

    @property
    def tied_embeddings(self) -> bool:
        """True when the output projection reuses the token embedding (no ``output.weight`` is written)."""
        return bool(self.hparam("tie_word_embeddings", default=False))

    # -- metadata -------------------------------------------------------------------------------------------
    def write_metadata(self, writer: gguf.GGUFWriter, file_type: Optional[int] = None) -> None:
        """Write this model's hyperparameters (``<arch>.*`` keys) to ``writer``, and ``general.file_type`` where
        llama.cpp's converter puts it when ``file_type`` is given."""
        self.write_common_metadata(writer, file_type)
        self.write_arch_metadata(writer)

    def write_common_metadata(self, writer: gguf.GGUFWriter, file_type: Optional[int] = None) -> None:
        """The keys llama.cpp's converter writes for every text model (TextModel.set_gguf_parameters), in its
        order: ``general.file_type`` (when given) comes last, before the architecture's own keys."""
        writer.add_block_count(self.block_count)
        if (n_ctx := self.hparam("max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                 "max_sequence_length", "model_max_length", default=None)) is not None:
            writer.add_context_length(int(n_ctx))
        writer.add_embedding_length(self.embedding_length)
        if (n_ff := self.hparam("prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size",
                                "n_inner", "hidden_dim", default=None)) is not None:
            writer.add_feed_forward_length(int(n_ff))
        writer.add_head_count(self.n_head)
        if self.hparam("num_key_value_heads", "n_kv_heads", default=None) is not None:
            writer.add_head_count_kv(self.head_count_kv_metadata)
        if self.config.get("is_causal") is False:
            writer.add_causal_attention(False)
        self.write_rope_metadata(writer)
        if (eps := self.hparam("rms_norm_eps", "norm_eps", default=None)) is not None:
            writer.add_layer_norm_rms_eps(float(eps))
        if (eps := self.hparam("layer_norm_eps", "layer_norm_epsilon", "norm_epsilon", default=None)) is not None:
            writer.add_layer_norm_eps(float(eps))
        self.write_expert_metadata(writer)
        if (head_dim := self.config.get("head_dim")) is not None:
            writer.add_key_length(int(head_dim))
            writer.add_value_length(int(head_dim))
        if file_type is not None:
            writer.add_file_type(file_type)

    def write_expert_metadata(self, writer: gguf.GGUFWriter) -> None:
        """Mixture-of-experts counts and router gating, written whenever config.json has them (as llama.cpp)."""
        if (n_experts := self.hparam("num_local_experts", "num_experts", "n_routed_experts", default=None)) is not None:
            writer.add_expert_count(int(n_experts))
        if (n_used := self.hparam("num_experts_per_tok", "num_experts_per_token", "top_k_experts",
                                  default=None)) is not None:
            writer.add_expert_used_count(int(n_used))
        if (n_groups := self.config.get("n_group")) is not None:
            writer.add_expert_group_count(int(n_groups))
        if (n_groups_used := self.config.get("topk_group")) is not None:
            writer.add_expert_group_used_count(int(n_groups_used))
        score = self.hparam("score_function", "scoring_func", "score_func", "moe_router_activation",
                            "moe_router_activation_func", "expert_selection_fn", default=None)
        if score is not None:
            if score not in _GATING_FUNCS:
                raise CheckpointError(f"unsupported expert gating function {score!r}", path=self._config_path)
            writer.add_expert_gating_func(_GATING_FUNCS[score])

    @property
    def rope_parameters(self) -> dict[str, Any]:
        """RoPE settings merged from ``rope_scaling`` / ``rope_parameters`` and ``rope_theta``."""
        params = dict(self.config.get("rope_parameters") or self.config.get("rope_scaling") or {})
        if "type" in params and "rope_type" not in params:
            params["rope_type"] = params["type"]
        if "rope_theta" not in params and self.config.get("rope_theta") is not None:
            params["rope_theta"] = self.config["rope_theta"]
        return params

    def write_rope_metadata(self, writer: gguf.GGUFWriter) -> None:
        """RoPE scaling type/factor and frequency base, as llama.cpp's converter maps them."""
        rope = self.rope_parameters
        rope_type, factor = rope.get("rope_type"), rope.get("factor")
        if rope_type == "linear" and factor is not None:
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(float(factor))
        elif rope_type == "yarn" and factor is not None:
            writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            writer.add_rope_scaling_factor(float(factor))
            writer.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))
            attn = rope.get("attention_factor", rope.get("attn_factor"))
            for value, add in ((rope.get("extrapolation_factor"), writer.add_rope_scaling_yarn_ext_factor),
                               (attn, writer.add_rope_scaling_yarn_attn_factor),
                               (rope.get("beta_fast"), writer.add_rope_scaling_yarn_beta_fast),
                               (rope.get("beta_slow"), writer.add_rope_scaling_yarn_beta_slow)):
                if value is not None:  # llama.cpp's converter's order
                    add(float(value))
        elif rope_type in ("su", "longrope"):
            writer.add_rope_scaling_type(gguf.RopeScalingType.LONGROPE)
        if (sections := rope.get("mrope_section")) is not None:  # multimodal RoPE: [time, height, width, extra]
            writer.add_rope_dimension_sections(([int(n) for n in sections] + [0, 0, 0, 0])[:4])
        if rope.get("rope_theta") is not None:
            writer.add_rope_freq_base(float(rope["rope_theta"]))

    def write_arch_metadata(self, writer: gguf.GGUFWriter) -> None:
        """Architecture-specific keys (override). The base writes nothing."""

    def adjust_vocab(self, vocab: Vocab) -> None:
        """Architecture-specific tokenizer fix-ups, applied before the vocab is written (override)."""

    # -- tensors --------------------------------------------------------------------------------------------
    def skip(self, hf_name: str) -> bool:
        """True for checkpoint tensors that are not written (override to drop more)."""
        if hf_name.endswith(IGNORED_SUFFIXES):
            return True
        return self.tied_embeddings and hf_name in ("lm_head.weight", "model.lm_head.weight")

    def map_name(self, hf_name: str) -> str:
        """The GGUF name of checkpoint tensor ``hf_name``; CheckpointError if the architecture does not know it."""
        new = self.tensor_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise CheckpointError(f"tensor {hf_name!r} has no GGUF name for architecture {self.name}",
                                  path=self.path)
        return new

    def transform(self, gguf_name: str, hf_name: str, data: np.ndarray) -> np.ndarray:
        """Weight fixes applied to one float32 tensor after loading (override). The base returns it unchanged."""
        return data

    def extra_tensors(self, checkpoint: Checkpoint) -> Iterable[PlannedTensor]:
        """Generated tensors written before the checkpoint's (e.g. Llama 3's rope_freqs). None by default."""
        return ()

    def tensor_plan(self, checkpoint: Checkpoint) -> Iterator[PlannedTensor]:
        """Every output tensor in write order: generated ones, then the checkpoint's in its own order."""
        yield from self.extra_tensors(checkpoint)
        for hf_name in checkpoint:
            if not self.skip(hf_name):
                yield from self.plan_tensors(checkpoint, hf_name)

    def plan_tensors(self, checkpoint: Checkpoint, hf_name: str) -> Iterable[PlannedTensor]:
        """The output tensors made from checkpoint tensor ``hf_name`` alone: one, unless a family splits it."""
        return (self.plan_tensor(checkpoint, hf_name),)

    def plan_tensor(self, checkpoint: Checkpoint, hf_name: str) -> PlannedTensor:
        """The output tensor made from checkpoint tensor ``hf_name`` alone."""
        info = checkpoint.info(hf_name)
        gguf_name = self.map_name(hf_name)
        return PlannedTensor(gguf_name, info.shape, self._loader(checkpoint, gguf_name, hf_name), (hf_name,),
                             info.nbytes)

    def _loader(self, checkpoint: Checkpoint, gguf_name: str, hf_name: str) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            data = checkpoint.load(hf_name)
            if data.dtype != np.float32:
                data = data.astype(np.float32)
            return self.transform(gguf_name, hf_name, data)

        return load

    def keeps_f32(self, gguf_name: str, shape: Sequence[int]) -> bool:
        """True for tensors llama.cpp's converter always stores as float32 (1-D, norms, biases, routers...)."""
        if len(shape) <= 1 or gguf_name.endswith("_norm.weight") or not gguf_name.endswith(".weight"):
            return True
        return any(self._is(gguf_name, kind) for kind in F32_TENSORS)

    def _is(self, gguf_name: str, kind: gguf.MODEL_TENSOR) -> bool:
        """True if ``gguf_name`` is a tensor of ``kind`` (any block), e.g. ``blk.3.ffn_gate_inp.weight``."""
        template = gguf.TENSOR_NAMES[kind]
        stem = gguf_name.rsplit(".", 1)[0]
        if "{bid}" not in template:
            return stem == template
        prefix, _, suffix = template.partition("{bid}")
        middle = stem[len(prefix):len(stem) - len(suffix)] if stem.startswith(prefix) and stem.endswith(
            suffix) else ""
        return middle.isdecimal()
