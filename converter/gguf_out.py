"""Converter output: collect the metadata with gguf-py's helpers, then stream the tensors one at a time.

``gguf.GGUFWriter.add_tensor`` keeps every tensor in memory until the end; instead :func:`write_gguf` registers
only the tensor *infos* (name, shape, type, byte size) with an in-memory ``GGUFWriter`` so the architectures and
the tokenizer can add their keys with gguf-py's ``add_*`` helpers (:func:`collect_metadata`), then writes header,
metadata and tensor-info table with :class:`converter.gguf_stream.GGUFStreamWriter` (the writer the quantizer
uses) and calls each :class:`OutputTensor`'s ``produce`` in turn, writing its bytes before producing the next.
The bytes are the ones gguf-py's writer would store. The file is written under a temporary name
(:func:`converter.atomic.atomic_output`) and appears only when complete, so an error or a cancel leaves nothing
behind.

:func:`write_general_metadata` fills the ``general.*`` keys from the model card and config (gguf-py's
``Metadata`` heuristics, as llama.cpp's converter does).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import gguf
import numpy as np

from .atomic import atomic_output
from .errors import OutputError
from .gguf_in import KV
from .gguf_stream import GGUFStreamWriter, OutTensor, encode_str
from .core.progress import CancelToken, Progress, ProgressCallback, check, emit
from .core.quant_types import QType

log = logging.getLogger(__name__)

MetadataFn = Callable[[gguf.GGUFWriter], None]


@dataclass(frozen=True)
class OutputTensor:
    """One tensor to write: GGUF ``name``, logical NumPy ``shape`` (row-major), GGML ``qtype``, and ``produce()``
    returning its encoded data (any dtype; exactly :attr:`nbytes` bytes, rows in order)."""

    name: str
    shape: tuple[int, ...]
    qtype: QType
    produce: Callable[[], np.ndarray]

    @property
    def ne(self) -> tuple[int, ...]:
        """GGML-order shape (row length first)."""
        return tuple(reversed(self.shape))

    @property
    def nbytes(self) -> int:
        """Encoded size in bytes."""
        return QType(self.qtype).nbytes(self.ne)


@dataclass
class CollectedMetadata:
    """The key/value pairs a metadata function added: encoded (as gguf-py stores them), decoded, and the data
    alignment they ask for."""

    kv: list[KV]
    values: dict[str, Any]
    alignment: int


def collect_metadata(arch: str, tensors: Sequence[OutputTensor], metadata: MetadataFn) -> CollectedMetadata:
    """Run ``metadata(writer)`` on an in-memory ``gguf.GGUFWriter`` that knows ``tensors``' infos (so
    ``writer.get_total_parameter_count()`` works) and return the pairs it added, encoded by gguf-py itself."""
    writer = gguf.GGUFWriter(None, arch)
    for t in tensors:
        writer.add_tensor_info(t.name, t.shape, np.dtype(np.float32), t.nbytes, raw_dtype=t.qtype)
    metadata(writer)
    kv, values = [], {}
    for key, val in writer.kv_data[0].items():
        raw = encode_str(key) + writer._pack_val(val.value, val.type, add_vtype=True, sub_type=val.sub_type)
        kv.append(KV(key, raw))
        values[key] = val.value
    return CollectedMetadata(kv, values, writer.data_alignment or gguf.GGUF_DEFAULT_ALIGNMENT)


def write_gguf(path: str | Path, arch: str, tensors: Sequence[OutputTensor], metadata: MetadataFn, *,
               stage: str = "write", progress: Optional[ProgressCallback] = None,
               cancel: Optional[CancelToken] = None) -> int:
    """Write a GGUF file for architecture ``arch`` at ``path``; returns its size in bytes.

    ``metadata(writer)`` adds the key/value pairs (see :func:`collect_metadata`). ``progress`` gets byte counts
    of tensor data written.
    """
    path = Path(path)
    names = set()
    for t in tensors:
        if t.name in names:
            raise OutputError(f"two tensors would both be named {t.name!r}", path=path)
        names.add(t.name)
    meta = collect_metadata(arch, tensors, metadata)
    total = sum(t.nbytes for t in tensors)
    started = time.monotonic()
    check(cancel)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            # every given dimension, as gguf-py's writer (and so llama.cpp's converter) stores them
            writer = GGUFStreamWriter(f, meta.kv, [OutTensor(t.name, t.ne, t.qtype) for t in tensors],
                                      alignment=meta.alignment, trim_dims=False)
            done = 0
            emit(progress, Progress(stage, 0, total, "bytes", "", started))
            for t in tensors:
                check(cancel)
                data = np.ascontiguousarray(t.produce())
                if data.nbytes != t.nbytes:
                    raise OutputError(f"tensor {t.name} produced {data.nbytes} bytes, expected {t.nbytes}",
                                      path=path)
                writer.write(data)
                del data
                done += t.nbytes
                emit(progress, Progress(stage, done, total, "bytes", t.name, started))
            writer.close()
            check(cancel)
        size = tmp.stat().st_size
    return size


def write_general_metadata(writer: gguf.GGUFWriter, model_dir: Optional[Path], *, name: Optional[str] = None,
                           source_repo: Optional[str] = None) -> None:
    """``general.type/name/basename/size_label/license/...`` from the model card (README front matter) and
    config.json, as llama.cpp's converter derives them; ``source_repo`` ("org/name") sets the source URL."""
    total, shared, expert, expert_count = writer.get_total_parameter_count()
    try:
        meta = gguf.Metadata.load(None, model_dir, None, total)
    except Exception as exc:  # a malformed model card must not stop a conversion
        log.warning("ignoring the model card of %s: %s", model_dir, exc)
        meta = gguf.Metadata()
    if source_repo:
        meta.name = meta.name or source_repo.split("/")[-1]
        meta.source_repo_url = meta.source_repo_url or f"https://huggingface.co/{source_repo}"
    if name:
        meta.name = name
    if meta.name is None:
        meta.name = model_dir.name if model_dir is not None else "model"
    if meta.size_label is None and total > 0:
        meta.size_label = gguf.size_label(total, shared, expert, expert_count)
    writer.add_type(gguf.GGUFType.MODEL)
    meta.set_gguf_meta_model(writer)
