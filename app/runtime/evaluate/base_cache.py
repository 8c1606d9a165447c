"""On-disk cache of the base model's compressed log-probabilities, so each extra candidate costs one pass.

One folder per (base file identity, text, context size, storage format)::

    <cache>/eval-base/<key>/meta.json         what the key was made of (base path, size, mtime, text SHA-256, ...)
                           /tokens.npy        the text's tokens as the base tokenized them (candidates reuse them)
                           /chunk-00000.npz   the BaseRecord of chunk 0 (offsets, ids, logp, nll, top)

Chunks are stored one file each, written atomically, so a larger ``--chunks`` reuses the chunks already there and a
cancelled base pass keeps what it finished. The base file's identity is its resolved path, size and mtime: editing
or replacing it changes the key, and older entries for the same path are deleted when a new one is created.
Nothing here is ever unpickled (``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np

from converter.atomic import atomic_output

from .logprobs import KEEP_PROB, BaseRecord
from .text import EvalText

log = logging.getLogger(__name__)

#: Bump when the stored arrays or their meaning change.
FORMAT_VERSION = 1
_FIELDS = ("offsets", "ids", "logp", "nll", "top")


def default_cache_root() -> Path:
    """``eval-base`` in Kompakt's cache folder (``KOMPAKT_CACHE_DIR`` overrides it)."""
    from ..paths import cache_dir

    return cache_dir() / "eval-base"


def _llama_cpp_version() -> str:
    try:
        import llama_cpp

        return str(llama_cpp.__version__)
    except Exception:  # noqa: BLE001 - only part of a cache key
        return "unknown"


class BaseCache:
    """The cache entry of one base model evaluated on one text with one context size."""

    def __init__(self, base_path: str | Path, text: EvalText, n_ctx: int, *, root: Optional[Path] = None) -> None:
        path = Path(base_path).resolve()
        st = path.stat()
        self.identity = {
            "format": FORMAT_VERSION, "keep_prob": KEEP_PROB, "llama_cpp": _llama_cpp_version(),
            "base_path": str(path), "base_size": st.st_size, "base_mtime_ns": st.st_mtime_ns,
            "text_sha256": text.sha256, "n_ctx": n_ctx,
        }
        digest = hashlib.sha256(json.dumps(self.identity, sort_keys=True).encode()).hexdigest()[:24]
        self.root = Path(root) if root is not None else default_cache_root()
        self.dir = self.root / digest

    # -- tokens -------------------------------------------------------------------------------------------------
    def load_tokens(self) -> Optional[tuple[np.ndarray, dict]]:
        """``(tokens, meta)`` if this entry exists (``meta`` holds ``n_vocab`` and what :meth:`save_tokens` got)."""
        try:
            meta = json.loads((self.dir / "meta.json").read_text())
            tokens = np.load(self.dir / "tokens.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            if self.dir.exists():
                log.warning("ignoring unreadable evaluation cache %s: %s", self.dir, exc)
            return None
        if meta.get("identity") != self.identity or tokens.dtype != np.int32 or tokens.ndim != 1:
            return None
        return tokens, meta

    def save_tokens(self, tokens: np.ndarray, n_vocab: int, **info) -> None:
        """Create the entry (tokens + meta with ``info``), deleting stale entries of the same base file."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._prune_stale()
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_output(self.dir / "tokens.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(tokens, dtype=np.int32), allow_pickle=False)
        meta = {**info, "identity": self.identity, "n_vocab": int(n_vocab), "n_tokens": int(len(tokens))}
        with atomic_output(self.dir / "meta.json") as tmp:
            tmp.write_text(json.dumps(meta, indent=1))

    def _prune_stale(self) -> None:
        for entry in self.root.iterdir():
            if entry == self.dir or not entry.is_dir():
                continue
            try:
                ident = json.loads((entry / "meta.json").read_text()).get("identity", {})
            except (OSError, ValueError):
                continue
            if ident.get("base_path") == self.identity["base_path"] and (
                    ident.get("base_size"), ident.get("base_mtime_ns")) != (
                    self.identity["base_size"], self.identity["base_mtime_ns"]):
                log.info("removing stale evaluation cache %s (base file changed)", entry)
                shutil.rmtree(entry, ignore_errors=True)

    # -- chunks -------------------------------------------------------------------------------------------------
    def _chunk_path(self, index: int) -> Path:
        return self.dir / f"chunk-{index:05d}.npz"

    def has_chunk(self, index: int) -> bool:
        """True if chunk ``index`` is stored."""
        return self._chunk_path(index).is_file()

    def load_chunk(self, index: int) -> Optional[BaseRecord]:
        """The stored record of chunk ``index``, or None if missing or unreadable."""
        path = self._chunk_path(index)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                record = BaseRecord(**{name: z[name] for name in _FIELDS})
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            log.warning("ignoring unreadable cached chunk %s: %s", path, exc)
            return None
        if record.offsets.shape != (record.n_positions + 1,) or record.offsets[-1] != record.ids.size:
            log.warning("ignoring inconsistent cached chunk %s", path)
            return None
        return record

    def save_chunk(self, index: int, record: BaseRecord) -> None:
        """Store chunk ``index`` atomically."""
        with atomic_output(self._chunk_path(index)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **record.arrays())


def cache_size(root: Optional[Path] = None) -> int:
    """Bytes used by the evaluation cache."""
    root = Path(root) if root is not None else default_cache_root()
    if not root.is_dir():
        return 0
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def clear_cache(root: Optional[Path] = None) -> int:
    """Delete every cached base evaluation; return the bytes freed."""
    root = Path(root) if root is not None else default_cache_root()
    freed = cache_size(root)
    if root.is_dir():
        shutil.rmtree(root, ignore_errors=True)
    return freed
