"""Turn what a user typed or dropped -- a folder, a GGUF file, a Hub repo id or URL -- into a model source.

A local folder or a local GGUF is always accepted as it is (no network, no architecture check here); anything
else must look like a Hub repo: ``owner/name``, ``owner/name@revision``, ``hf://owner/name`` or
``https://huggingface.co/owner/name[/tree/revision]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union
from urllib.parse import unquote, urlsplit

from app.runtime.errors import SourceError

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class LocalFolder:
    """A checkpoint folder on disk (config.json + safetensors + tokenizer), e.g. a snapshot or a training output."""

    path: Path


@dataclass(frozen=True)
class LocalGGUF:
    """A GGUF file on disk."""

    path: Path


@dataclass(frozen=True)
class HubRepo:
    """A model repo on the Hugging Face Hub, at ``revision`` (None = the default branch)."""

    repo_id: str
    revision: Optional[str] = None


Source = Union[LocalFolder, LocalGGUF, HubRepo]


def _is_gguf(path: Path) -> bool:
    if path.suffix.lower() == ".gguf":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _parse_repo(text: str) -> Optional[HubRepo]:
    revision = None
    if text.startswith("hf://"):
        text = text[len("hf://"):]
        if text.startswith("models/"):
            text = text[len("models/"):]
    elif text.startswith(("http://", "https://")):
        parts = [unquote(p) for p in urlsplit(text).path.split("/") if p]
        if len(parts) < 2 or parts[0] in ("datasets", "spaces"):
            return None
        if len(parts) >= 4 and parts[2] in ("tree", "resolve", "blob"):
            revision = parts[3]
        text = "/".join(parts[:2])
    if "@" in text:
        text, revision = text.split("@", 1)
        revision = revision or None
    text = text.strip("/")
    return HubRepo(text, revision) if _REPO_ID.match(text) and ".." not in text else None


def resolve_source(text: str) -> Source:
    """Classify ``text`` as a :class:`LocalFolder`, :class:`LocalGGUF` or :class:`HubRepo`.

    An existing local path always wins (``owner/name`` that exists on disk is a folder). Raises :class:`SourceError`
    with a one-line explanation otherwise.
    """
    raw = text.strip().strip('"').strip("'")
    if not raw:
        raise SourceError("no model given: enter a folder, a .gguf file, or a Hugging Face repo id (owner/name)")
    path = Path(raw).expanduser()
    if path.is_dir():
        return LocalFolder(path.resolve())
    if path.is_file():
        if _is_gguf(path):
            return LocalGGUF(path.resolve())
        if path.name == "config.json":
            return LocalFolder(path.parent.resolve())
        raise SourceError("not a GGUF file nor a model folder", path=path)
    repo = _parse_repo(raw)
    if repo is not None:
        return repo
    if raw.lower().endswith(".gguf") or "\\" in raw or raw.startswith((".", "/", "~")):
        raise SourceError("no such file or folder", path=raw)
    raise SourceError(f"{raw!r} is neither a local folder or .gguf file nor a Hugging Face repo id (owner/name)")
