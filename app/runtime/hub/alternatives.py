"""Before anything is downloaded: can Kompakt convert this repo, and if not, what can the user take instead?

:func:`support_report` is the one answer the CLI (``kompakt info``) and the wizard's source page show: whether our
converter knows the repo's architecture, and when it does not, the closest alternatives -- ready-made GGUF repos of
the same model, found by searching the Hub for the model's name among repos tagged ``gguf`` -- and the list of
architectures the converter does support.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from app.runtime.errors import HubError
from converter.core.progress import CancelToken, check

from ._client import DEFAULT_RETRY, RetryPolicy
from .info import ModelDetails, model_info
from .search import ModelSummary, search_models

log = logging.getLogger(__name__)

#: Most name prefixes tried when searching for GGUF uploads of a model (``A-B-C-D``, ``A-B-C``, ``A-B``).
MAX_QUERIES = 3
#: GGUF repos named in a report.
MAX_ALTERNATIVES = 3


@dataclass(frozen=True)
class SupportReport:
    """What the app says about a repo before downloading it."""

    repo_id: str
    architecture: Optional[str]
    #: True: the converter takes it; False: it does not; None: cannot be told (gated, no config.json).
    supported: Optional[bool]
    #: One sentence: the verdict and, when not supported, why.
    verdict: str
    #: Ready-made GGUF repos of the same model, best first (only when ``supported`` is False).
    alternatives: tuple[ModelSummary, ...] = ()
    #: The Hugging Face architecture names the converter accepts (only when ``supported`` is False).
    supported_architectures: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The report as short lines of plain text, verdict first."""
        out = [self.verdict]
        if self.supported is False:
            if self.alternatives:
                named = ", ".join(f"{a.repo_id} ({a.downloads or 0:,} downloads)" for a in self.alternatives)
                out.append(f"Ready-made GGUF of this model: {named}")
            else:
                out.append("No ready-made GGUF of this model was found on the Hub.")
            out.append("Supported architectures: " + ", ".join(self.supported_architectures))
        return out


def family_queries(repo_id: str) -> list[str]:
    """Search words for GGUF uploads of ``repo_id``'s model, most specific first.

    ``Qwen/Qwen3-30B-A3B-Instruct-2507`` -> ``Qwen3-30B-A3B-Instruct-2507``, ``Qwen3-30B-A3B-Instruct``,
    ``Qwen3-30B-A3B``; a prefix is never shorter than two ``-`` parts (unless the name has one).
    """
    parts = repo_id.rsplit("/", 1)[-1].split("-")
    shortest = min(2, len(parts))
    return ["-".join(parts[:n]) for n in range(len(parts), shortest - 1, -1)][:MAX_QUERIES]


def gguf_alternatives(repo_id: str, token: str | bool | None = None, *, limit: int = MAX_ALTERNATIVES,
                      cancel: Optional[CancelToken] = None, retry: RetryPolicy = DEFAULT_RETRY) -> list[ModelSummary]:
    """Ready-made GGUF repos of ``repo_id``'s model: the first name prefix with matches wins (see
    :func:`family_queries`); repos of the same owner first, then by downloads. Empty when the search fails."""
    owner = repo_id.split("/", 1)[0].lower() if "/" in repo_id else ""
    for query in family_queries(repo_id):
        check(cancel)
        try:
            found = search_models(query, sort="downloads", limit=20, gguf=True, token=token, check_support=False,
                                  pipeline_tag=None, cancel=cancel, retry=retry)
        except HubError as exc:  # the verdict stands without alternatives
            log.info("cannot search GGUF alternatives of %s: %s", repo_id, exc)
            return []
        found = [m for m in found if m.repo_id.lower() != repo_id.lower() and m.is_gguf]
        if found:
            found.sort(key=lambda m: (m.repo_id.split("/", 1)[0].lower() != owner, -(m.downloads or 0)))
            return found[:limit]
    return []


def _verdict(d: ModelDetails) -> str:
    arch = d.architecture or "an unknown architecture"
    if d.supported:
        return f"Kompakt can convert {d.repo_id} ({arch})."
    if d.supported is False:
        return f"{d.support_problem or 'Kompakt cannot convert ' + arch}."
    if d.gated:
        return "Whether Kompakt can convert it is unknown: the repo is gated (request access, then `kompakt login`)."
    if d.is_gguf_repo:
        return "The repo holds ready-made GGUF files: nothing to convert, download one of them."
    return "Whether Kompakt can convert it is unknown: the repo has no readable config.json."


def support_report(repo_id: str, revision: str | None = None, token: str | bool | None = None, *,
                   details: Optional[ModelDetails] = None, cancel: Optional[CancelToken] = None,
                   retry: RetryPolicy = DEFAULT_RETRY) -> SupportReport:
    """Say whether Kompakt converts ``repo_id`` and, when not, name GGUF alternatives and the supported list.

    ``details`` (from :func:`model_info`) saves fetching the repo's info again. Reads only metadata, config.json
    and search results: nothing is downloaded.
    """
    from converter.archs import supported_architectures

    if details is None:
        details = model_info(repo_id, revision, token, cancel=cancel, retry=retry)
    if details.supported is not False:
        return SupportReport(details.repo_id, details.architecture, details.supported, _verdict(details))
    return SupportReport(details.repo_id, details.architecture, False, _verdict(details),
                         alternatives=tuple(gguf_alternatives(details.repo_id, token, cancel=cancel, retry=retry)),
                         supported_architectures=tuple(supported_architectures()))
