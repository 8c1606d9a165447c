"""Quantization mixes: which GGML type each tensor gets for Q4_K_M, Q5_K_S, ...

A mix (:data:`converter.core.quant_types.MIXES`) names a default type (Q4_K for Q4_K_M) plus rules that give some
tensors more bits: the output matrix (and the token embeddings when they double as the output), ``attn_v`` and
``ffn_down`` in chosen layers, and so on.
Rows whose length is not a multiple of the chosen type's block fall back to a type with smaller blocks.

These rules reproduce llama.cpp's ``llama_tensor_get_type`` (src/llama-quant.cpp of the pinned llama-cpp-python)
for the mixes Kompakt offers, so that our file has exactly the tensor types ``llama-quantize`` would choose. Some
rules count tensors (the i-th ``attn_v`` seen): they depend on the order in which llama.cpp visits tensors, which
:func:`tensor_order_key` gives, and :func:`plan_types` visits tensors in that order whatever order it is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from .core.quant_types import FLOAT_TYPES, Mix, QType, get_mix
from .errors import QuantizationError
from .mix_rules import ATTN_V_LIKE, category, fallback_type, layer_of, mix_rule_type

# ---------------------------------------------------------------------------------------------------------------
# Model facts the rules look at
# ---------------------------------------------------------------------------------------------------------------

#: Architectures whose loader calls an 80-layer model "70B" (Llama only when it uses grouped-query attention).
_70B_LAYERS = {"llama": 80, "qwen2": 80, "deci": 80, "olmo": 80, "jais2": 68}


@dataclass(frozen=True)
class MixModelParams:
    """The hyper-parameters llama.cpp's mix rules depend on."""

    arch: str
    n_layer: int  # block_count, including any next-token-prediction layers
    n_head: int = 0
    n_head_kv: Optional[int] = None  # None: same as n_head
    n_expert: int = 0
    n_layer_nextn: int = 0

    @property
    def n_gqa(self) -> int:
        """Query heads per key/value head in layer 0 (0 when there are no KV heads)."""
        kv = self.n_head if self.n_head_kv is None else self.n_head_kv
        return self.n_head // kv if kv else 0

    @property
    def is_70b(self) -> bool:
        """True where llama.cpp's loader sets ``LLM_TYPE_70B`` (one rule gives such models' attn_v more bits)."""
        layers = _70B_LAYERS.get(self.arch)
        if layers is None or self.n_layer - self.n_layer_nextn != layers:
            return False
        if self.arch == "llama":
            kv = self.n_head if self.n_head_kv is None else self.n_head_kv
            return self.n_expert != 8 and self.n_head != kv
        return True

    @classmethod
    def from_metadata(cls, meta: Mapping[str, object]) -> "MixModelParams":
        """Build from GGUF metadata values (``general.architecture``, ``<arch>.block_count``, ...)."""
        arch = str(meta.get("general.architecture", ""))
        if not arch:
            raise QuantizationError("the GGUF metadata has no general.architecture")

        def first_int(key: str, default: Optional[int]) -> Optional[int]:
            value = meta.get(f"{arch}.{key}")
            if value is None:
                return default
            if isinstance(value, (list, tuple, np.ndarray)):  # per-layer arrays: llama.cpp's rules look at layer 0
                return int(value[0]) if len(value) else default
            return int(value)  # type: ignore[arg-type]

        n_layer = first_int("block_count", None)
        if n_layer is None:
            raise QuantizationError(f"the GGUF metadata has no {arch}.block_count")
        return cls(arch=arch, n_layer=n_layer, n_head=first_int("attention.head_count", 0) or 0,
                   n_head_kv=first_int("attention.head_count_kv", None),
                   n_expert=first_int("expert_count", 0) or 0,
                   n_layer_nextn=first_int("nextn_predict_layers", 0) or 0)


@dataclass(frozen=True)
class MixTensor:
    """A tensor as the rules see it: its name, its shape in GGML order (``shape[0]`` = row length), its type."""

    name: str
    shape: tuple[int, ...]
    type: QType

    @property
    def n_dims(self) -> int:
        """Dimensions without trailing ones, like ``ggml_n_dims``."""
        n = len(self.shape)
        while n > 1 and self.shape[n - 1] == 1:
            n -= 1
        return max(n, 1)


@dataclass(frozen=True)
class Override:
    """A user rule: tensors whose name matches ``pattern`` (regex search, like llama-quantize --tensor-type) get
    ``type`` instead of the mix's choice."""

    pattern: re.Pattern
    type: QType

    @classmethod
    def parse(cls, text: str) -> "Override":
        """Parse ``PATTERN=TYPE`` (``attn_v=q8_0``, ``blk\\.[0-3]\\.ffn_down=q6_k``)."""
        name, sep, qtype = text.rpartition("=")
        if not sep or not name:
            raise QuantizationError(f"malformed tensor type override {text!r} (expected PATTERN=TYPE)")
        try:
            pattern = re.compile(name.lower())
        except re.error as exc:
            raise QuantizationError(f"bad pattern in override {text!r}: {exc}") from None
        return cls(pattern, QType.parse(qtype))


# ---------------------------------------------------------------------------------------------------------------
# Which tensors may be quantized, and in which order llama.cpp visits them
# ---------------------------------------------------------------------------------------------------------------

# Substrings that keep a tensor in its source type (small or sensitive tensors of various architectures).
_NEVER_QUANTIZED = (
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
    "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
    "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
    "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
    "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
    "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
    "mm.a.code_embd",
)
_NEVER_QUANTIZED_GLM5_NEXT = (
    "hc_", "indexer.attn_q_b", "indexer.attn_k", "indexer.proj", "indexer_compressor_gate",
    "indexer_compressor_ape", "ssm_f_a.weight", "ssm_f_b.weight", "ssm_g_a.weight", "ssm_g_b.weight",
    "ssm_beta.weight", "attn_kv_a_mqa.weight", "attn_k_b.weight", "attn_v_b.weight",
)


def tensor_order_key(name: str) -> tuple[int, bytes]:
    """Sort key of llama.cpp's tensor map: block number (-1 outside blocks), then the name's bytes."""
    layer = layer_of(name)
    return (-1 if layer is None else layer, name.encode())


def allows_quantization(tensor: MixTensor, arch: str = "") -> bool:
    """Whether llama.cpp would quantize this tensor at all (2-D/3-D ``*weight`` tensors, minus norms and a list
    of small or sensitive tensors); the others keep their source type."""
    name = tensor.name
    if tensor.n_dims < 2 or not name.endswith("weight"):
        return False
    if name in ("position_embd.weight", "token_types.weight"):
        return False
    if any(s in name for s in _NEVER_QUANTIZED):
        return False
    if arch == "glm5-next" and any(s in name for s in _NEVER_QUANTIZED_GLM5_NEXT):
        return False
    return True


def plan_types(tensors: Iterable[MixTensor], mix: Mix | str, model: MixModelParams, *,
               overrides: Sequence[Override] = (), has_imatrix: bool = False,
               pure: bool = False) -> dict[str, QType]:
    """The GGML type of every tensor in a ``mix`` quantization: ``{name: type}``.

    ``overrides`` are tried in order and the first whose pattern is found in a tensor's name sets its type (for
    quantized mixes only, as in llama.cpp); ``has_imatrix`` switches the rules that depend on an importance matrix
    being given; ``pure`` skips the mix rules (every quantizable tensor gets the default type, with fallbacks).
    """
    mix = get_mix(mix) if isinstance(mix, str) else mix
    ordered = sorted(tensors, key=lambda t: tensor_order_key(t.name))
    names = [t.name for t in ordered]
    if len(set(names)) != len(names):
        raise QuantizationError("duplicate tensor names in the model")
    state = _State(model=model, mix=mix, has_imatrix=has_imatrix,
                   tied_embeddings="output.weight" not in names, n_layer=model.n_layer,
                   n_attention_wv=sum(category(n) in ATTN_V_LIKE for n in names))
    result: dict[str, QType] = {}
    for tensor in ordered:
        result[tensor.name] = _tensor_type(state, tensor, overrides, pure)
    return result


@dataclass
class _State:
    """Counters that llama.cpp keeps while it walks the tensors (``quantize_state_impl``)."""

    model: MixModelParams
    mix: Mix
    has_imatrix: bool
    tied_embeddings: bool
    n_layer: int
    n_attention_wv: int
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0
    n_fallback: int = 0


def _tensor_type(state: _State, tensor: MixTensor, overrides: Sequence[Override],
                 pure: bool) -> QType:
    if not allows_quantization(tensor, state.model.arch):
        return tensor.type
    new_type = state.mix.default
    if new_type in FLOAT_TYPES:
        return new_type
    manual = False
    for rule in overrides:
        if rule.pattern.search(tensor.name):
            new_type, manual = rule.type, True
            break
    if not manual and not pure:
        new_type = mix_rule_type(state, new_type, tensor)
    fallback = fallback_type(tensor.shape[0], new_type)
    if fallback != new_type:
        state.n_fallback += 1
    return fallback
