"""The one table of ggml tensor types and llama.cpp quantization mixes; every layer reads its type names here.

:class:`QType` holds, per ggml type (``enum ggml_type``): its id, its name, its block geometry (elements per block,
bytes per block) and whether llama.cpp accepts it as a K/V cache type (and whether Kompakt offers it as one).
:data:`MIXES` holds, per quantization mix (Q4_K_M, ...): its name, its llama.cpp file type id (``llama_ftype``,
written as ``general.file_type``), its default tensor type, whether the app offers it in its lists, whether the
converter writes it directly from a checkpoint, and llama.cpp's typical quality cost.

No ``gguf`` import: quantizer worker processes read this table, and ``gguf`` would add ~0.1 s to every worker
start. ``QType`` is an ``IntEnum`` with gguf's member names, so it compares and hashes equal to
``gguf.GGMLQuantizationType`` and either works as a key; ``tests/unit/test_quants_api.py`` checks the ids and
geometry against ``gguf`` and the mix file type ids against ``llama_cpp``.

Mix names are also written in :mod:`converter.mix_rules`, whose rules branch on them as llama.cpp's
``llama_tensor_get_type`` branches on ``LLAMA_FTYPE_*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Optional, Sequence

from .errors import KompaktError

_KV = "kv"  # llama.cpp accepts the type for --cache-type-k/-v
_KV_OFFERED = "kv offered"  # ... and Kompakt's lists offer it


class UnknownTypeError(KompaktError, ValueError):
    """A ggml type or quantization mix name (or id) that is not in the table."""


class QType(IntEnum):
    """A ggml tensor type: its id is the value, and each member carries ``block_elements`` (elements per block),
    ``block_bytes`` (bytes per block), ``kv_cache`` (allowed as a K/V cache type) and ``kv_offered``."""

    block_elements: int
    block_bytes: int
    kv_cache: bool
    kv_offered: bool

    def __new__(cls, type_id: int, block_elements: int, block_bytes: int, kv: str = "") -> "QType":
        obj = int.__new__(cls, type_id)
        obj._value_ = type_id
        obj.block_elements = block_elements
        obj.block_bytes = block_bytes
        obj.kv_cache = bool(kv)
        obj.kv_offered = kv == _KV_OFFERED
        return obj

    F32 = 0, 1, 4, _KV
    F16 = 1, 1, 2, _KV_OFFERED
    Q4_0 = 2, 32, 18, _KV_OFFERED
    Q4_1 = 3, 32, 20, _KV
    Q5_0 = 6, 32, 22, _KV
    Q5_1 = 7, 32, 24, _KV
    Q8_0 = 8, 32, 34, _KV_OFFERED
    Q8_1 = 9, 32, 40
    Q2_K = 10, 256, 84
    Q3_K = 11, 256, 110
    Q4_K = 12, 256, 144
    Q5_K = 13, 256, 176
    Q6_K = 14, 256, 210
    Q8_K = 15, 256, 292
    IQ2_XXS = 16, 256, 66
    IQ2_XS = 17, 256, 74
    IQ3_XXS = 18, 256, 98
    IQ1_S = 19, 256, 50
    IQ4_NL = 20, 32, 18, _KV
    IQ3_S = 21, 256, 110
    IQ2_S = 22, 256, 82
    IQ4_XS = 23, 256, 136
    I8 = 24, 1, 1
    I16 = 25, 1, 2
    I32 = 26, 1, 4
    I64 = 27, 1, 8
    F64 = 28, 1, 8
    IQ1_M = 29, 256, 56
    BF16 = 30, 1, 2, _KV
    TQ1_0 = 34, 256, 54
    TQ2_0 = 35, 256, 66
    MXFP4 = 39, 32, 17
    NVFP4 = 40, 64, 36
    Q1_0 = 41, 128, 18

    @classmethod
    def parse(cls, name_or_id: str | int) -> "QType":
        """The type called ``name_or_id`` (``"q8_0"``, ``"Q6_K"``, case-insensitive) or with that id."""
        try:
            if isinstance(name_or_id, str):
                return cls[name_or_id.strip().upper()]
            return cls(int(name_or_id))
        except (KeyError, ValueError):
            raise UnknownTypeError(f"unknown ggml type {name_or_id!r}") from None

    @property
    def is_quantized(self) -> bool:
        """True for block-quantized types (what ``ggml_is_quantized`` says)."""
        return self.block_elements > 1

    def row_bytes(self, n_per_row: int) -> int:
        """Bytes of one row of ``n_per_row`` elements (``ggml_row_size``); must be a whole number of blocks."""
        if n_per_row % self.block_elements:
            raise ValueError(f"a row of {n_per_row} elements is not a whole number of {self.name} blocks "
                             f"({self.block_elements})")
        return n_per_row // self.block_elements * self.block_bytes

    def nbytes(self, shape: Sequence[int]) -> int:
        """Bytes of a contiguous tensor with ggml shape ``shape`` (``ne0`` first), like ``ggml_nbytes``."""
        if not shape:
            return self.block_bytes
        rows = 1
        for n in shape[1:]:
            rows *= int(n)
        return self.row_bytes(int(shape[0])) * rows


#: Stored types that are not weights (token ids, positions): never converted.
NOT_WEIGHTS = frozenset({QType.I8, QType.I16, QType.I32, QType.I64, QType.F64})

#: Types that are not block-quantized: a mix with one of these as default skips every mix rule.
FLOAT_TYPES = frozenset({QType.F32, QType.F16, QType.BF16})

#: K/V cache types llama.cpp accepts (``--cache-type-k/-v``), by lower-case name.
KV_CACHE_TYPES: tuple[str, ...] = tuple(t.name.lower() for t in QType if t.kv_cache)

#: The K/V cache types Kompakt's lists offer, largest first (f16, q8_0, q4_0).
KV_CACHE_OFFERED: tuple[str, ...] = tuple(
    t.name.lower() for t in sorted((t for t in QType if t.kv_offered), key=lambda t: -t.block_bytes / t.block_elements))

#: llama.cpp's default K/V cache type (``--cache-type-k/-v f16``), and Kompakt's.
KV_CACHE_DEFAULT: str = QType.F16.name.lower()


def pad(n: int, alignment: int) -> int:
    """Round ``n`` up to a multiple of ``alignment`` (``GGML_PAD``)."""
    return (n + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class Mix:
    """One quantization mix: what ``general.file_type`` it writes (``ftype``, llama.cpp's ``llama_ftype``), its
    default tensor type, whether the app offers it, whether the converter writes it directly from a checkpoint
    (``direct``: no mix rules), and llama.cpp's typical quality cost (perplexity increase, see :data:`MIXES`)."""

    name: str
    ftype: int
    default: QType
    typical_ppl_cost: float
    offered: bool = False
    direct: bool = False


#: Every mix, smallest first. ``typical_ppl_cost``: the perplexity increase on Llama-3-8B from llama-quantize's
#: type list (F16/BF16 on Mistral-7B; F32 is the reference), shown as "typical" until the model's own quality
#: is measured.
MIXES: dict[str, Mix] = {m.name: m for m in (
    Mix("Q2_K", 10, QType.Q2_K, 3.5199, offered=True),
    Mix("Q3_K_S", 11, QType.Q3_K, 1.6321, offered=True),
    Mix("Q3_K_M", 12, QType.Q3_K, 0.6569, offered=True),
    Mix("Q3_K_L", 13, QType.Q3_K, 0.5562, offered=True),
    Mix("Q4_0", 2, QType.Q4_0, 0.4685, offered=True),
    Mix("Q4_1", 3, QType.Q4_1, 0.4511),
    Mix("Q4_K_S", 14, QType.Q4_K, 0.2689, offered=True),
    Mix("Q4_K_M", 15, QType.Q4_K, 0.1754, offered=True),
    Mix("Q5_0", 8, QType.Q5_0, 0.1316),
    Mix("Q5_1", 9, QType.Q5_1, 0.1062),
    Mix("Q5_K_S", 16, QType.Q5_K, 0.1049, offered=True),
    Mix("Q5_K_M", 17, QType.Q5_K, 0.0569, offered=True),
    Mix("Q6_K", 18, QType.Q6_K, 0.0217, offered=True),
    Mix("Q8_0", 7, QType.Q8_0, 0.0026, offered=True, direct=True),
    Mix("F16", 1, QType.F16, 0.0020, offered=True, direct=True),
    Mix("BF16", 32, QType.BF16, -0.0050, direct=True),
    Mix("F32", 0, QType.F32, 0.0, direct=True),
)}

#: The mixes the app's lists offer, smallest first.
OFFERED_MIXES: tuple[str, ...] = tuple(m.name for m in MIXES.values() if m.offered)

#: The mix chosen when the user has not picked one.
DEFAULT_MIX = MIXES["Q4_K_M"]

#: Accepted spellings besides the canonical names (llama-quantize accepts Q4_K for Q4_K_M, Q5_K for Q5_K_M).
_ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M", "FP16": "F16", "FP32": "F32"}


def get_mix(name: str) -> Mix:
    """The mix called ``name`` (case-insensitive, ``-`` for ``_``, llama-quantize's aliases such as ``Q4_K``);
    raises :class:`UnknownTypeError` listing the known mixes."""
    key = name.strip().upper().replace("-", "_")
    try:
        return MIXES[_ALIASES.get(key, key)]
    except KeyError:
        raise UnknownTypeError(f"unknown quantization type {name!r} (known: {', '.join(MIXES)})") from None


def mix_of_ftype(ftype: object) -> Optional[Mix]:
    """The mix whose ``general.file_type`` is ``ftype``; None for a value that is not one of the table's."""
    try:
        value = int(ftype)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return next((m for m in MIXES.values() if m.ftype == value), None)
