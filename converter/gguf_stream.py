"""Write a GGUF file tensor by tensor with a header that is known up front.

The quantizer copies a source file's metadata byte for byte (each key/value pair as it is stored, see
:attr:`converter.gguf_in.GGUFHeader.kv`), announces every output tensor's name, shape and type in the header, then
streams the tensor data in the announced order (or lets other processes write pieces of it in place, see
:meth:`GGUFStreamWriter.file_offset`). The layout follows ggml's own writer (gguf.cpp): version 3, key/value
pairs, tensor infos with offsets relative to the data section, zero padding to the alignment after the header and
after every tensor.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Optional, Sequence

import numpy as np
from gguf import GGUFValueType

from .core.quant_types import QType
from .errors import GGUFError
from .gguf_in import GGUF_MAGIC, KV
from .gguf_values import SCALARS

GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32


# ---------------------------------------------------------------------------------------------------------------
# Encoding metadata pairs
# ---------------------------------------------------------------------------------------------------------------



def encode_str(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _encode_value(vtype: GGUFValueType, value: object) -> bytes:
    if vtype == GGUFValueType.STRING:
        return encode_str(str(value))
    return struct.pack(SCALARS[vtype], value)


def encode_kv(key: str, value: object, vtype: GGUFValueType,
              item_type: Optional[GGUFValueType] = None) -> KV:
    """Encode one pair; arrays take ``vtype=ARRAY`` and the element type in ``item_type``."""
    out = [encode_str(key), struct.pack("<I", int(vtype))]
    if vtype == GGUFValueType.ARRAY:
        assert item_type is not None, "arrays need an item type"
        items = list(value)  # type: ignore[call-overload]
        out.append(struct.pack("<IQ", int(item_type), len(items)))
        out.extend(_encode_value(item_type, v) for v in items)
    else:
        out.append(_encode_value(vtype, value))
    return KV(key, b"".join(out))


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------

def _n_dims(shape: Sequence[int]) -> int:
    n = len(shape)
    while n > 1 and shape[n - 1] == 1:
        n -= 1
    return max(n, 1)


@dataclass(frozen=True)
class OutTensor:
    """A tensor the writer announces: name, GGML-order shape, type."""

    name: str
    shape: tuple[int, ...]
    type: QType

    @property
    def nbytes(self) -> int:
        """Size of its data in bytes."""
        return QType(self.type).nbytes(self.shape)


class GGUFStreamWriter:
    """Write the header for ``tensors`` at once, then accept each tensor's bytes in order (in pieces if wanted).

    Checks that every tensor receives exactly its announced size and pads it; :meth:`close` checks that all
    tensors were written. ``trim_dims`` drops trailing dimensions of 1 from the tensor infos as ggml's writer
    (llama-quantize) does; without it every given dimension is stored, as gguf-py's writer (llama.cpp's
    converter) does.
    """

    def __init__(self, fout: BinaryIO, kv: Iterable[KV], tensors: Sequence[OutTensor], *,
                 alignment: int = DEFAULT_ALIGNMENT, trim_dims: bool = True) -> None:
        self.fout = fout
        self.tensors = list(tensors)
        self.alignment = alignment
        self._index = 0
        self._written = 0
        kv = list(kv)
        header = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(kv))]
        header.extend(p.raw for p in kv)
        offset = 0
        self._offsets = []  # each tensor's data offset, relative to the data section
        for t in self.tensors:
            dims = _n_dims(t.shape) if trim_dims else len(t.shape)
            header.append(encode_str(t.name))
            header.append(struct.pack(f"<I{dims}QIQ", dims, *t.shape[:dims], int(t.type), offset))
            self._offsets.append(offset)
            offset += self._padded(t.nbytes)
        blob = b"".join(header)
        fout.write(blob + bytes(self._padded(len(blob)) - len(blob)))
        self._data_start = fout.tell()

    def _padded(self, n: int) -> int:
        return (n + self.alignment - 1) // self.alignment * self.alignment

    @property
    def current(self) -> Optional[OutTensor]:
        """The tensor whose bytes are expected next (None when all are written)."""
        return self.tensors[self._index] if self._index < len(self.tensors) else None

    def file_offset(self, index: int, at: int = 0) -> int:
        """Absolute file offset of byte ``at`` of tensor number ``index``'s data (for writers in other processes,
        see :meth:`skip`)."""
        return self._data_start + self._offsets[index] + at

    def write(self, data: bytes | memoryview | np.ndarray) -> None:
        """Append a piece of the current tensor's data; pads and moves on when the tensor is complete."""
        view = memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1)) if isinstance(data, np.ndarray) \
            else memoryview(data)
        self._advance(view.nbytes, view)

    def skip(self, nbytes: int) -> None:
        """Move past the next ``nbytes`` of the current tensor's data, which another writer has put in place
        (at :meth:`file_offset`); padding is still written here."""
        self._advance(nbytes, None)

    def _advance(self, nbytes: int, view: Optional[memoryview]) -> None:
        tensor = self.current
        if tensor is None:
            raise GGUFError("more tensor data than announced")
        if self._written + nbytes > tensor.nbytes:
            raise GGUFError(f"tensor {tensor.name}: more than its {tensor.nbytes} bytes")
        if view is None:
            self.fout.seek(nbytes, io.SEEK_CUR)
        else:
            self.fout.write(view)
        self._written += nbytes
        if self._written == tensor.nbytes:
            self.fout.write(bytes(self._padded(tensor.nbytes) - tensor.nbytes))
            self._index += 1
            self._written = 0

    def close(self) -> None:
        """Check that every announced tensor was written completely."""
        if self.current is not None:
            raise GGUFError(f"tensor {self.current.name} was not written completely")
