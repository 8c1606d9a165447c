"""Make and describe GGUF files: convert a Hugging Face checkpoint (``kompakt convert``, the Quantize wizard) and
summarize a GGUF's metadata and tensors (``kompakt inspect``).

Plain Python (no Qt); the CLI and the GUI reach the converter through these functions.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from converter.core.progress import CancelToken, ProgressCallback

log = logging.getLogger(__name__)

#: Arrays longer than this are summarized (``{"array": "str", "length": 49152, "head": [...]}``) unless ``full``.
SHOWN_ITEMS = 8


def convert_checkpoint(source: str | Path, output: str | Path, out_type: str = "f16", *, name: Optional[str] = None,
                       progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None) -> Any:
    """Convert the checkpoint folder ``source`` to the GGUF ``output`` with tensor type or mix ``out_type``;
    returns the converter's ConvertResult (path, out_type, n_tensors, size, seconds, ...). A failure or a cancel
    leaves no file."""
    from converter.convert import convert

    log.info("converting %s to %s (%s)", source, output, out_type)
    result = convert(source, output, out_type, name=name, progress=progress, cancel=cancel)
    log.info("wrote %s: %d tensors, %d bytes in %.1f s", result.path, result.n_tensors, result.size, result.seconds)
    return result


@dataclass(frozen=True)
class GGUFSummary:
    """A GGUF file's header as plain, JSON-ready values."""

    path: str
    version: int
    size: int
    tensor_bytes: int
    type_counts: dict[str, int]  # tensor type name -> number of tensors, most common first
    metadata: dict[str, Any]
    tensors: list[dict[str, Any]] = field(default_factory=list)  # name, type, shape, bytes; empty if not asked

    @property
    def tensor_count(self) -> int:
        """Number of tensors in the file."""
        return sum(self.type_counts.values())

    def document(self) -> dict[str, Any]:
        """The summary as one JSON document (``kompakt inspect --json``)."""
        return {"file": self.path, "version": self.version, "size": self.size,
                "tensor_count": self.tensor_count, "tensor_bytes": self.tensor_bytes,
                "metadata": self.metadata, "tensors": self.tensors}


def _plain(value: Any, full: bool) -> Any:
    """A JSON-friendly value; long arrays are summarized unless ``full``."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        if not full and len(value) > SHOWN_ITEMS:
            kind = type(value[0]).__name__ if value else "item"
            return {"array": kind, "length": len(value), "head": [_plain(v, full) for v in value[:3]]}
        return [_plain(v, full) for v in value]
    return value


def describe_gguf(path: str | Path, *, full: bool = False, tensors: bool = True) -> GGUFSummary:
    """Read the header of the GGUF at ``path``; a corrupt or truncated file raises a one-line converter error."""
    from converter.gguf_in import read_gguf

    gf = read_gguf(path)
    counts = Counter(t.qtype.name for t in gf.tensors)
    table = [{"name": t.name, "type": t.qtype.name, "shape": list(t.ne), "bytes": t.nbytes}
             for t in gf.tensors] if tensors else []
    return GGUFSummary(str(gf.path), gf.version, gf.file_size, gf.tensor_bytes, dict(counts.most_common()),
                       {k: _plain(v, full) for k, v in gf.metadata.items()}, table)
