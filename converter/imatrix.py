"""Importance matrices: llama.cpp's per-column activation statistics that steer quantization.

For every weight matrix ``W`` used as ``W @ x``, an importance matrix holds the sum over the calibration tokens of
``x[j]**2`` for each input column ``j``, and the number of tokens summed. The quantizer weights each column's
rounding error by ``sum / count``.

Two file formats exist, both read here:

* GGUF (llama.cpp's current ``llama-imatrix`` output): for each matrix ``NAME`` two F32 tensors,
  ``NAME.in_sum2`` shaped ``(columns, n_mat)`` and ``NAME.counts`` shaped ``(1, n_mat)`` (``n_mat`` > 1 for MoE
  expert stacks), plus the keys ``general.type = "imatrix"``, ``imatrix.datasets``, ``imatrix.chunk_count`` and
  ``imatrix.chunk_size``.
* the legacy ``.dat`` binary (little-endian)::

      int32 n_entries
      n_entries x { int32 name_len, name bytes, int32 ncall, int32 n_values, float32 values[n_values] }
      optional: int32 chunk_count, int32 dataset_len, dataset bytes

  where ``values`` are already ``sum / count * ncall``.

:func:`write_imatrix` writes the GGUF format (and, on request, the legacy one).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from gguf import GGMLQuantizationType, GGUFValueType

from .atomic import atomic_output
from .errors import GGUFError
from .gguf_stream import GGUFStreamWriter, OutTensor, encode_kv, read_layout

SUM_SUFFIX = ".in_sum2"
COUNT_SUFFIX = ".counts"


class ImatrixError(GGUFError):
    """An importance-matrix file is malformed or does not match the model."""


@dataclass
class ImatrixEntry:
    """Statistics of one weight matrix: ``sums`` float32 ``(n_mat, columns)``, ``counts`` int64 ``(n_mat,)``."""

    sums: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        self.sums = np.ascontiguousarray(self.sums, dtype=np.float32)
        if self.sums.ndim == 1:
            self.sums = self.sums.reshape(1, -1)
        self.counts = np.asarray(self.counts, dtype=np.int64).reshape(-1)
        if self.sums.ndim != 2 or self.sums.shape[0] != self.counts.size:
            raise ImatrixError(f"sums of shape {self.sums.shape} do not match {self.counts.size} counts")


@dataclass
class ImportanceMatrix:
    """A whole importance matrix. ``legacy`` marks data read from a ``.dat`` file, whose sums are already
    normalized (``sum / count * ncall``) and whose single count is ``ncall``."""

    entries: dict[str, ImatrixEntry] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    chunk_count: int = 0
    chunk_size: int = 0
    legacy: bool = False

    def weights(self) -> dict[str, np.ndarray]:
        """Per-column importance for the quantizer, ``{tensor name: float32 (n_mat * columns,)}``, computed as
        llama-quantize does: ``sum / count`` per matrix (1 where a matrix saw no tokens; legacy: ``value / ncall``)."""
        out = {}
        for name, e in self.entries.items():
            if self.legacy:
                ncall = int(e.counts[0]) if e.counts.size else 0
                w = e.sums / np.float32(ncall) if ncall > 0 else e.sums.copy()
            else:
                counts = e.counts.astype(np.float32)[:, None]
                with np.errstate(divide="ignore", invalid="ignore"):
                    w = np.where(counts > 0, e.sums / np.where(counts > 0, counts, np.float32(1)), np.float32(1))
            out[name] = np.ascontiguousarray(w, dtype=np.float32).reshape(-1)
        return out


def read_imatrix(path: str | Path) -> ImportanceMatrix:
    """Read an importance matrix in either format (GGUF is recognized by its magic)."""
    path = Path(path)
    if not path.is_file():
        raise ImatrixError("importance matrix file not found", path=path)
    with open(path, "rb") as f:
        magic = f.read(4)
    im = _read_gguf(path) if magic == b"GGUF" else _read_legacy(path)
    for name, e in im.entries.items():
        if not np.isfinite(e.sums).all():
            raise ImatrixError(f"entry {name} contains NaN or infinite values", path=path)
    return im


def _read_gguf(path: Path) -> ImportanceMatrix:
    layout = read_layout(path)
    v = layout.values
    if v.get("general.type", "imatrix") != "imatrix":
        raise ImatrixError(f"this GGUF is a {v.get('general.type')!r}, not an importance matrix", path=path)
    if not layout.tensors:
        raise ImatrixError("the importance matrix holds no data", path=path)
    missing = [k for k in ("imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size") if k not in v]
    if missing:
        raise ImatrixError(f"missing imatrix metadata ({', '.join(missing)}); not an importance matrix?", path=path)
    pairs: dict[str, dict[str, object]] = {}
    for t in layout.tensors:
        for suffix in (SUM_SUFFIX, COUNT_SUFFIX):
            if t.name.endswith(suffix) and len(t.name) > len(suffix):
                pairs.setdefault(t.name[:-len(suffix)], {})[suffix] = t
    if not pairs:
        raise ImatrixError("no NAME.in_sum2 / NAME.counts tensors found", path=path)
    entries = {}
    with open(path, "rb") as f:
        for name, pair in sorted(pairs.items()):
            if len(pair) != 2:
                raise ImatrixError(f"mismatched sums and counts for {name}", path=path)
            sums_t, counts_t = pair[SUM_SUFFIX], pair[COUNT_SUFFIX]
            if sums_t.type != GGMLQuantizationType.F32 or counts_t.type != GGMLQuantizationType.F32:
                raise ImatrixError(f"sums and counts for {name} must be F32", path=path)
            sums = _read_f32(f, sums_t.offset, sums_t.nbytes)
            counts = _read_f32(f, counts_t.offset, counts_t.nbytes)
            if counts.size == 0 or sums.size % counts.size:
                raise ImatrixError(f"{name}: {sums.size} sums cannot be split over {counts.size} counts", path=path)
            # counts are stored as floats; llama.cpp rounds them to integers (half away from zero)
            rounded = np.sign(counts) * np.floor(np.abs(counts.astype(np.float64)) + 0.5)
            entries[name] = ImatrixEntry(sums.reshape(counts.size, -1), rounded.astype(np.int64))
    datasets = v.get("imatrix.datasets") or []
    return ImportanceMatrix(entries, [str(d) for d in datasets], int(v["imatrix.chunk_count"]),  # type: ignore
                            int(v["imatrix.chunk_size"]), legacy=False)  # type: ignore[arg-type]


def _read_f32(f, offset: int, nbytes: int) -> np.ndarray:
    f.seek(offset)
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise ImatrixError("truncated tensor data", path=getattr(f, "name", None))
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def _read_legacy(path: Path) -> ImportanceMatrix:
    data = path.read_bytes()
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise ImatrixError(f"truncated legacy importance matrix (at byte {pos})", path=path)
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out

    (n_entries,) = take("<i")
    if n_entries < 1:
        raise ImatrixError("not an importance matrix (no entries, or neither GGUF nor legacy .dat)", path=path)
    entries = {}
    for i in range(n_entries):
        (length,) = take("<i")
        if length < 0 or pos + length > len(data):
            raise ImatrixError(f"entry {i + 1}: bad name length {length}", path=path)
        try:
            name = data[pos:pos + length].decode("utf-8")
        except UnicodeDecodeError:
            raise ImatrixError(f"entry {i + 1}: name is not UTF-8 (not an importance matrix?)", path=path) from None
        pos += length
        ncall, nval = take("<ii")
        if nval < 1:
            raise ImatrixError(f"entry {name}: bad number of values {nval}", path=path)
        values = np.frombuffer(data, dtype="<f4", count=nval, offset=pos) if pos + 4 * nval <= len(data) else None
        if values is None:
            raise ImatrixError(f"entry {name}: truncated values", path=path)
        pos += 4 * nval
        entries[name] = ImatrixEntry(values.astype(np.float32).reshape(1, -1), [ncall])
    chunk_count, datasets = 0, []
    if pos + 4 <= len(data):
        (chunk_count,) = take("<i")
        if pos + 4 <= len(data):
            (length,) = take("<i")
            if length > 0 and pos + length <= len(data):
                datasets.append(data[pos:pos + length].decode("utf-8", "replace"))
    return ImportanceMatrix(entries, datasets, chunk_count, 0, legacy=True)


def write_imatrix(im: ImportanceMatrix, path: str | Path, *, legacy: bool = False) -> None:
    """Write ``im`` as llama.cpp's GGUF importance matrix (or its legacy ``.dat`` format), atomically."""
    with atomic_output(path) as tmp:
        if legacy:
            tmp.write_bytes(_legacy_bytes(im))
        else:
            _write_gguf(im, tmp)


def _raw(im: ImportanceMatrix) -> dict[str, ImatrixEntry]:
    """Entries as raw sums and token counts (legacy data is scaled back with its chunk size, as llama.cpp does)."""
    if not im.legacy:
        return im.entries
    scale = im.chunk_size or 512
    return {n: ImatrixEntry(e.sums * np.float32(scale), e.counts * scale) for n, e in im.entries.items()}


def _write_gguf(im: ImportanceMatrix, path: Path) -> None:
    entries = _raw(im)
    kv = [
        encode_kv("general.type", "imatrix", GGUFValueType.STRING),
        encode_kv("imatrix.datasets", im.datasets, GGUFValueType.ARRAY, GGUFValueType.STRING),
        encode_kv("imatrix.chunk_count", im.chunk_count, GGUFValueType.UINT32),
        encode_kv("imatrix.chunk_size", im.chunk_size or 512, GGUFValueType.UINT32),
    ]
    names = sorted(entries, key=lambda n: n.encode())
    tensors, blobs = [], []
    for name in names:
        e = entries[name]
        n_mat, n_cols = e.sums.shape
        tensors.append(OutTensor(name + SUM_SUFFIX, (n_cols, n_mat), GGMLQuantizationType.F32))
        tensors.append(OutTensor(name + COUNT_SUFFIX, (1, n_mat), GGMLQuantizationType.F32))
        blobs += [e.sums.astype("<f4"), e.counts.astype("<f4")]
    with open(path, "wb") as f:
        writer = GGUFStreamWriter(f, kv, tensors)
        for blob in blobs:
            writer.write(blob)
        writer.close()


def _legacy_bytes(im: ImportanceMatrix, chunk_size: Optional[int] = None) -> bytes:
    chunk = chunk_size or im.chunk_size or 512
    out = [struct.pack("<i", 0)]
    n = 0
    for name in sorted(im.entries, key=lambda s: s.encode()):
        e = im.entries[name]
        if e.counts.size == 0 or not (e.counts != 0).any():
            continue  # llama.cpp skips entries without data
        if im.legacy:
            ncall, values = int(e.counts[0]), e.sums.reshape(-1)
        else:
            ncall = int((int(e.counts.max()) + chunk - 1) // chunk)
            counts = e.counts.astype(np.float32)[:, None]
            sums = np.where(counts == 0, np.float32(1), e.sums)
            values = (sums / np.where(counts == 0, np.float32(1), counts)) * np.float32(ncall)
            values = values.astype(np.float32).reshape(-1)
        encoded = name.encode()
        out.append(struct.pack("<i", len(encoded)) + encoded + struct.pack("<ii", ncall, values.size))
        out.append(values.astype("<f4").tobytes())
        n += 1
    dataset = (im.datasets[-1] if im.datasets else "").encode()
    out.append(struct.pack("<ii", im.chunk_count, len(dataset)) + dataset)
    out[0] = struct.pack("<i", n)
    return b"".join(out)
