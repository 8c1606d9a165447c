"""Tensor quantization: one entry point over every GGML type Kompakt writes.

``quantize(rows, qtype)`` takes float32 data shaped ``(n_rows, n_per_row)`` and returns the raw bytes shaped
``(n_rows, row_bytes)`` exactly as llama.cpp's ``ggml_quantize_chunk`` would write them; ``imatrix`` (one float32
weight per column) selects the importance-weighted algorithms. ``dequantize`` is the inverse.

Each quant family lives in its own module and registers itself in the table below: ``q2_k``, ``q3_k``, ``q4_k``,
``q5_k`` (these two share ``minmax_k``), ``q6_k`` and ``legacy`` (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), built on
``common`` (C-compatible float32 rounding, in-order sums, chunking) and ``search`` (ggml's scale searches, one
function each). All are tested byte for byte against ``ggml_quantize_chunk``. F32, F16 and BF16 go through NumPy /
the ``gguf`` package (also tested equal); other types are not supported.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
from ..errors import QuantizationError
from ..core.quant_types import QType

QuantizeFn = Callable[[np.ndarray, Optional[np.ndarray]], np.ndarray]
DequantizeFn = Callable[[np.ndarray], np.ndarray]

_QUANTIZERS: dict[int, QuantizeFn] = {}  # keyed by type id: QType and gguf's GGMLQuantizationType both look up
_DEQUANTIZERS: dict[int, DequantizeFn] = {}

__all__ = ["can_quantize", "dequantize", "quantize", "register"]


def register(qtype: QType, quantize_fn: QuantizeFn, dequantize_fn: Optional[DequantizeFn] = None) -> None:
    """Register the quantizer for ``qtype`` and its dequantizer (None: the ``gguf`` package's, see
    :func:`dequantize`)."""
    _QUANTIZERS[qtype] = quantize_fn
    if dequantize_fn is not None:
        _DEQUANTIZERS[qtype] = dequantize_fn


def can_quantize(qtype: int, n_per_row: int) -> bool:
    """True if rows of ``n_per_row`` weights can be stored as ``qtype`` (a whole number of blocks)."""
    return n_per_row % QType(qtype).block_elements == 0


def quantize(rows: np.ndarray, qtype: int, *, imatrix: Optional[np.ndarray] = None) -> np.ndarray:
    """Quantize float32 ``rows`` (n_rows, n_per_row) to ``qtype``; returns uint8 (n_rows, row_bytes)."""
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    if rows.ndim != 2:
        raise QuantizationError(f"expected a 2-D array of rows, got shape {rows.shape}")
    n_per_row = rows.shape[1]
    if not can_quantize(qtype, n_per_row):
        raise QuantizationError(
            f"rows of {n_per_row} weights are not a multiple of {QType(qtype).name}'s block of "
            f"{QType(qtype).block_elements}")
    if qtype not in (QType.F32, QType.F16) and not np.isfinite(rows).all():
        raise QuantizationError(f"cannot quantize to {QType(qtype).name}: the tensor contains NaN or Inf values")
    if imatrix is not None:
        imatrix = np.ascontiguousarray(imatrix, dtype=np.float32).reshape(-1)
        if imatrix.size != n_per_row:
            raise QuantizationError(f"importance matrix has {imatrix.size} values for rows of {n_per_row}")
    fn = _QUANTIZERS.get(qtype)
    if fn is not None:
        out = fn(rows, imatrix)
    else:
        out = _quantize_with_gguf(rows, qtype)
    return out.reshape(rows.shape[0], QType(qtype).row_bytes(n_per_row))


def dequantize(raw: np.ndarray, qtype: int, n_per_row: int) -> np.ndarray:
    """Inverse of :func:`quantize`: uint8 rows -> float32 (n_rows, n_per_row)."""
    raw = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, QType(qtype).row_bytes(n_per_row))
    fn = _DEQUANTIZERS.get(qtype)
    if fn is not None:
        return fn(raw).reshape(raw.shape[0], n_per_row)
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize as gguf_dequantize

    return gguf_dequantize(raw, GGMLQuantizationType(int(qtype))).astype(np.float32).reshape(raw.shape[0], n_per_row)


def _quantize_with_gguf(rows: np.ndarray, qtype: int) -> np.ndarray:
    if qtype == QType.F32:
        return rows.view(np.uint8)
    if qtype == QType.F16:
        with np.errstate(over="ignore"):  # beyond 65504 is inf, as in ggml
            return rows.astype(np.float16).view(np.uint8)
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize as gguf_quantize

    try:
        return gguf_quantize(rows, GGMLQuantizationType(int(qtype)))
    except (NotImplementedError, ValueError) as exc:
        raise QuantizationError(f"quantizing to {QType(qtype).name} is not implemented") from exc


def _register_families() -> None:
    from . import legacy, q2_k, q3_k, q4_k, q5_k, q6_k  # noqa: F401  (each module registers itself)


_register_families()
