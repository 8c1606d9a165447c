"""A fast reader of a GGUF file's header: metadata key/values and tensor infos, no tensor data.

gguf-py's ``GGUFReader`` builds a NumPy view per string of the tokenizer arrays, which takes seconds for a
50k-token vocabulary; the estimator only needs a few scalar keys and the tensor table, so this reader walks the
header once, skipping large arrays. Layout (GGUF v2/v3, little-endian): magic ``GGUF``, version u32, tensor count
u64, key/value count u64, the key/values, the tensor infos (name, n_dims u32, dims u64..., type u32, offset u64),
then padding to ``general.alignment`` (default 32) where the data section starts.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")
#: Arrays longer than this are skipped (only their length is kept): tokenizer tables, not hyper-parameters.
MAX_ARRAY = 4096


class HeaderError(ValueError):
    """The header is cut short or malformed (the message says where)."""


@dataclass(frozen=True)
class RawTensor:
    """A tensor info entry: name, ggml type id, ggml shape (ne0 first), absolute data offset in the file."""

    name: str
    type_id: int
    shape: tuple[int, ...]
    offset: int


@dataclass
class GGUFHeader:
    """Parsed header."""

    version: int
    metadata: dict[str, Any]
    tensors: list[RawTensor]
    data_offset: int


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.buf):
            raise HeaderError(f"header ends early at byte {self.pos} (wanted {n} more bytes)")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        return bytes(self.take(n)).decode("utf-8", "replace")

    def value(self, vtype: int) -> Any:
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype, count = self.unpack("<I"), self.unpack("<Q")
            if itype == _STRING and count > MAX_ARRAY:
                return self._skip_strings(count)
            if itype in _SCALARS and count > MAX_ARRAY:
                self.take(count * struct.calcsize(_SCALARS[itype]))
                return _Skipped(count)
            items = [self.value(itype) for _ in range(count)]
            return items if count <= MAX_ARRAY else _Skipped(count)
        raise HeaderError(f"unknown metadata value type {vtype} at byte {self.pos}")

    def _skip_strings(self, count: int) -> "_Skipped":
        pos, end, unpack_from = self.pos, len(self.buf), _U64.unpack_from
        for _ in range(count):
            if pos + 8 > end:
                raise HeaderError(f"header ends early inside a string array starting at byte {self.pos}")
            pos += 8 + unpack_from(self.buf, pos)[0]
        if pos > end:
            raise HeaderError(f"header ends early inside a string array starting at byte {self.pos}")
        self.pos = pos
        return _Skipped(count)


class _Skipped(int):
    """Length of an array we did not keep."""


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Parse the header of the GGUF file at ``path``; raise :class:`HeaderError` if it is cut short or invalid."""
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        if size < 24:
            raise HeaderError(f"only {size} bytes, too short for a GGUF header")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                return _parse(_Cursor(view))
            finally:
                view.release()


def _parse(cur: _Cursor) -> GGUFHeader:
    if bytes(cur.take(4)) != b"GGUF":
        raise HeaderError("not a GGUF file (bad magic)")
    version = cur.unpack("<I")
    if version not in (2, 3):
        raise HeaderError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
    if n_tensors > 1 << 24 or n_kv > 1 << 24:
        raise HeaderError(f"implausible counts ({n_tensors} tensors, {n_kv} keys)")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string()
        metadata[key] = cur.value(cur.unpack("<I"))
    infos = []
    for _ in range(n_tensors):
        name = cur.string()
        n_dims = cur.unpack("<I")
        if n_dims > 4:
            raise HeaderError(f"tensor {name} has {n_dims} dimensions")
        shape = tuple(cur.unpack("<Q") for _ in range(n_dims))
        infos.append((name, cur.unpack("<I"), shape, cur.unpack("<Q")))
    alignment = int(metadata.get("general.alignment", 32) or 32)
    data_offset = (cur.pos + alignment - 1) // alignment * alignment
    tensors = [RawTensor(n, t, s, data_offset + off) for n, t, s, off in infos]
    return GGUFHeader(version, metadata, tensors, data_offset)
