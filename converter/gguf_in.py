"""Read and validate a GGUF file's header: metadata key/values and the tensor table, never trusting a length.

``read_gguf(path)`` parses the header with bounds checks at every step (counts, string and array lengths, tensor
dimensions, types, offsets, alignment, overlaps, data past the end of the file) and raises :class:`GGUFError`
with a one-line message for anything truncated or malformed. Tensor data is not read; :func:`read_tensor_bytes`
fetches one tensor's raw bytes on demand. Used by ``kompakt inspect`` and by anything that must reject a corrupt
file before handing it to llama.cpp.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import gguf
import numpy as np

from .errors import GGUFError

GGUF_MAGIC = b"GGUF"
MAX_DIMS = 4  # GGML_MAX_DIMS
VT = gguf.GGUFValueType

#: Fixed-size value types: GGUF value type -> struct format (little-endian).
_SCALARS: dict[int, str] = {
    VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I", VT.INT32: "<i",
    VT.FLOAT32: "<f", VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q", VT.FLOAT64: "<d",
}
_NUMPY: dict[int, str] = {
    VT.UINT8: "<u1", VT.INT8: "<i1", VT.UINT16: "<u2", VT.INT16: "<i2", VT.UINT32: "<u4", VT.INT32: "<i4",
    VT.FLOAT32: "<f4", VT.BOOL: "?", VT.UINT64: "<u8", VT.INT64: "<i8", VT.FLOAT64: "<f8",
}


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One entry of the tensor table. ``shape`` is NumPy order (slowest first); ``ne`` is GGML order."""

    name: str
    ne: tuple[int, ...]
    qtype: gguf.GGMLQuantizationType
    offset: int  # absolute position of the data in the file
    nbytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(reversed(self.ne))

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.ne, dtype=np.int64))


@dataclass
class GGUFFile:
    """A validated GGUF header."""

    path: Path
    version: int
    metadata: dict[str, Any]
    value_types: dict[str, VT]
    tensors: list[GGUFTensorInfo]
    alignment: int
    data_offset: int
    file_size: int
    _by_name: dict[str, GGUFTensorInfo] = field(default_factory=dict, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of metadata ``key`` (strings as str, arrays as lists or NumPy arrays)."""
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> Optional[str]:
        return self.metadata.get("general.architecture")

    def tensor(self, name: str) -> GGUFTensorInfo:
        """The tensor ``name``; KeyError if absent."""
        if not self._by_name:
            self._by_name = {t.name: t for t in self.tensors}
        return self._by_name[name]

    @property
    def tensor_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


class _Cursor:
    """Sequential reads over a read-only map of the file that refuse to go past its end."""

    def __init__(self, buf: mmap.mmap, size: int, path: Path) -> None:
        self.buf, self.size, self.path, self.pos = buf, size, path, 0

    def fail(self, message: str) -> GGUFError:
        return GGUFError(message, path=self.path)

    def read(self, n: int, what: str) -> bytes:
        if n < 0 or n > self.size - self.pos:
            raise self.fail(f"truncated: {what} needs {n} bytes at offset {self.pos}, file has {self.size}")
        data = self.buf[self.pos:self.pos + n]
        self.pos += n
        return data

    def scalar(self, vtype: int, what: str) -> Any:
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]

    def u32(self, what: str) -> int:
        return self.scalar(VT.UINT32, what)

    def u64(self, what: str) -> int:
        return self.scalar(VT.UINT64, what)

    def string(self, what: str) -> str:
        n = self.u64(f"length of {what}")
        return self.read(n, what).decode("utf-8", errors="replace")

    def strings(self, count: int, what: str) -> list[str]:
        """``count`` length-prefixed strings (the hot path: token lists and merges)."""
        buf, pos, size, out = self.buf, self.pos, self.size, []
        unpack = struct.Struct("<Q").unpack_from
        for _ in range(count):
            if pos + 8 > size:
                raise self.fail(f"truncated: {what} runs past the end of the file")
            (n,) = unpack(buf, pos)
            pos += 8
            if n > size - pos:
                raise self.fail(f"truncated: a string of {what} runs past the end of the file")
            out.append(buf[pos:pos + n].decode("utf-8", errors="replace"))
            pos += n
        self.pos = pos
        return out

    def value(self, vtype: int, what: str, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.scalar(vtype, what)
        if vtype == VT.STRING:
            return self.string(what)
        if vtype == VT.ARRAY:
            if depth > 2:
                raise self.fail(f"{what}: arrays nested too deeply")
            item_type = self.u32(f"item type of {what}")
            count = self.u64(f"length of {what}")
            if item_type in _NUMPY:
                itemsize = np.dtype(_NUMPY[item_type]).itemsize
                if count > (self.size - self.pos) // itemsize:
                    raise self.fail(f"truncated: {what} claims {count} items past the end of the file")
                return np.frombuffer(self.read(count * itemsize, what), dtype=_NUMPY[item_type]).copy()
            if item_type not in (VT.STRING, VT.ARRAY):
                raise self.fail(f"{what}: unknown array item type {item_type}")
            if count > (self.size - self.pos) // 8:  # every string or array takes at least 8 bytes
                raise self.fail(f"truncated: {what} claims {count} items past the end of the file")
            if item_type == VT.STRING:
                return self.strings(count, what)
            return [self.value(item_type, what, depth + 1) for _ in range(count)]
        raise self.fail(f"{what}: unknown value type {vtype}")


def read_gguf(path: str | Path) -> GGUFFile:
    """Parse and validate the header of the GGUF file ``path``; raise :class:`GGUFError` if it is malformed."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size < 24:
            raise GGUFError(f"not a GGUF file (only {size} bytes)", path=path)
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Cursor(buf, size, path))
    except GGUFError:
        raise
    except IsADirectoryError:
        raise GGUFError("is a directory, not a GGUF file", path=path) from None
    except OSError as exc:
        raise GGUFError(f"cannot read: {exc.strerror or exc}", path=path) from exc


def _parse(c: _Cursor) -> GGUFFile:
    if c.size < 24 or c.read(4, "magic") != GGUF_MAGIC:
        raise c.fail("not a GGUF file (bad magic)")
    version = c.u32("version")
    if version not in (2, 3):
        hint = " (big-endian files are not supported)" if version > 0xFFFF else ""
        raise c.fail(f"unsupported GGUF version {version}{hint}")
    n_tensors, n_kv = c.u64("tensor count"), c.u64("key/value count")
    if n_kv > c.size // 12 or n_tensors > c.size // 24:
        raise c.fail(f"header claims {n_tensors} tensors and {n_kv} keys, more than the file can hold")
    metadata: dict[str, Any] = {}
    types: dict[str, VT] = {}
    for i in range(n_kv):
        key = c.string(f"key #{i}")
        if key in metadata:
            raise c.fail(f"duplicate metadata key {key!r}")
        vtype = c.u32(f"type of {key}")
        try:
            types[key] = VT(vtype)
        except ValueError:
            raise c.fail(f"{key}: unknown value type {vtype}") from None
        metadata[key] = c.value(vtype, key)
    alignment = metadata.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise c.fail(f"general.alignment {alignment!r} is not a power of two")
    raw = [_tensor_entry(c, i) for i in range(n_tensors)]
    data_offset = -(-c.pos // alignment) * alignment
    tensors = _check_tensors(c, raw, data_offset, alignment)
    return GGUFFile(c.path, version, metadata, types, tensors, alignment, data_offset, c.size)


def _tensor_entry(c: _Cursor, i: int) -> tuple[str, tuple[int, ...], int, int]:
    name = c.string(f"name of tensor #{i}")
    n_dims = c.u32(f"dimension count of {name}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise c.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
    ne = tuple(c.u64(f"shape of {name}") for _ in range(n_dims))
    return name, ne, c.u32(f"type of {name}"), c.u64(f"offset of {name}")


def _check_tensors(c: _Cursor, raw, data_offset: int, alignment: int) -> list[GGUFTensorInfo]:
    tensors: list[GGUFTensorInfo] = []
    seen: set[str] = set()
    for name, ne, type_id, offset in raw:
        if name in seen:
            raise c.fail(f"duplicate tensor name {name!r}")
        seen.add(name)
        try:
            qtype = gguf.GGMLQuantizationType(type_id)
            block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            raise c.fail(f"tensor {name!r} has unknown type {type_id}") from None
        if any(d > 1 << 62 for d in ne) or ne[0] % block:
            raise c.fail(f"tensor {name!r}: invalid shape {list(ne)} for {qtype.name}")
        n = 1
        for d in ne:
            n *= d
        nbytes = n // block * type_size
        if offset % alignment:
            raise c.fail(f"tensor {name!r}: data offset {offset} is not aligned to {alignment}")
        if data_offset + offset + nbytes > c.size:
            raise c.fail(f"truncated: tensor {name!r} ends at byte {data_offset + offset + nbytes}, "
                         f"file has {c.size}")
        tensors.append(GGUFTensorInfo(name, ne, qtype, data_offset + offset, nbytes))
    previous = None
    for t in sorted(tensors, key=lambda t: t.offset):
        if previous is not None and t.nbytes and t.offset < previous.offset + previous.nbytes:
            raise c.fail(f"tensors {previous.name!r} and {t.name!r} overlap")
        if t.nbytes:
            previous = t
    return tensors


def read_tensor_bytes(gf: GGUFFile, info: GGUFTensorInfo) -> np.ndarray:
    """The raw bytes of tensor ``info`` (uint8, one row per GGML row: shape ``(n_rows, row_bytes)``)."""
    rows = info.n_elements // info.ne[0] if info.ne[0] else 0
    with open(gf.path, "rb") as f:
        f.seek(info.offset)
        data = f.read(info.nbytes)
    if len(data) != info.nbytes:
        raise GGUFError(f"truncated: tensor {info.name!r} data ends early", path=gf.path)
    return np.frombuffer(data, dtype=np.uint8).reshape(rows, -1) if rows else np.frombuffer(data, np.uint8)
