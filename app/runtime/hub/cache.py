"""huggingface_hub's standard cache layout, so what we download is shared with every other Hugging Face tool.

::

    <HF_HUB_CACHE>/models--<owner>--<name>/
        blobs/<etag>                 file contents, named by their ETag (sha256 for LFS files, git oid otherwise)
        blobs/<etag>.incomplete      a download in progress; resumed with an HTTP Range request
        snapshots/<commit>/<path>    relative symlink to ../../blobs/<etag> (a copy where symlinks are impossible)
        refs/<branch or tag>         the commit hash the branch pointed to when we downloaded
    <HF_HUB_CACHE>/.locks/models--<owner>--<name>/<etag>.lock
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Optional

from huggingface_hub import constants

from app.runtime.paths import hf_hub_cache

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_ETAG_RE = re.compile(r"^[0-9A-Za-z_-][0-9A-Za-z_.-]{0,127}$")


def is_safe_etag(etag: str) -> bool:
    """True if a server-sent ETag can name a blob file (hex in practice; never a path)."""
    return bool(_ETAG_RE.match(etag))


def repo_folder(repo_id: str, cache_dir: Path | None = None) -> Path:
    """``<cache>/models--owner--name``."""
    return (cache_dir or hf_hub_cache()) / ("models--" + repo_id.replace("/", "--"))


def lock_path(repo_id: str, etag: str, cache_dir: Path | None = None) -> Path:
    """The lock file huggingface_hub takes while writing ``blobs/<etag>``."""
    cache = cache_dir or hf_hub_cache()
    return cache / ".locks" / repo_folder(repo_id, cache).name / f"{etag}.lock"


def blob_path(repo_id: str, etag: str, cache_dir: Path | None = None) -> Path:
    """``blobs/<etag>``; ``ValueError`` for an ETag that is not a plain file name."""
    if not is_safe_etag(etag):
        raise ValueError(f"refusing unsafe ETag from the server: {etag[:80]!r}")
    return repo_folder(repo_id, cache_dir) / "blobs" / etag


def snapshot_dir(repo_id: str, commit: str, cache_dir: Path | None = None) -> Path:
    """``snapshots/<commit>``."""
    return repo_folder(repo_id, cache_dir) / "snapshots" / commit


def safe_relative(filename: str) -> Path:
    """A repo path as a relative local path; refuses absolute paths and ``..`` (a hostile file list)."""
    parts = filename.split("/")
    if not filename or filename.startswith("/") or any(p in ("", ".", "..") or "\\" in p for p in parts):
        raise ValueError(f"refusing unsafe file name in repo: {filename!r}")
    return Path(*parts)


def link_into_snapshot(blob: Path, pointer: Path, *, new_blob: bool) -> None:
    """Point ``pointer`` at ``blob`` with a relative symlink; move (new blob) or copy it where symlinks fail."""
    pointer.parent.mkdir(parents=True, exist_ok=True)
    if pointer.is_symlink() or pointer.exists():
        pointer.unlink()
    if not constants.HF_HUB_DISABLE_SYMLINKS:  # the user's choice for every Hugging Face tool
        try:
            os.symlink(os.path.relpath(blob, pointer.parent), pointer)
            return
        except OSError:  # Windows without developer mode, some network file systems
            pass
    if new_blob:
        shutil.move(str(blob), str(pointer))
    else:
        shutil.copyfile(blob, pointer)


def write_ref(repo_id: str, revision: str, commit: str, cache_dir: Path | None = None) -> None:
    """Record that branch/tag ``revision`` points at ``commit`` (nothing to do when it is the commit itself)."""
    if revision == commit:
        return
    ref = repo_folder(repo_id, cache_dir) / "refs" / safe_relative(revision)
    ref.parent.mkdir(parents=True, exist_ok=True)
    if ref.is_file() and ref.read_text() == commit:
        return
    tmp = ref.with_name(f".{ref.name}.{os.getpid()}.tmp")
    tmp.write_text(commit)
    os.replace(tmp, ref)


def resolve_commit(repo_id: str, revision: str | None, cache_dir: Path | None = None) -> Optional[str]:
    """The commit a revision points to in the local cache, or None if we never downloaded it."""
    revision = revision or "main"
    if COMMIT_RE.match(revision):
        return revision
    ref = repo_folder(repo_id, cache_dir) / "refs" / revision
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def snapshot_is_complete(folder: Path) -> bool:
    """True if ``folder`` holds a usable checkpoint: config.json and every safetensors shard, or a GGUF file."""
    if not folder.is_dir():
        return False
    if any(p.suffix.lower() == ".gguf" and p.exists() for p in folder.rglob("*.gguf")):
        return True
    if not (folder / "config.json").exists():
        return False
    index = folder / "model.safetensors.index.json"
    if index.exists():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return bool(shards) and all((folder / s).exists() for s in shards)
    return (folder / "model.safetensors").exists()


def local_snapshot(repo_id: str, revision: str | None = None, cache_dir: Path | None = None) -> Optional[Path]:
    """A complete snapshot of ``repo_id`` at ``revision`` already in the cache (usable offline), or None."""
    commit = resolve_commit(repo_id, revision, cache_dir)
    if commit is None:
        return None
    folder = snapshot_dir(repo_id, commit, cache_dir)
    return folder if snapshot_is_complete(folder) else None
