"""Read a GGUF file's layout, and write a GGUF file tensor by tensor with a header that is known up front.

The quantizer copies a source file's metadata byte for byte (each key/value pair as it is stored), announces every
output tensor's name, shape and type in the header, then streams the tensor data in the announced order. The
layout follows ggml's own writer (gguf.cpp): version 3, key/value pairs, tensor infos with offsets relative to the
data section, zero padding to the alignment after the header and after every tensor.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Optional, Sequence

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from .errors import GGUFError

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32


@dataclass(frozen=True)
class KV:
    """One metadata pair: its key and the encoded bytes of the whole pair (key, type, value) as stored."""

    key: str
    raw: bytes


@dataclass(frozen=True)
class SourceTensor:
    """A tensor of a GGUF file: name, GGML-order shape, stored type, and where its bytes are."""

    name: str
    shape: tuple[int, ...]
    type: GGMLQuantizationType
    offset: int  # absolute position in the file
    nbytes: int


@dataclass
class GGUFLayout:
    """The parsed header of a GGUF file: metadata pairs (raw), their decoded values, and the tensors."""

    path: Path
    kv: list[KV]
    values: dict[str, object]
    tensors: list[SourceTensor]
    alignment: int


def tensor_nbytes(shape: Sequence[int], qtype: GGMLQuantizationType) -> int:
    """Bytes a tensor of GGML-order ``shape`` takes in ``qtype``."""
    block, size = GGML_QUANT_SIZES[qtype]
    n = int(np.prod(shape, dtype=np.int64)) if len(shape) else 1
    return n // block * size


def read_layout(path: str | Path) -> GGUFLayout:
    """Parse ``path``'s header (metadata and tensor infos); malformed or truncated files raise :class:`GGUFError`."""
    path = Path(path)
    if not path.is_file():
        raise GGUFError("file not found", path=path)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        try:
            return _parse(path, buf)
        except (struct.error, ValueError, UnicodeDecodeError, OverflowError) as exc:
            raise GGUFError(f"not a readable GGUF file ({exc})", path=path) from exc


class _Cursor:
    def __init__(self, buf) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def string(self) -> str:
        (n,) = self.take("<Q")
        if self.pos + n > len(self.buf):
            raise ValueError("string runs past the end of the file")
        text = bytes(self.buf[self.pos:self.pos + n]).decode("utf-8")
        self.pos += n
        return text

    def skip_string(self) -> None:
        (n,) = self.take("<Q")
        self.pos += n


_NUMPY = {
    GGUFValueType.UINT8: np.uint8, GGUFValueType.INT8: np.int8, GGUFValueType.UINT16: np.uint16,
    GGUFValueType.INT16: np.int16, GGUFValueType.UINT32: np.uint32, GGUFValueType.INT32: np.int32,
    GGUFValueType.FLOAT32: np.float32, GGUFValueType.UINT64: np.uint64, GGUFValueType.INT64: np.int64,
    GGUFValueType.FLOAT64: np.float64, GGUFValueType.BOOL: np.bool_,
}
_MAX_DECODED_STRINGS = 4096  # longer string arrays (vocabularies) are copied but not decoded


def _value(cur: _Cursor, vtype: GGUFValueType) -> object:
    if vtype == GGUFValueType.STRING:
        return cur.string()
    if vtype == GGUFValueType.ARRAY:
        item_type, count = cur.take("<IQ")
        item_type = GGUFValueType(item_type)
        if item_type == GGUFValueType.STRING:
            if count > _MAX_DECODED_STRINGS:
                for _ in range(count):
                    cur.skip_string()
                return None
            return [cur.string() for _ in range(count)]
        if item_type == GGUFValueType.ARRAY:
            return [_value(cur, item_type) for _ in range(count)]
        dtype = np.dtype(_NUMPY[item_type]).newbyteorder("<")
        if cur.pos + count * dtype.itemsize > len(cur.buf):
            raise ValueError("array runs past the end of the file")
        arr = np.frombuffer(cur.buf, dtype=dtype, count=count, offset=cur.pos).tolist()
        cur.pos += count * dtype.itemsize
        return arr
    (v,) = cur.take(_SCALAR[vtype])
    return v


def _parse(path: Path, buf) -> GGUFLayout:
    cur = _Cursor(buf)
    if bytes(buf[:4]) != GGUF_MAGIC:
        raise ValueError("bad magic")
    cur.pos = 4
    version, n_tensors, n_kv = cur.take("<IQQ")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    kv: list[KV] = []
    values: dict[str, object] = {}
    keys: set[str] = set()
    for _ in range(n_kv):
        start = cur.pos
        key = cur.string()
        (vtype,) = cur.take("<I")
        value = _value(cur, GGUFValueType(vtype))
        if key in keys:
            raise ValueError(f"duplicate key {key}")
        keys.add(key)
        kv.append(KV(key, bytes(buf[start:cur.pos])))
        if value is not None:
            values[key] = value
    alignment = values.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise ValueError(f"bad general.alignment {alignment!r}")
    infos = []
    for _ in range(n_tensors):
        name = cur.string()
        (n_dims,) = cur.take("<I")
        if n_dims > 4:
            raise ValueError(f"tensor {name} has {n_dims} dimensions")
        shape = cur.take(f"<{n_dims}Q")
        qtype, offset = cur.take("<IQ")
        infos.append((name, tuple(int(x) for x in shape), GGMLQuantizationType(qtype), offset))
    data_start = (cur.pos + alignment - 1) // alignment * alignment
    tensors = []
    seen = set()
    for name, shape, qtype, offset in infos:
        if name in seen:
            raise ValueError(f"duplicate tensor {name}")
        seen.add(name)
        nbytes = tensor_nbytes(shape, qtype)
        if data_start + offset + nbytes > len(buf):
            raise GGUFError(f"tensor {name} extends past the end of the file (truncated?)", path=path)
        tensors.append(SourceTensor(name, shape, qtype, data_start + offset, nbytes))
    return GGUFLayout(path, kv, values, tensors, alignment)


# ---------------------------------------------------------------------------------------------------------------
# Encoding metadata pairs
# ---------------------------------------------------------------------------------------------------------------

_SCALAR = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i", GGUFValueType.FLOAT32: "<f",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d", GGUFValueType.BOOL: "<?",
}


def encode_str(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def _encode_value(vtype: GGUFValueType, value: object) -> bytes:
    if vtype == GGUFValueType.STRING:
        return encode_str(str(value))
    return struct.pack(_SCALAR[vtype], value)


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
    type: GGMLQuantizationType

    @property
    def nbytes(self) -> int:
        """Size of its data in bytes."""
        return tensor_nbytes(self.shape, self.type)


class GGUFStreamWriter:
    """Write the header for ``tensors`` at once, then accept each tensor's bytes in order (in pieces if wanted).

    Checks that every tensor receives exactly its announced size and pads it; :meth:`close` checks that all
    tensors were written.
    """

    def __init__(self, fout: BinaryIO, kv: Iterable[KV], tensors: Sequence[OutTensor], *,
                 alignment: int = DEFAULT_ALIGNMENT) -> None:
        self.fout = fout
        self.tensors = list(tensors)
        self.alignment = alignment
        self._index = 0
        self._written = 0
        kv = list(kv)
        header = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(kv))]
        header.extend(p.raw for p in kv)
        offset = 0
        for t in self.tensors:
            dims = _n_dims(t.shape)
            header.append(encode_str(t.name))
            header.append(struct.pack(f"<I{dims}QIQ", dims, *t.shape[:dims], int(t.type), offset))
            offset += self._padded(t.nbytes)
        blob = b"".join(header)
        fout.write(blob + bytes(self._padded(len(blob)) - len(blob)))

    def _padded(self, n: int) -> int:
        return (n + self.alignment - 1) // self.alignment * self.alignment

    @property
    def current(self) -> Optional[OutTensor]:
        """The tensor whose bytes are expected next (None when all are written)."""
        return self.tensors[self._index] if self._index < len(self.tensors) else None

    def write(self, data: bytes | memoryview | np.ndarray) -> None:
        """Append a piece of the current tensor's data; pads and moves on when the tensor is complete."""
        tensor = self.current
        if tensor is None:
            raise GGUFError("more tensor data than announced")
        view = memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1)) if isinstance(data, np.ndarray) \
            else memoryview(data)
        if self._written + view.nbytes > tensor.nbytes:
            raise GGUFError(f"tensor {tensor.name}: more than its {tensor.nbytes} bytes")
        self.fout.write(view)
        self._written += view.nbytes
        if self._written == tensor.nbytes:
            self.fout.write(bytes(self._padded(tensor.nbytes) - tensor.nbytes))
            self._index += 1
            self._written = 0

    def close(self) -> None:
        """Check that every announced tensor was written completely."""
        if self.current is not None:
            raise GGUFError(f"tensor {self.current.name} was not written completely")
