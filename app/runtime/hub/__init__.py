"""Hugging Face Hub access on top of ``huggingface_hub``: search, model info, GGUF listings, remote checkpoint
metadata (headers only) and downloads into the standard cache (resumable, cancellable, verified).

Public entry points::

    search_models(query, sort="downloads"|"trending", limit=20, gguf=False) -> list[ModelSummary]
    model_info(repo_id, revision=None, token=None) -> ModelDetails
    list_gguf_files(repo_id, revision=None, token=None) -> list[HubGGUFModel]
    remote_checkpoint_meta(repo_id, revision=None, token=None) -> (config, [(name, dtype, shape)])
    download_model(repo_id, revision=None, include=None, token=None, *, progress, cancel, allow_pickle=False) -> Path
    local_snapshot(repo_id, revision=None) -> Path | None
    support_report(repo_id, revision=None, token=None) -> SupportReport (verdict, GGUF alternatives, supported list)
    support_problem(config) -> str | None

Errors are :class:`app.runtime.errors.HubError` subclasses.
"""

from .alternatives import SupportReport, gguf_alternatives, support_report
from .cache import local_snapshot
from .download import check_disk_space, download_model
from .gguf_files import HubGGUFModel, gguf_files, list_gguf_files, quant_type_from_name
from .info import ModelDetails, RepoFile, fetch_config, model_info
from .remote_meta import remote_checkpoint_meta
from .search import ModelSummary, search_models
from .support import architecture_name, support_problem
from .transfer import DownloadProgress
from ._client import RetryPolicy

__all__ = [
    "DownloadProgress", "HubGGUFModel", "ModelDetails", "ModelSummary", "RepoFile", "RetryPolicy", "SupportReport",
    "architecture_name", "check_disk_space", "download_model", "fetch_config", "gguf_alternatives", "gguf_files",
    "list_gguf_files", "local_snapshot", "model_info", "quant_type_from_name", "remote_checkpoint_meta",
    "search_models", "support_problem", "support_report",
]
