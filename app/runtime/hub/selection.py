"""Which files of a repo a download fetches: the safetensors weights and the small files the converter reads.

Never PyTorch pickles (``.bin``, ``.pt``, ``.pth``) unless the user insists (``allow_pickle``), and then only when
the repo has no safetensors: Kompakt never unpickles them anyway, the converter refuses them.
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Iterable, Optional, Sequence

from app.runtime.errors import HubNotFoundError, UnsupportedModelError

INDEX_FILE = "model.safetensors.index.json"
CONFIG_FILES = ("config.json", "generation_config.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                   "added_tokens.json", "chat_template.jinja")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")
PICKLE_INDEX = "pytorch_model.bin.index.json"


def _root(name: str) -> bool:
    return "/" not in name


def is_pickle(name: str) -> bool:
    """True for PyTorch pickle weight files."""
    return name.lower().endswith(PICKLE_SUFFIXES)


def safetensors_weights(names: Sequence[str], shards: Optional[Iterable[str]] = None) -> list[str]:
    """The checkpoint's safetensors files: the index's shards, else ``model.safetensors``, else root-level ones.

    (Some repos also carry e.g. ``consolidated.safetensors`` for another runtime; the index or the canonical name
    keeps us from downloading the weights twice.)
    """
    if shards is not None:
        wanted = list(dict.fromkeys(shards))
        missing = [s for s in wanted if s not in names]
        if missing:
            raise HubNotFoundError(f"{INDEX_FILE} lists shards the repo does not have: {', '.join(missing[:3])}")
        return wanted
    if "model.safetensors" in names:
        return ["model.safetensors"]
    return sorted(n for n in names if _root(n) and n.endswith(".safetensors"))


def select_files(names: Sequence[str], *, shards: Optional[Iterable[str]] = None,
                 include: Optional[Sequence[str]] = None, allow_pickle: bool = False,
                 repo_id: str = "the repo") -> list[str]:
    """Choose the files to download from the repo's file list ``names``.

    ``shards`` are the shard names from ``model.safetensors.index.json`` when the repo has one. ``include`` (glob
    patterns) narrows the choice, and may also pick ready-made ``.gguf`` files. Raises
    :class:`UnsupportedModelError` for a repo with nothing we can use, :class:`HubNotFoundError` when ``include``
    matches nothing.
    """
    present = set(names)
    weights = safetensors_weights(names, shards)
    small = [n for n in (INDEX_FILE, *CONFIG_FILES, *TOKENIZER_FILES) if n in present]
    pickles = sorted(n for n in names if _root(n) and (is_pickle(n) or n == PICKLE_INDEX))
    gguf = sorted(n for n in names if n.lower().endswith(".gguf"))
    if not weights and pickles and allow_pickle:
        weights = pickles
    candidates = weights + small
    if include:
        chosen = [n for n in candidates + gguf if any(fnmatch(n, p) for p in include)]
        if not chosen:
            if not allow_pickle and any(fnmatch(n, p) for n in pickles for p in include):
                raise UnsupportedModelError(f"{repo_id}: the files you asked for are PyTorch pickles (.bin/.pt/.pth), "
                                            "which Kompakt never downloads or loads; use --allow-pickle to fetch "
                                            "them anyway", repo_id=repo_id)
            raise HubNotFoundError(f"no file of {repo_id} matches {', '.join(include)}", repo_id=repo_id)
        return list(dict.fromkeys(chosen))
    if not weights:
        if pickles:
            raise UnsupportedModelError(f"{repo_id} only has PyTorch pickle weights (.bin/.pt/.pth), which Kompakt "
                                        "does not load for safety; look for a safetensors version of this model",
                                        repo_id=repo_id)
        if gguf:
            raise UnsupportedModelError(f"{repo_id} has no safetensors weights, only ready-made GGUF files: pick one "
                                        "with --include (e.g. --include '*Q4_K_M.gguf')", repo_id=repo_id)
        raise UnsupportedModelError(f"{repo_id} has no safetensors weights", repo_id=repo_id)
    return candidates
