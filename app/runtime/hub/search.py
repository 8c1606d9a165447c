"""Search the Hub for text-generation models, with what the UI needs to pick one."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal, Optional

from app.runtime.errors import HubError
from converter.core.progress import CancelToken

from ._client import DEFAULT_RETRY, RetryPolicy, api, require_online, with_retries
from .info import license_of, parameters_of, support_of
from .support import architecture_name

log = logging.getLogger(__name__)

SortKey = Literal["downloads", "trending", "likes", "updated"]
#: Our sort names -> huggingface_hub's ``list_models(sort=...)`` values (the installed client's ModelSort_T).
SORTS: dict[str, str] = {"downloads": "downloads", "trending": "trending_score", "likes": "likes",
                         "updated": "last_modified"}
_EXPAND = ["downloads", "likes", "gated", "pipeline_tag", "safetensors", "cardData", "tags", "trendingScore",
           "config", "library_name"]


@dataclass(frozen=True)
class ModelSummary:
    """One search result."""

    repo_id: str
    parameters: Optional[int]
    license: Optional[str]
    gated: bool
    pipeline_tag: Optional[str]
    downloads: Optional[int]
    likes: Optional[int]
    trending_score: Optional[float]
    architecture: Optional[str]
    #: Whether our converter knows the architecture; None when it could not be told (GGUF-only, gated, no config).
    supported: Optional[bool]
    is_gguf: bool


def _summary(info) -> ModelSummary:
    tags = list(info.tags or [])
    return ModelSummary(
        repo_id=info.id,
        parameters=parameters_of(info.safetensors),
        license=license_of(info.card_data, tags),
        gated=bool(info.gated),
        pipeline_tag=info.pipeline_tag,
        downloads=info.downloads,
        likes=info.likes,
        trending_score=info.trending_score,
        architecture=architecture_name(info.config),
        supported=None,
        is_gguf="gguf" in tags or info.library_name == "gguf",
    )


def search_models(query: str, *, sort: SortKey = "downloads", limit: int = 20, gguf: bool = False,
                  token: str | bool | None = None, check_support: bool = True,
                  pipeline_tag: Optional[str] = "text-generation",
                  cancel: Optional[CancelToken] = None, retry: RetryPolicy = DEFAULT_RETRY) -> list[ModelSummary]:
    """Text search over text-generation models, best first by ``sort`` (``downloads`` or ``trending``, ...).

    ``gguf=True`` returns repos with ready-made GGUF files instead; ``pipeline_tag=None`` drops the
    text-generation filter (GGUF uploads of multimodal models carry other tags). With ``check_support`` each non-GGUF result's
    config.json (a few KB) is fetched to ask our converter whether it knows the architecture; the Hub's answer
    for gated models without a token is "unknown" (``supported=None``).
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: choose one of {', '.join(SORTS)}")
    if limit < 1:
        raise ValueError("limit must be at least 1")
    require_online()

    def call() -> list:
        return list(api(token).list_models(search=query or None, pipeline_tag=pipeline_tag,
                                           filter="gguf" if gguf else None, sort=SORTS[sort],  # type: ignore[arg-type]
                                           limit=limit, expand=_EXPAND))  # type: ignore[arg-type]

    results = [_summary(i) for i in with_retries(call, what=f"search {query!r}", policy=retry, cancel=cancel)]
    if not check_support:
        return results

    def with_support(result: ModelSummary) -> ModelSummary:
        if result.is_gguf:
            return result
        try:
            arch, supported, _problem = support_of(result.repo_id, None, token, retry=retry)
        except HubError as exc:  # one unreadable config must not sink the whole search
            log.info("cannot check %s: %s", result.repo_id, exc)
            return result
        return replace(result, architecture=arch or result.architecture, supported=supported)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(with_support, results))
