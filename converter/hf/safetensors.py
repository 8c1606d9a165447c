"""Read ``*.safetensors`` files lazily, validating the header before trusting any of it.

Layout: 8 bytes little-endian header length ``N``, ``N`` bytes of JSON (``{name: {dtype, shape, data_offsets}}``
plus an optional ``__metadata__`` map of strings), then the tensor bytes; ``data_offsets`` are relative to the end
of the header.

Tensors are read one at a time with positional reads into a fresh array rather than through a memory map: a
mapped file's touched pages count toward the process's resident memory until the kernel reclaims them, so reading
a whole model through a map makes the RSS grow to the model's size. Positional reads keep the peak near the
largest tensor. BF16 (which NumPy lacks) is widened to float32 chunk by chunk while reading.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import CheckpointError

#: Largest header we accept (the safetensors format itself caps headers at 100 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024

#: dtype name -> (NumPy storage dtype, bytes per element). BF16 is stored as uint16 and widened on load.
DTYPES: dict[str, tuple[np.dtype, int]] = {
    "F64": (np.dtype("<f8"), 8), "F32": (np.dtype("<f4"), 4), "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2), "I64": (np.dtype("<i8"), 8), "I32": (np.dtype("<i4"), 4),
    "I16": (np.dtype("<i2"), 2), "I8": (np.dtype("i1"), 1), "U8": (np.dtype("u1"), 1),
    "BOOL": (np.dtype("?"), 1),
}
#: dtypes holding floating-point weights that :meth:`SafetensorsFile.load` returns as float32.
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})

_CHUNK_ELEMS = 1 << 22  # BF16 widening works on 4 Mi elements (8 MiB read buffer) at a time


@dataclass(frozen=True)
class SafetensorsTensor:
    """Where one tensor lives: its file, dtype, shape and absolute byte range."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    path: Path
    offset: int  # absolute position in the file
    nbytes: int

    @property
    def n_elements(self) -> int:
        """Number of values in the tensor."""
        return math.prod(self.shape)


class SafetensorsFile:
    """One validated ``.safetensors`` file: ``tensors`` (name -> :class:`SafetensorsTensor`), ``metadata``, ``load``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.tensors, self.metadata = read_header(self.path)

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def load(self, name: str) -> np.ndarray:
        """Read tensor ``name``; float dtypes come back as float32, others in their own dtype."""
        return load_tensor(self.tensors[name])


def read_header(path: Path) -> tuple[dict[str, SafetensorsTensor], dict[str, str]]:
    """Parse and validate the header of ``path``; raise :class:`CheckpointError` on any inconsistency."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError("not a safetensors file (shorter than its 8-byte header length)", path=path)
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise CheckpointError(f"header length {n} exceeds the file size {size} (truncated or corrupt)",
                                      path=path)
            if n > MAX_HEADER_BYTES:
                raise CheckpointError(f"header length {n} is larger than the 100 MB the format allows", path=path)
            raw = f.read(n)
    except CheckpointError:
        raise
    except OSError as exc:
        raise CheckpointError(f"cannot read: {exc.strerror or exc}", path=path) from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"header is not valid JSON ({exc})", path=path) from None
    if not isinstance(header, dict):
        raise CheckpointError("header is not a JSON object", path=path)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError("__metadata__ is not a JSON object", path=path)
    data_start = 8 + n
    data_size = size - data_start
    tensors = {name: _parse_entry(path, name, entry, data_start, data_size) for name, entry in header.items()}
    _check_no_overlap(path, tensors.values(), data_start)
    return tensors, {str(k): str(v) for k, v in metadata.items()}


def _parse_entry(path: Path, name: str, entry: object, data_start: int, data_size: int) -> SafetensorsTensor:
    if not isinstance(entry, dict):
        raise CheckpointError(f"tensor {name!r}: header entry is not an object", path=path)
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPES:
        raise CheckpointError(f"tensor {name!r}: unsupported dtype {dtype!r} "
                              f"(supported: {', '.join(DTYPES)})", path=path)
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise CheckpointError(f"tensor {name!r}: invalid shape {shape!r}", path=path)
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise CheckpointError(f"tensor {name!r}: invalid data_offsets {offsets!r}", path=path)
    begin, end = offsets
    expected = math.prod(shape) * DTYPES[dtype][1]
    if end - begin != expected:
        raise CheckpointError(f"tensor {name!r}: {end - begin} bytes for shape {shape} of {dtype} "
                              f"(expected {expected})", path=path)
    if end > data_size:
        raise CheckpointError(f"tensor {name!r} ends at byte {data_start + end} past the end of the file "
                              f"({data_start + data_size} bytes; truncated?)", path=path)
    return SafetensorsTensor(name, dtype, tuple(shape), path, data_start + begin, end - begin)


def _check_no_overlap(path: Path, infos, data_start: int) -> None:
    previous_end, previous_name = data_start, None
    for info in sorted(infos, key=lambda t: (t.offset, t.nbytes)):
        if info.offset < previous_end and info.nbytes:
            raise CheckpointError(f"tensors {previous_name!r} and {info.name!r} overlap in the data section",
                                  path=path)
        if info.nbytes:
            previous_end, previous_name = info.offset + info.nbytes, info.name


def load_tensor(info: SafetensorsTensor) -> np.ndarray:
    """Read one tensor from disk. Float dtypes (F64/F32/F16/BF16) return float32; others their own dtype."""
    storage, _ = DTYPES[info.dtype]
    count = info.n_elements
    try:
        with open(info.path, "rb", buffering=0) as f:
            if info.dtype == "BF16":
                out = _read_bf16(f, info.offset, count)
            else:
                out = np.empty(count, dtype=storage)
                _read_exact(f, info.offset, memoryview(out).cast("B"))
    except OSError as exc:
        raise CheckpointError(f"cannot read tensor {info.name!r}: {exc.strerror or exc}", path=info.path) from exc
    out = out.reshape(info.shape)
    if info.dtype in ("F16", "F64"):
        out = out.astype(np.float32)
    return out


def _read_bf16(f, offset: int, count: int) -> np.ndarray:
    """Read ``count`` bfloat16 values at ``offset`` into float32 (bits << 16), one bounded chunk at a time."""
    out = np.empty(count, dtype=np.uint32)
    buf = np.empty(min(count, _CHUNK_ELEMS), dtype=np.uint16)
    for start in range(0, count, _CHUNK_ELEMS):
        n = min(_CHUNK_ELEMS, count - start)
        chunk = buf[:n]
        _read_exact(f, offset + 2 * start, memoryview(chunk).cast("B"))
        dst = out[start:start + n]
        np.copyto(dst, chunk)
        np.left_shift(dst, 16, out=dst)
    return out.view(np.float32)


def _read_exact(f, offset: int, view: memoryview) -> None:
    got = 0
    total = len(view)
    while got < total:
        n = os.preadv(f.fileno(), [view[got:]], offset + got) if hasattr(os, "preadv") else _seek_read(
            f, offset + got, view[got:])
        if n == 0:
            raise OSError(0, "unexpected end of file (was it truncated after opening?)")
        got += n


def _seek_read(f, offset: int, view: memoryview) -> int:
    f.seek(offset)
    return f.readinto(view)
