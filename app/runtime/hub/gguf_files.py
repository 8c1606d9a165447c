"""Ready-made GGUF files in a Hub repo, with the quant type read from each file name (``...-Q4_K_M.gguf``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional

from converter.core.progress import CancelToken

from ._client import DEFAULT_RETRY, RetryPolicy
from .info import RepoFile, model_info

# Quant names as llama.cpp and the common uploaders spell them: Q4_K_M, Q8_0, IQ2_XXS, IQ4_NL, Q4_0_4_4, TQ1_0,
# MXFP4_MOE, BF16, F16, Unsloth's UD-Q4_K_XL ... Matched case-insensitively between non-alphanumeric characters.
_QUANT = re.compile(
    r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q[1-8]_(?:K(?:_(?:XXS|XS|XL|S|M|L))?|[01](?:_[48]_[48])?|XXS|XS|NL|S|M|L)"
    r"|TQ[12]_0|MXFP4(?:_MOE)?|BF16|FP16|FP32|F16|F32))(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class HubGGUFModel:
    """One downloadable GGUF model: a single file, or the shards of a split file taken together."""

    name: str
    quant: Optional[str]
    size: Optional[int]
    files: tuple[str, ...]
    projector: bool = False

    @property
    def is_split(self) -> bool:
        """True when the model is split into several ``-0000k-of-0000n.gguf`` files."""
        return len(self.files) > 1


def quant_type_from_name(filename: str) -> Optional[str]:
    """The quant type written in a GGUF file name, upper-cased (``model.q4_k_m.gguf`` -> ``Q4_K_M``), or None."""
    base = filename.rsplit("/", 1)[-1]
    base = _SPLIT.sub(".gguf", base)
    stem = base[:-5] if base.lower().endswith(".gguf") else base
    matches = _QUANT.findall(stem)
    if not matches:
        # the folder may carry it: "Q4_K_M/Model-00001-of-00002.gguf"
        matches = _QUANT.findall(filename.rsplit("/", 1)[0]) if "/" in filename else []
    if not matches:
        return None
    quant = matches[-1].upper()
    return {"FP16": "F16", "FP32": "F32"}.get(quant, quant)


def gguf_files(files: Iterable[RepoFile]) -> list[HubGGUFModel]:
    """Group a repo's ``.gguf`` files (split shards together) and label them with their quant type.

    Sorted by size, smallest first; projector files (``mmproj``, for vision models) come last.
    """
    groups: dict[str, list[RepoFile]] = {}
    for f in files:
        if not f.name.lower().endswith(".gguf"):
            continue
        key = _SPLIT.sub(".gguf", f.name)
        groups.setdefault(key, []).append(f)
    out = []
    for key, members in groups.items():
        members.sort(key=lambda f: f.name)
        sizes = [m.size for m in members]
        out.append(HubGGUFModel(
            name=members[0].name,
            quant=quant_type_from_name(key),
            size=None if any(s is None for s in sizes) else sum(sizes),  # type: ignore[arg-type]
            files=tuple(m.name for m in members),
            projector="mmproj" in key.lower(),
        ))
    out.sort(key=lambda g: (g.projector, g.size if g.size is not None else float("inf"), g.name))
    return out


def list_gguf_files(repo_id: str, revision: str | None = None, token: str | bool | None = None, *,
                    cancel: Optional[CancelToken] = None, retry: RetryPolicy = DEFAULT_RETRY) -> list[HubGGUFModel]:
    """List the ready-made GGUF files of a Hub repo with quant type and size (one API call)."""
    details = model_info(repo_id, revision, token, check_support=False, cancel=cancel, retry=retry)
    return gguf_files(details.files)
