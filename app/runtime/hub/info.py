"""What a Hub model repo holds: architecture, size, licence, gating, and every file with its size."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from app.runtime.errors import HubAuthError, HubNotFoundError
from converter.core.progress import CancelToken

from ._client import DEFAULT_RETRY, TIMEOUT, RetryPolicy, api, require_online, with_retries
from .remote_files import fetch_json
from .support import architecture_name, support_problem


@dataclass(frozen=True)
class RepoFile:
    """One file of a repo: path in the repo, size in bytes (None if the Hub did not say), LFS sha256 if any."""

    name: str
    size: Optional[int] = None
    sha256: Optional[str] = None


@dataclass(frozen=True)
class ModelDetails:
    """The facts about a model repo the UI shows before downloading."""

    repo_id: str
    sha: Optional[str]
    architecture: Optional[str]
    parameters: Optional[int]
    license: Optional[str]
    gated: bool
    pipeline_tag: Optional[str]
    files: list[RepoFile] = field(default_factory=list)
    supported: Optional[bool] = None
    #: Why the converter cannot take it (one line), when ``supported`` is False.
    support_problem: Optional[str] = None
    downloads: Optional[int] = None
    likes: Optional[int] = None
    tags: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Size of every file whose size is known."""
        return sum(f.size or 0 for f in self.files)

    @property
    def safetensors_bytes(self) -> int:
        """Size of the safetensors weights."""
        return sum(f.size or 0 for f in self.files if f.name.endswith(".safetensors"))

    @property
    def is_gguf_repo(self) -> bool:
        """True if the repo offers ready-made GGUF files."""
        return any(f.name.lower().endswith(".gguf") for f in self.files)


def license_of(card_data: Any, tags: list[str] | None) -> Optional[str]:
    """The licence from the model card metadata, else from a ``license:...`` tag."""
    value = getattr(card_data, "license", None) if card_data is not None else None
    if value is None and isinstance(card_data, dict):
        value = card_data.get("license")
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    if value:
        return str(value)
    for tag in tags or []:
        if tag.startswith("license:"):
            return tag.split(":", 1)[1]
    return None


def parameters_of(safetensors: Any) -> Optional[int]:
    """Parameter count from the Hub's safetensors metadata (``{"total": N, "parameters": {...}}``)."""
    if safetensors is None:
        return None
    total = getattr(safetensors, "total", None)
    if total is None and isinstance(safetensors, dict):
        total = safetensors.get("total")
    return int(total) if total is not None else None


def fetch_config(repo_id: str, revision: str | None = None, token: str | bool | None = None, *,
                 cancel: Optional[CancelToken] = None, retry: RetryPolicy = DEFAULT_RETRY) -> dict:
    """Download config.json alone (a few KB) and return it as a dict."""
    return fetch_json(repo_id, "config.json", revision=revision, token=token, cancel=cancel, retry=retry)


def support_of(repo_id: str, revision: str | None = None, token: str | bool | None = None, *,
               retry: RetryPolicy = DEFAULT_RETRY) -> tuple[Optional[str], Optional[bool], Optional[str]]:
    """``(architecture, supported, problem)`` from config.json; all None when it cannot be read (gated, absent)."""
    try:
        config = fetch_config(repo_id, revision, token, retry=retry)
    except (HubAuthError, HubNotFoundError):
        return None, None, None
    problem = support_problem(config)
    return architecture_name(config), problem is None, problem


def model_info(repo_id: str, revision: str | None = None, token: str | bool | None = None, *,
               check_support: bool = True, cancel: Optional[CancelToken] = None,
               retry: RetryPolicy = DEFAULT_RETRY) -> ModelDetails:
    """Describe ``repo_id``: architecture, parameter count, licence, gated flag, files with sizes.

    ``supported`` says whether our converter knows the architecture (from config.json, fetched alone); it is None
    when that cannot be told (no config.json, or gated and not logged in).
    """
    require_online(repo_id)
    info = with_retries(lambda: api(token).model_info(repo_id, revision=revision, files_metadata=True,
                                                      timeout=TIMEOUT.read),
                        what=f"model info of {repo_id}", policy=retry, cancel=cancel, repo_id=repo_id)
    files = [RepoFile(s.rfilename, s.lfs.size if s.lfs else s.size, s.lfs.sha256 if s.lfs else None)
             for s in info.siblings or []]
    architecture = architecture_name(info.config)
    supported = problem = None
    if check_support and any(f.name == "config.json" for f in files):
        arch_from_file, supported, problem = support_of(repo_id, info.sha or revision, token, retry=retry)
        architecture = arch_from_file or architecture
    return ModelDetails(
        repo_id=info.id or repo_id,
        sha=info.sha,
        architecture=architecture,
        parameters=parameters_of(info.safetensors),
        license=license_of(info.card_data, info.tags),
        gated=bool(info.gated),
        pipeline_tag=info.pipeline_tag,
        files=files,
        supported=supported,
        support_problem=problem,
        downloads=info.downloads,
        likes=info.likes,
        tags=list(info.tags or []),
    )
