"""Errors raised by the runtime services (Hugging Face Hub access for now).

Each error also inherits the built-in exception a caller would naturally catch (an unreachable Hub is a
``ConnectionError``, a missing repo a ``FileNotFoundError``, ...), carries structured fields, and reads as a
one-line message that says what happened and what to do. Third-party exceptions (``huggingface_hub``, ``httpx2``)
are translated into these at the runtime boundary, so the GUI and the CLI never see them.

Cancellation is not an error: see :class:`converter.progress.Cancelled`.
"""

from __future__ import annotations

import errno


class HubError(OSError):
    """Base of every error raised while talking to the Hugging Face Hub or its local cache (an I/O failure)."""

    def __init__(self, message: str, *, repo_id: str | None = None, url: str | None = None) -> None:
        self.repo_id = repo_id
        self.url = url
        self.detail = message
        super().__init__(message)

    def __str__(self) -> str:  # OSError subclasses would otherwise format their args
        return self.detail


class HubAuthError(HubError, PermissionError):
    """401/403: the repo is private or gated and the token is missing, wrong, or not granted access."""

    def __init__(self, message: str, *, repo_id: str | None = None, url: str | None = None,
                 status: int | None = None, gated: bool = False) -> None:
        self.status = status
        self.gated = gated
        super().__init__(message, repo_id=repo_id, url=url)


class HubNotFoundError(HubError, FileNotFoundError):
    """404: no such repo, revision or file."""


class HubOfflineError(HubError, ConnectionError):
    """The Hub cannot be reached: offline mode (``HF_HUB_OFFLINE=1``), no network, or connection refused."""


class HubServerError(HubError, ConnectionError):
    """The Hub kept answering with a server error (5xx, 429) after every retry."""


class HubDiskSpaceError(HubError, OSError):
    """Not enough free disk space for the download (checked before starting, or the disk filled up midway)."""

    def __init__(self, message: str, *, repo_id: str | None = None, needed: int | None = None,
                 free: int | None = None, path: str | None = None) -> None:
        self.needed = needed
        self.free = free
        self.path = path
        super().__init__(message, repo_id=repo_id)
        self.errno = errno.ENOSPC


class HubIntegrityError(HubError, OSError):
    """A downloaded file does not match the size or checksum the Hub announced."""


class UnsupportedModelError(HubError, ValueError):
    """The repo holds nothing Kompakt can use: an architecture the converter does not know, or only pickle weights."""

    def __init__(self, message: str, *, repo_id: str | None = None, url: str | None = None,
                 architecture: str | None = None) -> None:
        self.architecture = architecture
        super().__init__(message, repo_id=repo_id, url=url)
