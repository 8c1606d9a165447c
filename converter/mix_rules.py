"""The per-tensor rules of llama.cpp's quantization mixes, for the mixes Kompakt offers.

Written from the behaviour of ``llama_tensor_get_type_impl`` and ``tensor_type_fallback`` in llama.cpp's
src/llama-quant.cpp (pinned llama-cpp-python 0.3.36). :mod:`converter.mixes` drives them: it keeps the counters
in a state object (attributes ``model``, ``mix``, ``has_imatrix``, ``tied_embeddings``, ``n_layer``,
``n_attention_wv``, ``i_attention_wv``, ``i_ffn_down``, ``i_ffn_gate``, ``i_ffn_up``) and calls
:func:`mix_rule_type` for each quantizable tensor in llama.cpp's visiting order.
"""

from __future__ import annotations

import re
from enum import Enum, auto
from typing import Any, Optional

from .core.quant_types import QType
from .errors import QuantizationError

T = QType


class Category(Enum):
    """Broad tensor roles the rules distinguish (not a per-architecture name table)."""

    TOKEN_EMBD = auto()
    ATTENTION_Q = auto()
    ATTENTION_V = auto()
    ATTENTION_K = auto()
    ATTENTION_QKV = auto()
    ATTENTION_KV_B = auto()
    ATTENTION_OUTPUT = auto()
    FFN_UP = auto()
    FFN_GATE = auto()
    FFN_DOWN = auto()
    OUTPUT = auto()
    OTHER = auto()


#: Roles treated like attn_v (more bits in several mixes); the fused QKV matrix counts as one of them.
ATTN_V_LIKE = frozenset({Category.ATTENTION_V, Category.ATTENTION_QKV, Category.ATTENTION_KV_B})

# Checked in this order: the first substring found decides.
_CATEGORY_SUBSTRINGS = (
    ("attn_qkv.weight", Category.ATTENTION_QKV),
    ("attn_kv_b.weight", Category.ATTENTION_KV_B),
    ("attn_v.weight", Category.ATTENTION_V),
    ("attn_k.weight", Category.ATTENTION_K),
    ("attn_q.weight", Category.ATTENTION_Q),
    ("attn_output.weight", Category.ATTENTION_OUTPUT),
    ("ffn_up", Category.FFN_UP),
    ("ffn_gate", Category.FFN_GATE),
    ("ffn_down", Category.FFN_DOWN),
)


def category(name: str) -> Category:
    """The role of the tensor called ``name``."""
    if name == "output.weight":
        return Category.OUTPUT
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return Category.TOKEN_EMBD
    for sub, cat in _CATEGORY_SUBSTRINGS:
        if sub in name:
            return cat
    return Category.OTHER


_LAYER = re.compile(r"blk\.\s*([+-]?\d+)")


def layer_of(name: str) -> Optional[int]:
    """The block number in ``blk.<n>.…`` names (parsed like C's ``sscanf("blk.%d.")``), else None."""
    m = _LAYER.match(name)
    return int(m.group(1)) if m else None


# Where a row does not hold a whole number of blocks, a 256-weight K-type falls back to a 32-weight type.
_FALLBACK = {
    T.Q2_K: T.Q4_0, T.Q3_K: T.Q4_0, T.TQ1_0: T.Q4_0, T.TQ2_0: T.Q4_0,
    T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0,
    T.IQ1_S: T.IQ4_NL, T.IQ1_M: T.IQ4_NL, T.IQ2_XXS: T.IQ4_NL, T.IQ2_XS: T.IQ4_NL, T.IQ2_S: T.IQ4_NL,
    T.IQ3_XXS: T.IQ4_NL, T.IQ3_S: T.IQ4_NL, T.IQ4_XS: T.IQ4_NL,
}


def fallback_type(n_per_row: int, qtype: QType) -> QType:
    """``qtype`` if rows of ``n_per_row`` fit it, else llama.cpp's fallback (F16 when nothing smaller fits)."""
    if n_per_row % qtype.block_elements == 0:
        return qtype
    if qtype in _FALLBACK:
        result = _FALLBACK[qtype]
    elif qtype.block_elements <= 32:
        result = qtype
    else:
        raise QuantizationError(f"no fallback type is defined for {qtype.name} (rows of {n_per_row})")
    return result if n_per_row % result.block_elements == 0 else T.F16


def _c_mod(a: int, b: int) -> int:
    """C's ``%`` (the result takes the sign of the dividend)."""
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """The first and last eighth of the layers, and every third layer between them."""
    return (i_layer < n_layers // 8 or i_layer >= 7 * n_layers // 8
            or _c_mod(i_layer - n_layers // 8, 3) == 2)


def _layer_info(qs: Any, counter: int, name: str) -> tuple[int, int]:
    """(layer index, layer count) for ffn rules: the running counter, or for MoE models the name's block number."""
    n_layer = qs.n_layer
    if max(1, qs.model.n_expert) > 1:
        layer = layer_of(name)
        if layer is None:
            raise QuantizationError(f"cannot determine the layer of tensor {name}")
        if not 0 <= layer < n_layer:
            raise QuantizationError(f"bad layer {layer} for tensor {name}: must be in [0, {n_layer})")
        return layer, n_layer
    return counter, n_layer


def mix_rule_type(qs: Any, new_type: QType, tensor: Any) -> QType:
    """Apply the mix's rules to one quantizable tensor (``tensor.name``, ``tensor.shape``); updates counters."""
    name: str = tensor.name
    model = qs.model
    arch: str = model.arch
    mix: str = qs.mix.name
    cat = category(name)
    falcon = arch == "falcon"

    if arch == "glm5-next" and any(s in name for s in ("attn_q_a", "attn_q_b", "nextn.eh_proj")):
        return T.Q8_0

    if cat == Category.OUTPUT or (qs.tied_embeddings and cat == Category.TOKEN_EMBD):
        if falcon or tensor.shape[0] % new_type.block_elements != 0:
            new_type = T.Q8_0
        elif new_type != T.Q8_0:
            new_type = T.Q6_K
    elif cat == Category.TOKEN_EMBD:
        pass  # only the IQ/TQ mixes, which Kompakt does not offer, change untied token embeddings
    elif cat in ATTN_V_LIKE:
        new_type = _attn_v_type(qs, mix, new_type)
        qs.i_attention_wv += 1
    elif cat == Category.ATTENTION_K:
        if model.n_expert == 8:
            new_type = T.Q8_0
    elif cat == Category.FFN_DOWN:
        i_layer, n_layer = _layer_info(qs, qs.i_ffn_down, name)
        new_type = _ffn_down_type(qs, mix, new_type, i_layer, n_layer, falcon)
        qs.i_ffn_down += 1
    elif cat == Category.ATTENTION_OUTPUT:
        new_type = _attn_output_type(model.n_expert, mix, new_type, falcon)
    elif cat == Category.FFN_GATE:
        _layer_info(qs, qs.i_ffn_gate, name)  # only the IQ3_XS mix changes ffn_gate; the check still applies
        qs.i_ffn_gate += 1
    elif cat == Category.FFN_UP:
        _layer_info(qs, qs.i_ffn_up, name)
        qs.i_ffn_up += 1
    return new_type


def _attn_v_type(qs: Any, mix: str, new_type: QType) -> QType:
    model = qs.model
    if mix == "Q2_K":
        new_type = T.Q4_K if model.n_gqa >= 4 else T.Q3_K
    elif mix == "Q3_K_M":
        new_type = T.Q5_K if qs.i_attention_wv < 2 else T.Q4_K
    elif mix == "Q3_K_L":
        new_type = T.Q5_K
    elif mix in ("Q4_K_M", "Q5_K_M") and use_more_bits(qs.i_attention_wv, qs.n_attention_wv):
        new_type = T.Q6_K
    elif mix == "Q4_K_S" and qs.i_attention_wv < 4:
        new_type = T.Q5_K
    if model.is_70b and new_type in (T.Q3_K, T.Q4_K):
        new_type = T.Q5_K  # 8 query heads share each attn_v in the 70B models: more bits cost little
    if model.n_expert == 8:
        new_type = T.Q8_0
    return new_type


def _ffn_down_type(qs: Any, mix: str, new_type: QType, i_layer: int, n_layer: int,
                   falcon: bool) -> QType:
    if mix == "Q2_K":
        return T.Q3_K
    if mix == "Q3_K_M":
        if i_layer < n_layer // 16:
            return T.Q5_K
        return T.Q4_K if not falcon or use_more_bits(i_layer, n_layer) else T.Q3_K
    if mix == "Q3_K_L":
        return T.Q4_K if falcon else T.Q5_K
    if mix == "Q4_K_M":
        if falcon:
            if i_layer < n_layer // 16:
                return T.Q6_K
            return T.Q5_K if use_more_bits(i_layer, n_layer) else T.Q4_K
        return T.Q6_K if use_more_bits(i_layer, n_layer) else new_type
    if mix == "Q5_K_M" and use_more_bits(i_layer, n_layer):
        return T.Q6_K
    if mix == "Q4_K_S" and not falcon and i_layer < n_layer // 8:
        return T.Q5_K
    if mix in ("Q4_0", "Q5_0") and qs.has_imatrix and i_layer < n_layer // 8:
        # guards the first ffn_down layers; only with an imatrix, so that plain Q4_0/Q5_0 never changes
        return T.Q4_1 if mix == "Q4_0" else T.Q5_1
    return new_type


_ATTN_OUTPUT_MOE8_Q5K = frozenset({"Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"})
_ATTN_OUTPUT = {"Q2_K": T.Q3_K, "Q3_K_M": T.Q4_K, "Q3_K_L": T.Q5_K}


def _attn_output_type(n_expert: int, mix: str, new_type: QType,
                      falcon: bool) -> QType:
    if falcon:
        return T.Q4_K if mix == "Q3_K_L" else new_type
    if n_expert == 8:
        return T.Q5_K if mix in _ATTN_OUTPUT_MOE8_Q5K else new_type
    return _ATTN_OUTPUT.get(mix, new_type)
