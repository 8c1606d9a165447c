"""Find the models already on disk: GGUF files in the models directory, checkpoints in the Hugging Face cache.

Plain Python (no Qt): the Models view runs :func:`scan_models` on a worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import gguf

from converter.errors import ConverterError
from converter.gguf_in import read_gguf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelEntry:
    """One model on disk."""

    name: str
    path: Path
    kind: str  # "gguf" or "checkpoint"
    quant: str  # "Q4_K_M", "F16", ... for GGUFs; the weights' dtype note for checkpoints
    size: int
    architecture: str = ""
    error: str = ""  # why the file could not be read (shown instead of a fit badge)

    @property
    def type_label(self) -> str:
        """Short text for the Type column."""
        if self.kind == "gguf":
            return f"GGUF {self.quant}".strip()
        return "HF checkpoint"


def file_type_name(value: object) -> str:
    """``general.file_type`` as a mix name (``15`` -> ``Q4_K_M``); "" when unknown."""
    try:
        name = gguf.LlamaFileType(int(value)).name  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""
    return name.replace("MOSTLY_", "").replace("ALL_", "")


def gguf_entry(path: Path) -> ModelEntry:
    """A GGUF file's entry; a corrupt file gets an entry with ``error`` set instead of raising."""
    size = path.stat().st_size
    try:
        gf = read_gguf(path)
    except (ConverterError, OSError) as exc:
        return ModelEntry(path.stem, path, "gguf", "", size, error=str(exc))
    name = str(gf.get("general.name") or path.stem)
    return ModelEntry(name if name == path.stem else f"{path.stem}", path, "gguf",
                      file_type_name(gf.get("general.file_type")), size, gf.architecture or "")


def _folder_size(folder: Path) -> int:
    total = 0
    for f in folder.iterdir():
        try:
            total += f.stat().st_size  # follows the snapshot's symlinks to the blobs
        except OSError:
            pass
    return total


def checkpoint_entries(hf_cache: Path) -> Iterable[ModelEntry]:
    """Downloaded checkpoints (a snapshot with config.json and safetensors) in the Hugging Face cache."""
    if not hf_cache.is_dir():
        return
    for repo in sorted(hf_cache.glob("models--*")):
        snaps = sorted((repo / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime, reverse=True)
        for snap in snaps:
            if (snap / "config.json").exists() and any(snap.glob("*.safetensors")):
                repo_id = repo.name[len("models--"):].replace("--", "/")
                yield ModelEntry(repo_id, snap, "checkpoint", "safetensors", _folder_size(snap))
                break
        for snap in snaps[:1]:
            for f in sorted(snap.glob("*.gguf")):
                yield gguf_entry(f)


def scan_models(models_dir: Path, hf_cache: Optional[Path] = None) -> list[ModelEntry]:
    """Every GGUF under ``models_dir`` (recursively) and every checkpoint in ``hf_cache``, GGUFs first."""
    found: list[ModelEntry] = []
    if models_dir.is_dir():
        for f in sorted(models_dir.rglob("*.gguf")):
            if not f.name.startswith("."):  # skip temporary files of an unfinished write
                found.append(gguf_entry(f))
    if hf_cache is not None:
        found.extend(checkpoint_entries(hf_cache))
    return found
