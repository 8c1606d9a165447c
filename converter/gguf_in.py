"""The one GGUF header reader: metadata key/values and the tensor table, validated, never trusting a length.

``read_gguf(path)`` parses the header with bounds checks at every step (counts, string and array lengths, tensor
dimensions, types, offsets, alignment, overlaps, data past the end of the file) and raises :class:`GGUFError`
with a one-line message for anything truncated or malformed. Tensor data is not read; :func:`read_tensor_bytes`
fetches one tensor's raw bytes on demand. Each key/value pair also keeps its stored bytes (:attr:`GGUFHeader.kv`) so
the quantizer can copy metadata byte for byte, and long string arrays (vocabularies, merges) are only decoded when
read (:class:`converter.gguf_values.Metadata`), which keeps a 49k-token header at a few tens of milliseconds.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import gguf
import numpy as np

from .core.quant_types import QType
from .errors import GGUFError
from .gguf_values import VT, Cursor, LazyStrings, Metadata

GGUF_MAGIC = b"GGUF"
MAX_DIMS = 4  # GGML_MAX_DIMS


@dataclass(frozen=True)
class KV:
    """One metadata pair: its key and the bytes of the whole pair (key, type, value) exactly as stored."""

    key: str
    raw: bytes


@dataclass(frozen=True)
class GGUFTensorInfo:
    """One entry of the tensor table. ``shape`` is NumPy order (slowest first); ``ne`` is GGML order."""

    name: str
    ne: tuple[int, ...]
    qtype: QType
    offset: int  # absolute position of the data in the file
    nbytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(reversed(self.ne))

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.ne, dtype=np.int64))


@dataclass
class GGUFHeader:
    """A validated GGUF header."""

    path: Path
    version: int
    metadata: Metadata
    value_types: dict[str, VT]
    tensors: list[GGUFTensorInfo]
    alignment: int
    data_offset: int
    file_size: int
    kv: list[KV] = field(default_factory=list)  # every pair's stored bytes, in file order
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


def read_gguf(path: str | Path) -> GGUFHeader:
    """Parse and validate the header of the GGUF file ``path``; raise :class:`GGUFError` if it is malformed."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size < 24:
            raise GGUFError(f"not a GGUF file (only {size} bytes)", path=path)
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(Cursor(buf, size, path))
    except GGUFError:
        raise
    except IsADirectoryError:
        raise GGUFError("is a directory, not a GGUF file", path=path) from None
    except FileNotFoundError as exc:
        raise GGUFError("cannot read: file not found", path=path) from exc
    except OSError as exc:
        raise GGUFError(f"cannot read: {exc.strerror or exc}", path=path) from exc


def _parse(c: Cursor) -> GGUFHeader:
    if c.size < 24 or c.read(4, "magic") != GGUF_MAGIC:
        raise c.fail("not a GGUF file (bad magic)")
    version = c.u32("version")
    if version not in (2, 3):
        hint = " (big-endian files are not supported)" if version > 0xFFFF else ""
        raise c.fail(f"unsupported GGUF version {version}{hint}")
    n_tensors, n_kv = c.u64("tensor count"), c.u64("key/value count")
    if n_kv > c.size // 12 or n_tensors > c.size // 24:
        raise c.fail(f"header claims {n_tensors} tensors and {n_kv} keys, more than the file can hold")
    metadata = Metadata()
    types: dict[str, VT] = {}
    pairs: list[KV] = []
    for i in range(n_kv):
        start = c.pos
        key = c.name(f"key #{i}")
        if key in metadata:
            raise c.fail(f"duplicate metadata key {key!r}")
        vtype = c.u32(f"type of {key}")
        try:
            types[key] = VT(vtype)
        except ValueError:
            raise c.fail(f"{key}: unknown value type {vtype}") from None
        value = c.value(vtype, key, start)
        pairs.append(KV(key, c.buf[start:c.pos]))
        if isinstance(value, LazyStrings):
            value.raw = pairs[-1].raw
        metadata.add(key, value)
    alignment = metadata.get("general.alignment", gguf.GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise c.fail(f"general.alignment {alignment!r} is not a power of two")
    raw = [_tensor_entry(c, i) for i in range(n_tensors)]
    data_offset = -(-c.pos // alignment) * alignment
    tensors = _check_tensors(c, raw, data_offset, alignment)
    return GGUFHeader(c.path, version, metadata, types, tensors, alignment, data_offset, c.size, kv=pairs)


def _tensor_entry(c: Cursor, i: int) -> tuple[str, tuple[int, ...], int, int]:
    name = c.name(f"name of tensor #{i}")
    n_dims = c.u32(f"dimension count of {name}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise c.fail(f"tensor {name!r} has {n_dims} dimensions (1 to {MAX_DIMS} allowed)")
    ne = tuple(c.u64(f"shape of {name}") for _ in range(n_dims))
    return name, ne, c.u32(f"type of {name}"), c.u64(f"offset of {name}")


def _check_tensors(c: Cursor, raw, data_offset: int, alignment: int) -> list[GGUFTensorInfo]:
    tensors: list[GGUFTensorInfo] = []
    seen: set[str] = set()
    for name, ne, type_id, offset in raw:
        if name in seen:
            raise c.fail(f"duplicate tensor name {name!r}")
        seen.add(name)
        try:
            qtype = QType(type_id)
            block = qtype.block_elements
        except ValueError:
            raise c.fail(f"tensor {name!r} has unknown type {type_id}") from None
        if any(d > 1 << 62 for d in ne) or ne[0] % block:
            raise c.fail(f"tensor {name!r}: invalid shape {list(ne)} for {qtype.name}")
        nbytes = qtype.nbytes(ne)
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


def read_tensor_bytes(gf: GGUFHeader, info: GGUFTensorInfo) -> np.ndarray:
    """The raw bytes of tensor ``info`` (uint8, one row per GGML row: shape ``(n_rows, row_bytes)``)."""
    rows = info.n_elements // info.ne[0] if info.ne[0] else 0
    with open(gf.path, "rb") as f:
        f.seek(info.offset)
        data = f.read(info.nbytes)
    if len(data) != info.nbytes:
        raise GGUFError(f"truncated: tensor {info.name!r} data ends early", path=gf.path)
    return np.frombuffer(data, dtype=np.uint8).reshape(rows, -1) if rows else np.frombuffer(data, np.uint8)
