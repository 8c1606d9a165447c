"""Download a model from the Hub into huggingface_hub's standard cache: only what the converter needs.

One call does: model info (file list, sizes, commit) -> choose files (safetensors, index, config, tokenizer) ->
check the architecture against our converter (config.json alone) -> check free disk space -> stream each file
(resumable, retried, cancellable, verified) -> link it into ``snapshots/<commit>/`` -> record the branch's commit.
Offline, or with the Hub unreachable, a complete snapshot downloaded earlier is returned instead.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

from huggingface_hub import get_hf_file_metadata
from huggingface_hub.utils import WeakFileLock

from app import __version__
from app.runtime.errors import HubDiskSpaceError, HubError, HubOfflineError, UnsupportedModelError
from app.runtime.paths import hf_hub_cache
from converter.core.progress import CancelToken, ProgressCallback, check

from . import cache as hubcache
from ._client import DEFAULT_RETRY, TIMEOUT, RetryPolicy, api, hf_headers, is_offline, require_online, with_retries
from .remote_files import fetch_json, file_url
from .selection import INDEX_FILE, is_pickle, select_files
from .support import architecture_name, support_problem
from .transfer import ByteCounter, fetch_blob

log = logging.getLogger(__name__)

#: Free space kept in reserve beyond the download itself.
DISK_MARGIN = 64 * 1024 * 1024


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _mib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _free_bytes(path: Path) -> tuple[Path, int]:
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return probe, shutil.disk_usage(probe).free


def check_disk_space(needed: int, where: Path, *, repo_id: str | None = None) -> None:
    """Raise :class:`HubDiskSpaceError` (needed vs free) unless ``where`` has room for ``needed`` bytes."""
    probe, free = _free_bytes(where)
    if needed + DISK_MARGIN > free:
        raise HubDiskSpaceError(f"not enough disk space in {probe} to download {repo_id or 'the model'}: needs "
                                f"{_mib(needed)}, only {_mib(free)} free", repo_id=repo_id,
                                needed=needed, free=free, path=str(probe))


def _offline_fallback(repo_id: str, revision: str | None, cache: Path, reason: HubOfflineError) -> Path:
    snapshot = hubcache.local_snapshot(repo_id, revision, cache)
    if snapshot is None:
        raise HubOfflineError(f"{reason} -- and {repo_id} was never downloaded completely, so there is no local "
                              "copy to use", repo_id=repo_id) from reason
    log.warning("%s; using the copy downloaded earlier: %s", reason, snapshot)
    return snapshot


def download_model(repo_id: str, revision: str | None = None, include: str | Sequence[str] | None = None,
                   token: str | bool | None = None, *, progress: Optional[ProgressCallback] = None,
                   cancel: Optional[CancelToken] = None, allow_pickle: bool = False,
                   check_architecture: bool = True, retry: RetryPolicy = DEFAULT_RETRY,
                   cache_dir: Path | None = None) -> Path:
    """Download what the converter needs from ``repo_id`` and return the local snapshot folder.

    Fetches the safetensors weights (the index's shards), their index, config.json, generation_config.json and
    the tokenizer files; ``include`` (glob patterns) narrows that or picks ready-made ``.gguf`` files instead.
    Pickle weights (.bin/.pt/.pth) only with ``allow_pickle`` and only when there are no safetensors.

    ``progress`` receives :class:`~app.runtime.hub.transfer.DownloadProgress` (bytes, speed, time left).
    ``cancel`` stops within one chunk; partial files stay as ``blobs/<etag>.incomplete`` and the next call
    resumes them. ``token=None`` uses the token stored by ``kompakt login`` / ``hf auth login``.

    Raises :class:`UnsupportedModelError` (architecture the converter does not know, only pickles) before any
    weight is downloaded, :class:`HubDiskSpaceError` (needed vs free) before starting or when the disk fills up,
    :class:`HubAuthError` (gated: accept the licence at the URL given), :class:`HubNotFoundError`,
    :class:`HubOfflineError` (offline and no complete local copy), :class:`HubServerError` after retries.
    """
    cache = cache_dir or hf_hub_cache()
    patterns = [include] if isinstance(include, str) else (list(include) if include else None)
    if is_offline():
        try:
            require_online(repo_id)
        except HubOfflineError as exc:  # offline mode: a complete earlier download is still usable
            return _offline_fallback(repo_id, revision, cache, exc)
    try:
        info = with_retries(lambda: api(token).model_info(repo_id, revision=revision, files_metadata=True,
                                                          timeout=TIMEOUT.read),
                            what=f"model info of {repo_id}", policy=retry, cancel=cancel, repo_id=repo_id)
    except HubOfflineError as exc:
        return _offline_fallback(repo_id, revision, cache, exc)
    commit = info.sha
    if not commit:
        raise UnsupportedModelError(f"the Hub gave no commit for {repo_id}", repo_id=repo_id)
    sizes = {s.rfilename: (s.lfs.size if s.lfs else s.size) for s in info.siblings or []}
    lfs_sha = {s.rfilename: s.lfs.sha256 for s in info.siblings or []
               if s.lfs and hubcache.is_safe_etag(s.lfs.sha256)}
    names = list(sizes)
    common = dict(revision=commit, token=token, cancel=cancel, retry=retry)

    shards = None
    if INDEX_FILE in names:
        weight_map = fetch_json(repo_id, INDEX_FILE, **common).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise UnsupportedModelError(f"{repo_id}: {INDEX_FILE} has no weight_map", repo_id=repo_id)
        shards = [str(v) for v in weight_map.values()]
    files = select_files(names, shards=shards, include=patterns, allow_pickle=allow_pickle, repo_id=repo_id)

    snapshot = hubcache.snapshot_dir(repo_id, commit, cache)
    pending = [f for f in files if not (snapshot / hubcache.safe_relative(f)).exists()]
    if check_architecture and any(f.endswith(".safetensors") or is_pickle(f) for f in pending):
        _check_architecture(repo_id, names, common)
    needed = 0
    for f in pending:
        sha = lfs_sha.get(f)
        blob = hubcache.blob_path(repo_id, sha, cache) if sha else None
        if blob is not None and blob.exists():
            continue
        part = blob.with_name(blob.name + ".incomplete") if blob is not None else None
        have = part.stat().st_size if part is not None and part.exists() else 0
        needed += max(0, (sizes.get(f) or 0) - have)
    check_disk_space(needed, cache, repo_id=repo_id)

    snapshot.mkdir(parents=True, exist_ok=True)  # scan_cache_dir() expects it even while files are missing
    total = sum(sizes.get(f) or 0 for f in files) if all(sizes.get(f) is not None for f in files) else None
    counter = ByteCounter(total, progress)
    for f in files:
        check(cancel)
        counter.item = f
        pointer = snapshot / hubcache.safe_relative(f)
        if pointer.exists():
            counter.skip(sizes.get(f) or 0)
            continue
        _download_file(repo_id, f, commit, pointer, sizes.get(f), token, counter, cancel, retry, cache)
    counter.item = ""
    counter.report()
    # Written last: until the new snapshot is complete, the branch keeps pointing at an older complete one.
    hubcache.write_ref(repo_id, revision or "main", commit, cache)
    log.info("downloaded %s (%d files) to %s", repo_id, len(files), snapshot)
    return snapshot


def _check_architecture(repo_id: str, names: list[str], common: dict) -> None:
    """Refuse, before any weight is fetched, a checkpoint whose architecture our converter does not know."""
    if "config.json" not in names:
        raise UnsupportedModelError(f"{repo_id} has no config.json, so it is not a checkpoint Kompakt can "
                                    "convert (nothing was downloaded)", repo_id=repo_id)
    config = fetch_json(repo_id, "config.json", **common)
    problem = support_problem(config)
    if problem is not None:
        raise UnsupportedModelError(f"{repo_id}: {problem} (nothing was downloaded; `kompakt info {repo_id}` names "
                                    "ready-made GGUF alternatives)", repo_id=repo_id,
                                    architecture=architecture_name(config) or "unknown")


def _download_file(repo_id: str, filename: str, commit: str, pointer: Path, size: Optional[int], token,
                   counter: ByteCounter, cancel: Optional[CancelToken], retry: RetryPolicy, cache: Path) -> None:
    url = file_url(repo_id, filename, commit)

    def head():
        return get_hf_file_metadata(url, token=token, library_name="kompakt", library_version=__version__)

    meta = with_retries(head, what=f"metadata of {filename}", policy=retry, cancel=cancel, repo_id=repo_id)
    if not meta.etag or not hubcache.is_safe_etag(meta.etag):
        raise HubError(f"the Hub sent no usable ETag for {filename} of {repo_id}: cannot store it in the cache",
                       repo_id=repo_id)
    etag = meta.etag
    blob = hubcache.blob_path(repo_id, etag, cache)
    expected = meta.size if meta.size is not None else size
    if not blob.exists():
        lock = hubcache.lock_path(repo_id, etag, cache)
        lock.parent.mkdir(parents=True, exist_ok=True)
        with WeakFileLock(lock):
            if not blob.exists():  # another process may have finished it while we waited
                first = [meta]

                def locate() -> tuple[str, dict[str, str]]:
                    current = first.pop() if first else with_retries(
                        head, what=f"metadata of {filename}", policy=retry, cancel=cancel, repo_id=repo_id)
                    headers = hf_headers(token)
                    if _origin(current.location) != _origin(url):  # a CDN: the token stays on the Hub
                        headers.pop("authorization", None)
                        headers.pop("Authorization", None)
                    return current.location, headers

                part = blob.with_name(blob.name + ".incomplete")
                fetch_blob(locate, part, expected_size=expected, etag=etag, counter=counter, cancel=cancel,
                           retry=retry, repo_id=repo_id, filename=filename)
                os.replace(part, blob)
                hubcache.link_into_snapshot(blob, pointer, new_blob=True)
                return
    counter.skip(blob.stat().st_size)
    hubcache.link_into_snapshot(blob, pointer, new_blob=False)
