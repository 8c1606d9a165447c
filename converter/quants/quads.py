"""The "quad" layout of 32-weight blocks, for the legacy types' reference paths.

Position-first ``(32, n)`` arrays make per-block reductions fast vector ops, but transposing float32 rows of 32
into it costs ~1 ns a weight, more than the rest of a Q8_0 or Q5_0 block. Moving 16-byte items instead (four
floats as one ``complex128``) is ~3x cheaper and gives ``(8, n, 4)``: weight ``4r + k`` of block ``b`` at
``[r, b, k]``. Here it is kept flat as ``(8, 4n)``. Per-block maxima and minima are two vector reductions plus
three element-wise steps (where the order of the weights matters, for ties and signed zeros, the helpers in
``common`` read those few blocks from the rows), and elementwise work is unchanged. Packed bytes come back to
rows with one 4-byte transpose (four positions per ``uint32``).
"""

from __future__ import annotations

import numpy as np

from .common import F32

#: multiplying a uint32 whose four bytes are 0/1 by this puts byte k's bit at bit 24 + k (no carries reach there)
_GATHER_BITS = np.uint32(0x01020408)
_NIBBLE_SHIFTS = (4 * np.arange(8, dtype=np.uint32)).reshape(8, 1)


def to_quads(xs: np.ndarray) -> np.ndarray:
    """(n, 32) float32 rows -> (8, 4n): weight 4r + k of block b at [r, 4b + k]. Always a new array (callers work
    in place; with one block a transposed view would already count as contiguous)."""
    n = xs.shape[0]
    return np.ascontiguousarray(xs).view(np.complex128).T.copy(order="C").view(np.float32).reshape(8, 4 * n)


def per_block(v: np.ndarray) -> np.ndarray:
    """A per-block (n,) vector repeated for the 4 weights of each quad: broadcasts against (8, 4n) arrays."""
    return np.repeat(v, 4)


def extremes(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max, min) of every block of a quad-layout array (values only: the sign of a zero extreme is not
    decided here, see :func:`first_zero_sign`)."""
    hi = Y.max(axis=0).reshape(-1, 4)
    lo = Y.min(axis=0).reshape(-1, 4)
    return (np.maximum(np.maximum(hi[:, 0], hi[:, 1]), np.maximum(hi[:, 2], hi[:, 3])),
            np.minimum(np.minimum(lo[:, 0], lo[:, 1]), np.minimum(lo[:, 2], lo[:, 3])))


def byte_rows(q: np.ndarray) -> np.ndarray:
    """Quad-layout bytes (R, 4n) uint8, row r holding bytes 4r..4r+3 of every block -> (n, 4R) bytes per block."""
    return np.ascontiguousarray(q.view(np.uint32).T).view(np.uint8)


def high_bits(L: np.ndarray) -> np.ndarray:
    """Bit 4 of quad-layout labels (8, 4n) uint8 -> (n,) uint32 with bit j = bit 4 of label j (Q5's qh)."""
    bits = (L >> 4) & 1
    nibbles = bits.view(np.uint32) * _GATHER_BITS      # (8, n): bit 24 + k = bit of weight 4r + k
    nibbles >>= 24
    nibbles <<= _NIBBLE_SHIFTS
    return np.bitwise_or.reduce(nibbles, axis=0)


def nibble_rows(L: np.ndarray) -> np.ndarray:
    """Quad-layout labels (8, 4n) uint8 -> qs (n, 16): byte j = L[j] & 15 | (L[j+16] & 15) << 4 (the uint8 shift
    drops the high bits as C's ``& 0x0F`` does)."""
    q = L[:4] & 0xF
    q |= L[4:] << 4
    return byte_rows(q)


def from_positions32(L: np.ndarray) -> np.ndarray:
    """Position-first (32, n) labels -> the quad layout (8, 4n)."""
    n = L.shape[1]
    return np.ascontiguousarray(L.reshape(8, 4, n).transpose(0, 2, 1)).reshape(8, 4 * n)
