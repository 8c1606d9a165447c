"""Stream one file from the Hub into ``blobs/<etag>.incomplete``: resumable, retried, cancellable, verified.

We stream files ourselves (the client's shared ``httpx2`` session and its HEAD/redirect logic, but our own loop)
because the installed huggingface_hub writes each download to a process-unique temporary file that it deletes on
any failure: nothing survives a cut connection, a cancel, or a full disk. Here the partial file stays where older
huggingface_hub versions kept it, ``blobs/<etag>.incomplete``, and the next attempt asks for the rest with an HTTP
``Range`` request.
"""

from __future__ import annotations

import collections
import errno
import hashlib
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from huggingface_hub.utils import get_session, hf_raise_for_status

from app.runtime.errors import HubDiskSpaceError, HubError, HubIntegrityError, HubOfflineError, HubServerError
from converter.core.progress import CancelToken, Cancelled, Progress, ProgressCallback, check, emit

from ._client import TIMEOUT, RetryPolicy, short_reason, is_retryable, sleep, translate

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class DownloadProgress(Progress):
    """A :class:`Progress` in bytes, plus the current speed (bytes/s) and the estimated seconds left."""

    speed: Optional[float] = None
    eta: Optional[float] = None


class ByteCounter:
    """Counts bytes over a whole download and reports them with speed (last ~5 s) and time left."""

    WINDOW = 5.0
    #: Seconds between reports while bytes flow (file changes and the end are always reported).
    INTERVAL = 0.1

    def __init__(self, total: Optional[int], progress: Optional[ProgressCallback], stage: str = "download") -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.stage = stage
        self.item = ""
        self._new = 0  # bytes actually transferred (not found on disk), for the speed
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._started = time.monotonic()
        self._last_report = 0.0

    def skip(self, n: int) -> None:
        """Count ``n`` bytes already on disk (a resumed or cached file): progress moves, speed does not."""
        self.done += n
        self.report()

    def add(self, n: int) -> None:
        """Count ``n`` freshly downloaded bytes."""
        self.done += n
        self._new += n
        if time.monotonic() - self._last_report >= self.INTERVAL:
            self.report()

    def rollback(self, n: int) -> None:
        """Forget ``n`` bytes (a partial file had to be restarted)."""
        self.done -= n

    def speed(self) -> Optional[float]:
        """Bytes per second over the last few seconds, or None before there is anything to measure."""
        now = time.monotonic()
        self._samples.append((now, self._new))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.WINDOW:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        if now - t0 < 0.2:
            t0, b0 = self._started, 0
        span = now - t0
        return (self._new - b0) / span if span > 0 and self._new > b0 else None

    def report(self) -> None:
        """Send one :class:`DownloadProgress` to the callback."""
        if self.progress is None:
            return
        self._last_report = time.monotonic()
        speed = self.speed()
        left = None if self.total is None else max(0, self.total - self.done)
        eta = left / speed if (left is not None and speed) else None
        emit(self.progress, DownloadProgress(stage=self.stage, done=self.done, total=self.total, unit="bytes",
                                             item=self.item, started=self._started, speed=speed, eta=eta))


def _write_chunk(f, chunk: bytes) -> None:
    """Write one chunk (a seam for tests that simulate a full disk)."""
    f.write(chunk)


def _disk_full(exc: OSError, where: Path) -> HubDiskSpaceError:
    return HubDiskSpaceError(f"disk full while downloading into {where.parent}: free some space and run the "
                             "download again; it resumes where it stopped", path=str(where.parent))


class _Partial:
    """The ``.incomplete`` file plus a running sha256 of its content (so verifying needs no second read)."""

    def __init__(self, path: Path, check_sha256: bool, cancel: Optional[CancelToken]) -> None:
        self.path = path
        self.hasher = hashlib.sha256() if check_sha256 else None
        self.size = path.stat().st_size if path.exists() else 0
        if self.hasher is not None and self.size:
            with open(path, "rb") as f:  # bytes from an earlier run: hash them once
                while block := f.read(8 << 20):
                    check(cancel)
                    self.hasher.update(block)

    def restart(self) -> None:
        """Forget the content (the server sent the whole file again)."""
        self.size = 0
        if self.hasher is not None:
            self.hasher = hashlib.sha256()

    def append(self, f, chunk: bytes) -> None:
        _write_chunk(f, chunk)
        self.size += len(chunk)
        if self.hasher is not None:
            self.hasher.update(chunk)


def _stream_once(url: str, headers: dict[str, str], part: _Partial, counter: ByteCounter,
                 cancel: Optional[CancelToken]) -> None:
    """One GET of ``url`` from byte ``part.size`` on, appended to the partial file."""
    have = part.size
    headers = dict(headers)
    headers["Accept-Encoding"] = "identity"
    if have:
        headers["Range"] = f"bytes={have}-"
    with get_session().stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
        hf_raise_for_status(response)
        mode = "ab"
        if have and response.status_code != 206:
            log.info("server ignored the Range request: restarting %s", part.path.name)
            counter.rollback(have)
            counter.report()
            part.restart()
            mode = "wb"
        elif have:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                raise HubIntegrityError(f"server resumed {part.path.name} at the wrong offset "
                                        f"({response.headers.get('Content-Range')!r}, wanted {have})")
        try:
            with open(part.path, mode) as f:
                # Unsized iteration: every piece is written as it arrives (a sized iter_bytes buffers, and a cut
                # connection would lose the buffer), and cancel is checked at least every network read.
                for chunk in response.iter_bytes():
                    check(cancel)
                    if chunk:
                        part.append(f, chunk)
                        counter.add(len(chunk))
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise _disk_full(exc, part.path) from exc
            raise


def fetch_blob(locate: Callable[[], tuple[str, dict[str, str]]], path: Path, *, expected_size: Optional[int],
               etag: str, counter: ByteCounter, cancel: Optional[CancelToken], retry: RetryPolicy,
               repo_id: str, filename: str) -> None:
    """Download into ``path`` (the ``.incomplete`` file) until it holds the whole file, then verify it: size, and
    sha256 for LFS files (whose ETag is their sha256), hashed on the fly.

    ``locate()`` returns the URL and headers to GET; it is called before every attempt so a signed CDN address
    that expired during a long outage is refreshed. Transient failures are retried with exponential back-off,
    resuming from the bytes already on disk; a cancel leaves the file in place for a later resume.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if expected_size is not None and path.exists() and path.stat().st_size > expected_size:
        path.unlink()
    part = _Partial(path, bool(_SHA256.match(etag)), cancel)
    counter.skip(part.size)
    failures = 0
    while expected_size is None or part.size < expected_size:
        check(cancel)
        before = part.size
        try:
            url, headers = locate()
            _stream_once(url, headers, part, counter, cancel)
            if expected_size is None or part.size >= expected_size:
                break
            raise _ShortRead(f"connection closed after {part.size} of {expected_size} bytes")
        except (Cancelled, HubError):
            raise
        except Exception as exc:  # noqa: BLE001 - filtered below
            failures = 1 if part.size > before else failures + 1  # progress made: start counting again
            retryable = isinstance(exc, _ShortRead) or is_retryable(exc)
            if not retryable or failures >= retry.attempts:
                error = translate(exc, repo_id=repo_id, retried=failures)
                if retryable:
                    cls = HubOfflineError if isinstance(error, HubOfflineError) else HubServerError
                    error = cls(f"downloading {filename}: {error}; run the download again to resume",
                                repo_id=repo_id)
                if error is exc:
                    raise
                raise error from exc
            wait = retry.delay(failures)
            log.warning("downloading %s: %s; resuming in %.1f s", filename, short_reason(exc), wait)
            sleep(wait, cancel)
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise HubIntegrityError(f"{filename} of {repo_id}: got {size} bytes, the Hub announced {expected_size}",
                                repo_id=repo_id)
    if part.hasher is not None and part.hasher.hexdigest() != etag:
        path.unlink()
        raise HubIntegrityError(f"{filename} of {repo_id} is corrupt (sha256 mismatch); the partial download "
                                "was deleted, run the download again", repo_id=repo_id)


class _ShortRead(Exception):
    """The server closed the connection before the whole file arrived."""
