"""Read small files, or just byte ranges of big ones, straight from a Hub repo (nothing is cached on disk)."""

from __future__ import annotations

import json
from typing import Any, Optional

from huggingface_hub import hf_hub_url
from huggingface_hub.utils import get_session, hf_raise_for_status

from app.runtime.errors import HubError
from converter.core.progress import CancelToken

from ._client import DEFAULT_RETRY, TIMEOUT, RetryPolicy, endpoint, hf_headers, require_online, with_retries

#: A config.json or index larger than this is not a config file.
MAX_SMALL_FILE = 16 * 1024 * 1024


def file_url(repo_id: str, filename: str, revision: str | None = None) -> str:
    """The ``/resolve/`` URL of ``filename`` at ``revision`` (default ``main``) on the current endpoint."""
    return hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint())


def read_range(repo_id: str, filename: str, start: int, length: int, *, revision: str | None = None,
               token: str | bool | None = None, cancel: Optional[CancelToken] = None,
               retry: RetryPolicy = DEFAULT_RETRY) -> bytes:
    """Return ``length`` bytes of ``filename`` from offset ``start`` using an HTTP Range request.

    A server that ignores ``Range`` and sends the whole file is read only as far as needed, then dropped.
    Returns fewer bytes only when the file is shorter.
    """
    require_online(repo_id)
    if length <= 0:
        return b""
    url = file_url(repo_id, filename, revision)

    def call() -> bytes:
        headers = hf_headers(token)
        headers["Range"] = f"bytes={start}-{start + length - 1}"
        headers["Accept-Encoding"] = "identity"
        with get_session().stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
            hf_raise_for_status(response)
            skip = start if response.status_code == 200 else 0  # Range ignored: skip to the offset ourselves
            out = bytearray()
            for chunk in response.iter_bytes(64 * 1024):
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                out += chunk
                if len(out) >= length:
                    break
            return bytes(out[:length])

    return with_retries(call, what=f"reading {filename} of {repo_id}", policy=retry, cancel=cancel,
                        repo_id=repo_id)


def fetch_small_file(repo_id: str, filename: str, *, revision: str | None = None, token: str | bool | None = None,
                     cancel: Optional[CancelToken] = None, retry: RetryPolicy = DEFAULT_RETRY) -> bytes:
    """Download a small file (config, index, tokenizer config) into memory."""
    require_online(repo_id)
    url = file_url(repo_id, filename, revision)

    def call() -> bytes:
        with get_session().stream("GET", url, headers=hf_headers(token), timeout=TIMEOUT) as response:
            hf_raise_for_status(response)
            out = bytearray()
            for chunk in response.iter_bytes(64 * 1024):
                out += chunk
                if len(out) > MAX_SMALL_FILE:
                    raise HubError(f"{filename} of {repo_id} is larger than {MAX_SMALL_FILE} bytes: not a small "
                                   "metadata file", repo_id=repo_id, url=url)
            return bytes(out)

    return with_retries(call, what=f"fetching {filename} of {repo_id}", policy=retry, cancel=cancel,
                        repo_id=repo_id)


def fetch_json(repo_id: str, filename: str, **kwargs: Any) -> dict:
    """:func:`fetch_small_file` parsed as a JSON object; a clear :class:`HubError` if it is not one."""
    raw = fetch_small_file(repo_id, filename, **kwargs)
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HubError(f"{filename} of {repo_id} is not valid JSON ({exc})", repo_id=repo_id) from exc
    if not isinstance(value, dict):
        raise HubError(f"{filename} of {repo_id} is not a JSON object", repo_id=repo_id)
    return value
