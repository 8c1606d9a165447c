"""The GGML tensor types Kompakt's quantizers read and write, without importing the ``gguf`` package.

Worker processes import only NumPy and :mod:`converter.quants`; importing ``gguf`` (its writer, metadata and
vocabulary modules, PyYAML) would add ~0.1 s to every worker start. ``QType`` members carry ggml's type ids and
the same names as ``gguf.GGMLQuantizationType``, and compare and hash equal to them (both are ``IntEnum``), so
either works as a key here; ``tests/unit/test_quants_api.py`` checks the ids and block sizes against ``gguf``.
Types outside this list are looked up in ``gguf`` when first asked for.
"""

from __future__ import annotations

from enum import IntEnum


class QType(IntEnum):
    """ggml type ids (``enum ggml_type``) of the types quantized here, and of the integer/F64 types that are
    never weights to quantize."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    I8 = 24
    I16 = 25
    I32 = 26
    I64 = 27
    F64 = 28
    BF16 = 30


#: stored types that are not weights (token ids, positions): never converted
NOT_WEIGHTS = frozenset({QType.I8, QType.I16, QType.I32, QType.I64, QType.F64})

#: (weights per block, bytes per block)
_SIZES = {
    QType.F32: (1, 4), QType.F16: (1, 2), QType.BF16: (1, 2),
    QType.Q4_0: (32, 18), QType.Q4_1: (32, 20), QType.Q5_0: (32, 22), QType.Q5_1: (32, 24), QType.Q8_0: (32, 34),
    QType.Q2_K: (256, 84), QType.Q3_K: (256, 110), QType.Q4_K: (256, 144), QType.Q5_K: (256, 176),
    QType.Q6_K: (256, 210),
    QType.I8: (1, 1), QType.I16: (1, 2), QType.I32: (1, 4), QType.I64: (1, 8), QType.F64: (1, 8),
}


def block_size(qtype: int) -> tuple[int, int]:
    """(weights per block, bytes per block) of any ggml type id (``gguf`` consulted for types not listed here)."""
    size = _SIZES.get(qtype)
    if size is None:
        from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

        size = GGML_QUANT_SIZES[GGMLQuantizationType(int(qtype))]
    return size


def type_name(qtype: int) -> str:
    """The ggml name of a type id (``"Q4_K"``)."""
    try:
        return QType(int(qtype)).name
    except ValueError:
        from gguf import GGMLQuantizationType

        return GGMLQuantizationType(int(qtype)).name
