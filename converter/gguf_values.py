"""Bounds-checked reading of GGUF header values, with long string arrays decoded only when asked for.

:class:`Cursor` walks a read-only map of the file and refuses to read past its end. Long string arrays (tokenizer
vocabularies and merges, tens of thousands of strings) are only walked for their bounds while parsing; their strings
are decoded on first access through :class:`Metadata`, from the raw bytes of the pair kept for copying anyway.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Optional

import gguf
import numpy as np

from .errors import GGUFError

VT = gguf.GGUFValueType

#: Fixed-size value types: GGUF value type -> struct format (little-endian).
SCALARS: dict[int, str] = {
    VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I", VT.INT32: "<i",
    VT.FLOAT32: "<f", VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q", VT.FLOAT64: "<d",
}
NUMPY: dict[int, str] = {
    VT.UINT8: "<u1", VT.INT8: "<i1", VT.UINT16: "<u2", VT.INT16: "<i2", VT.UINT32: "<u4", VT.INT32: "<i4",
    VT.FLOAT32: "<f4", VT.BOOL: "?", VT.UINT64: "<u8", VT.INT64: "<i8", VT.FLOAT64: "<f8",
}
#: String arrays longer than this are decoded lazily (vocabularies, merges), shorter ones while parsing.
LAZY_STRINGS = 256
_U64 = struct.Struct("<Q")


class LazyStrings:
    """A string array not decoded yet: ``count`` length-prefixed strings starting at ``start`` in ``raw``."""

    __slots__ = ("raw", "start", "count")

    def __init__(self, raw: bytes, start: int, count: int) -> None:
        self.raw, self.start, self.count = raw, start, count

    def decode(self) -> list[str]:
        """The strings (bounds were checked while parsing)."""
        raw, pos, out = self.raw, self.start, []
        unpack, append = _U64.unpack_from, out.append
        for _ in range(self.count):
            (n,) = unpack(raw, pos)
            pos += 8
            append(raw[pos:pos + n].decode("utf-8", errors="replace"))
            pos += n
        return out


class Metadata(Mapping[str, Any]):
    """A GGUF file's key/values in file order: scalars, strings, lists of strings, NumPy arrays of numbers.

    Long string arrays are decoded on first access; :meth:`array_length` tells their length without decoding.
    """

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}

    def add(self, key: str, value: Any) -> None:
        """Append ``key`` (the reader's method; a value may be a :class:`LazyStrings`)."""
        self._items[key] = value

    def __getitem__(self, key: str) -> Any:
        value = self._items[key]
        if isinstance(value, LazyStrings):
            value = self._items[key] = value.decode()
        return value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def array_length(self, key: str) -> Optional[int]:
        """Number of items of the array ``key`` (None if absent or not an array), without decoding it."""
        value = self._items.get(key)
        if isinstance(value, LazyStrings):
            return value.count
        return len(value) if isinstance(value, (list, np.ndarray)) else None

    def __repr__(self) -> str:
        return f"Metadata({len(self)} keys)"


class Cursor:
    """Sequential reads over a read-only map of the file ``path`` that refuse to go past its end."""

    def __init__(self, buf: Any, size: int, path: Path) -> None:
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
        fmt = SCALARS[vtype]
        return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]

    def u32(self, what: str) -> int:
        return self.scalar(VT.UINT32, what)

    def u64(self, what: str) -> int:
        return self.scalar(VT.UINT64, what)

    def string(self, what: str) -> str:
        n = self.u64(f"length of {what}")
        return self.read(n, what).decode("utf-8", errors="replace")

    def name(self, what: str) -> str:
        """A key or tensor name: must be valid UTF-8."""
        n = self.u64(f"length of {what}")
        try:
            return self.read(n, what).decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} at offset {self.pos - n} is not valid UTF-8") from None

    def skip_strings(self, count: int, what: str) -> None:
        """Step over ``count`` length-prefixed strings, checking that each lies inside the file."""
        buf, pos = self.buf, self.pos
        unpack = _U64.unpack_from
        try:
            for _ in range(count):  # the hot loop of a vocabulary: a length prefix past the end raises
                pos += 8 + unpack(buf, pos)[0]
        except (struct.error, OverflowError):
            raise self.fail(f"truncated: {what} runs past the end of the file") from None
        if pos > self.size:
            raise self.fail(f"truncated: a string of {what} runs past the end of the file")
        self.pos = pos

    def value(self, vtype: int, what: str, pair_start: int, depth: int = 0) -> Any:
        """Read one value of type ``vtype``; long string arrays come back as :class:`LazyStrings` whose offset is
        relative to ``pair_start`` (the start of the key/value pair, whose raw bytes the caller keeps)."""
        if vtype in SCALARS:
            return self.scalar(vtype, what)
        if vtype == VT.STRING:
            return self.string(what)
        if vtype != VT.ARRAY:
            raise self.fail(f"{what}: unknown value type {vtype}")
        if depth > 2:
            raise self.fail(f"{what}: arrays nested too deeply")
        item_type = self.u32(f"item type of {what}")
        count = self.u64(f"length of {what}")
        if item_type in NUMPY:
            itemsize = np.dtype(NUMPY[item_type]).itemsize
            if count > (self.size - self.pos) // itemsize:
                raise self.fail(f"truncated: {what} claims {count} items past the end of the file")
            return np.frombuffer(self.read(count * itemsize, what), dtype=NUMPY[item_type]).copy()
        if item_type not in (VT.STRING, VT.ARRAY):
            raise self.fail(f"{what}: unknown array item type {item_type}")
        if count > (self.size - self.pos) // 8:  # every string or array takes at least 8 bytes
            raise self.fail(f"truncated: {what} claims {count} items past the end of the file")
        if item_type == VT.STRING:
            if count > LAZY_STRINGS and depth == 0:
                start = self.pos
                self.skip_strings(count, what)
                return LazyStrings(b"", start - pair_start, count)  # raw bytes filled in by the caller
            return [self.string(what) for _ in range(count)]
        return [self.value(item_type, what, pair_start, depth + 1) for _ in range(count)]
