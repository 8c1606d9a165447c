"""Which ggml type each tensor gets for a target quantization (Q4_K_M, Q8_0, ...).

The real rules live in ``converter.recipes`` (the quantizer's recipe: llama.cpp's llama-quant.cpp rules and
fallbacks). Until that module is merged, :func:`tensor_types` falls back to ``_placeholder_types``, a
deliberately small PLACEHOLDER that follows the main llama.cpp rules only (1-D tensors F32; output/tied
embedding Q6_K; Q4_K_M/Q5_K_M give attn_v and ffn_down Q6_K on llama.cpp's "more bits" layers; K-quant rows not a
multiple of 256 fall back to Q5_0/Q5_1/Q8_0/IQ4_NL). It is the one place to replace.
"""

from __future__ import annotations

import logging
from typing import Sequence

from gguf.constants import GGMLQuantizationType as T

from .ggml_types import block_size

log = logging.getLogger(__name__)

#: Base type of each llama.cpp file type the placeholder knows.
BASE_TYPES = {
    "F32": T.F32, "F16": T.F16, "BF16": T.BF16, "Q8_0": T.Q8_0, "Q4_0": T.Q4_0, "Q4_1": T.Q4_1, "Q5_0": T.Q5_0,
    "Q5_1": T.Q5_1, "Q2_K": T.Q2_K, "Q3_K_S": T.Q3_K, "Q3_K_M": T.Q3_K, "Q3_K_L": T.Q3_K, "Q4_K_S": T.Q4_K,
    "Q4_K_M": T.Q4_K, "Q5_K_S": T.Q5_K, "Q5_K_M": T.Q5_K, "Q6_K": T.Q6_K,
}
_FALLBACK = {T.Q2_K: T.IQ4_NL, T.Q3_K: T.IQ4_NL, T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0}


def tensor_types(quant: str, arch: str, n_layer: int,
                 tensors: Sequence[tuple[str, tuple[int, ...]]]) -> dict[str, T]:
    """Map GGUF tensor names (with ggml shapes) to the ggml type a ``quant`` file would store them in."""
    quant = quant.upper()
    try:  # the real recipe, once the `recipes` branch is merged
        from converter import recipes  # type: ignore[attr-defined]

        return recipes.tensor_types(quant, arch, n_layer, tensors)
    except (ImportError, AttributeError):
        log.debug("converter.recipes not available: using the placeholder recipe")
    return _placeholder_types(quant, n_layer, tensors)


def _more_bits(il: int, n_layer: int) -> bool:
    return il < n_layer // 8 or il >= 7 * n_layer // 8 or (il - n_layer // 8) % 3 == 2


def _placeholder_types(quant: str, n_layer: int, tensors: Sequence[tuple[str, tuple[int, ...]]]) -> dict[str, T]:
    if quant not in BASE_TYPES:
        raise ValueError(f"unknown quantization type {quant!r} (known: {', '.join(BASE_TYPES)})")
    base = BASE_TYPES[quant]
    names = {n for n, _ in tensors}
    tied = "output.weight" not in names
    quantized = block_size(base) > 1
    out: dict[str, T] = {}
    for name, shape in tensors:
        if len(shape) < 2 or "norm" in name:
            out[name] = T.F32
            continue
        t = base
        if quantized and base != T.Q8_0 and (name == "output.weight" or (tied and name == "token_embd.weight")):
            t = T.Q6_K
        elif quant in ("Q4_K_M", "Q5_K_M") and (".attn_v." in name or ".ffn_down." in name):
            il = int(name.split(".")[1])
            if _more_bits(il, n_layer):
                t = T.Q6_K
        if shape[0] % block_size(t):
            t = _FALLBACK.get(t, T.F16) if shape[0] % 32 == 0 else T.F16
        out[name] = t
    return out
