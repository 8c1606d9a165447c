"""The thin layer over ``huggingface_hub``: endpoint, offline mode, auth headers, retries, error translation.

huggingface_hub reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once at import; we read them at call time (falling
back to the client's constants), so a process that changes its environment -- a test, a settings dialog -- is
honoured. Tokens come from huggingface_hub's own store (``hf auth login`` / :func:`app.runtime.hub.auth.login`)
unless one is passed explicitly; they go into request headers only and are never logged.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

import httpx2
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers

from app import __version__
from app.runtime.errors import HubAuthError, HubError, HubNotFoundError, HubOfflineError, HubServerError
from converter.core.progress import CancelToken, check

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Connect / read timeouts for our own requests (seconds; the shared client has none by default). A stalled
#: transfer gives up after HF_HUB_DOWNLOAD_TIMEOUT (10 s) and is retried, resuming; cancel waits at most that long.
TIMEOUT = httpx2.Timeout(float(constants.HF_HUB_DOWNLOAD_TIMEOUT), connect=10.0)
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def endpoint() -> str:
    """The Hub's base URL: ``HF_ENDPOINT`` now, else what huggingface_hub read at import."""
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (checked now) or huggingface_hub started in offline mode."""
    value = os.environ.get("HF_HUB_OFFLINE")
    if value is not None:
        return value.upper() in constants.ENV_VARS_TRUE_VALUES
    return constants.is_offline_mode()


def repo_url(repo_id: str) -> str:
    """The model's page on the Hub (where a gated model's licence is accepted)."""
    return f"{endpoint()}/{repo_id}"


def api(token: str | bool | None = None) -> HfApi:
    """An :class:`HfApi` bound to the current endpoint; ``token=None`` uses the stored token if any."""
    return HfApi(endpoint=endpoint(), token=token, library_name="kompakt", library_version=__version__)


def hf_headers(token: str | bool | None = None) -> dict[str, str]:
    """Request headers with user agent and, when available, ``authorization: Bearer`` (never log these)."""
    return build_hf_headers(token=token, library_name="kompakt", library_version=__version__)


def require_online(repo_id: str | None = None) -> None:
    """Raise :class:`HubOfflineError` when offline mode is on."""
    if is_offline():
        what = f" for {repo_id}" if repo_id else ""
        raise HubOfflineError(f"offline mode is on (HF_HUB_OFFLINE=1): cannot reach the Hugging Face Hub{what}; "
                              "models already downloaded can still be used", repo_id=repo_id)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: waits ``base``, ``2*base``, ... capped at ``cap`` seconds, ``attempts`` tries in all.

    A refused connection is retried only ``connect_attempts`` times in all: it usually means "offline", and the
    user should hear that quickly.
    """

    attempts: int = 6
    base: float = 1.0
    cap: float = 16.0
    connect_attempts: int = 2

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th consecutive failure (1-based)."""
        return min(self.cap, self.base * 2 ** (failures - 1))


DEFAULT_RETRY = RetryPolicy()


def is_retryable(exc: BaseException) -> bool:
    """Transient failures: network errors, timeouts, a connection cut midway, 5xx and 429 answers."""
    if isinstance(exc, httpx2.TransportError) and not isinstance(exc, httpx2.UnsupportedProtocol):
        return True
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return exc.response.status_code in RETRY_STATUS
    return False


def sleep(seconds: float, cancel: Optional[CancelToken]) -> None:
    """Sleep, waking up every 50 ms to honour ``cancel``."""
    end = time.monotonic() + seconds
    while True:
        check(cancel)
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.05, left))


def with_retries(call: Callable[[], T], *, what: str, policy: RetryPolicy = DEFAULT_RETRY,
                 cancel: Optional[CancelToken] = None, repo_id: str | None = None) -> T:
    """Run ``call``, retrying transient failures with exponential back-off; translate the final failure."""
    failures = 0
    while True:
        check(cancel)
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - filtered right below
            failures += 1
            limit = policy.connect_attempts if isinstance(exc, httpx2.ConnectError) else policy.attempts
            if isinstance(exc, HubError) or not is_retryable(exc) or failures >= limit:
                error = translate(exc, repo_id=repo_id, retried=failures)
                if error is exc:
                    raise
                raise error from exc
            wait = policy.delay(failures)
            log.warning("%s failed (%s); retrying in %.1f s [%d/%d]", what, short_reason(exc), wait, failures,
                        limit - 1)
            sleep(wait, cancel)


def short_reason(exc: BaseException) -> str:
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def translate(exc: BaseException, *, repo_id: str | None = None, retried: int = 0) -> BaseException:
    """Map a huggingface_hub / httpx2 exception to a :class:`HubError` with a message a user can act on."""
    if isinstance(exc, HubError):
        return exc
    repo = repo_id or "the repo"
    page = repo_url(repo_id) if repo_id else endpoint()
    if isinstance(exc, OfflineModeIsEnabled):
        return HubOfflineError(f"offline mode is on (HF_HUB_OFFLINE=1): cannot reach the Hub for {repo}; "
                               "models already downloaded can still be used", repo_id=repo_id)
    if isinstance(exc, (httpx2.ConnectError, httpx2.TimeoutException)):
        how = "timed out" if isinstance(exc, httpx2.TimeoutException) else "connection refused or no network"
        return HubOfflineError(f"cannot reach the Hugging Face Hub at {endpoint()} ({how}); you seem to be "
                               "offline -- models already downloaded can still be used", repo_id=repo_id)
    if isinstance(exc, httpx2.TransportError):
        return HubServerError(f"the connection to {endpoint()} kept failing ({short_reason(exc)}) after {retried} "
                              "tries; run the download again to resume", repo_id=repo_id)
    if isinstance(exc, GatedRepoError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            msg = (f"{repo} is gated: log in with a Hugging Face token (kompakt login) and accept its licence "
                   f"at {page}")
        else:
            msg = (f"your token has no access to the gated model {repo} yet: accept its licence at {page} "
                   "(approval can take a while), then try again")
        return HubAuthError(msg, repo_id=repo_id, url=page, status=status, gated=True)
    if isinstance(exc, RevisionNotFoundError):
        return HubNotFoundError(f"{repo} has no such revision (branch, tag or commit)", repo_id=repo_id, url=page)
    if isinstance(exc, RemoteEntryNotFoundError):
        name = str(exc.response.url).rsplit("/", 1)[-1] if exc.response is not None else "the file"
        return HubNotFoundError(f"{repo} has no file {name}", repo_id=repo_id, url=page)
    if isinstance(exc, RepositoryNotFoundError):
        status = exc.response.status_code if exc.response is not None else None
        hint = " (if it is private, log in with `kompakt login`)" if status == 401 else ""
        return HubNotFoundError(f"no model {repo} on the Hugging Face Hub{hint}", repo_id=repo_id, url=page)
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status == 401:
            return HubAuthError(f"the Hub rejected your token for {repo} (401): log in again with `kompakt login`",
                                repo_id=repo_id, url=page, status=401)
        if status == 403:
            return HubAuthError(f"access to {repo} is forbidden (403): check that your token may read it and that "
                                f"you accepted the licence at {page}", repo_id=repo_id, url=page, status=403)
        if status == 404:
            return HubNotFoundError(f"{repo} or the requested file was not found on the Hub (404)",
                                    repo_id=repo_id, url=page)
        if status in RETRY_STATUS:
            tries = f" after {retried} tries" if retried else ""
            return HubServerError(f"the Hugging Face Hub answered HTTP {status}{tries}; try again later",
                                  repo_id=repo_id, url=page)
        return HubError(f"the Hugging Face Hub answered HTTP {status} for {repo}", repo_id=repo_id, url=page)
    return exc
