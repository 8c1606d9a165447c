"""Sizes of ggml tensor types, as llama.cpp computes them (``ggml_nbytes``, ``ggml_row_size``).

One table (gguf-py's ``GGML_QUANT_SIZES``: elements per block, bytes per block) drives every size here, so a new
quant type needs no code change.
"""

from __future__ import annotations

from typing import Sequence

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

from app.runtime.errors import FitError

#: Cache types llama.cpp accepts for K and V (``--cache-type-k/-v``), by lower-case name.
KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def ggml_type(name_or_id: str | int | GGMLQuantizationType) -> GGMLQuantizationType:
    """Look a ggml type up by name (``"q8_0"``, ``"Q4_K"``) or id; raise :class:`FitError` for an unknown one."""
    if isinstance(name_or_id, GGMLQuantizationType):
        return name_or_id
    if isinstance(name_or_id, int):
        return GGMLQuantizationType(name_or_id)
    try:
        return GGMLQuantizationType[name_or_id.upper()]
    except KeyError:
        raise FitError(f"unknown ggml type {name_or_id!r}") from None


def block_size(t: GGMLQuantizationType) -> int:
    """Elements per block (1 for F32/F16, 32 for Q8_0, 256 for the K-quants)."""
    return GGML_QUANT_SIZES[t][0]


def type_size(t: GGMLQuantizationType) -> int:
    """Bytes per block."""
    return GGML_QUANT_SIZES[t][1]


def is_quantized(t: GGMLQuantizationType) -> bool:
    """True for block-quantized types (what ``ggml_is_quantized`` says)."""
    return block_size(t) > 1


def row_size(t: GGMLQuantizationType, ne0: int) -> int:
    """Bytes of one row of ``ne0`` elements (``ggml_row_size``); ``ne0`` must be a multiple of the block size."""
    bs = block_size(t)
    if ne0 % bs:
        raise FitError(f"a row of {ne0} elements is not a whole number of {t.name} blocks ({bs})")
    return ne0 // bs * type_size(t)


def nbytes(t: GGMLQuantizationType, shape: Sequence[int]) -> int:
    """Bytes of a contiguous tensor with ggml shape ``shape`` (``ne0`` first), like ``ggml_nbytes``."""
    if not shape:
        return type_size(t)
    rows = 1
    for n in shape[1:]:
        rows *= int(n)
    return row_size(t, int(shape[0])) * rows


def pad(n: int, alignment: int) -> int:
    """Round ``n`` up to a multiple of ``alignment`` (``GGML_PAD``)."""
    return (n + alignment - 1) // alignment * alignment
