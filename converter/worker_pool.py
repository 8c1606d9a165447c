"""The worker processes that quantize in parallel (NumPy in one process uses one core). Imports nothing heavy:
a command can start the fork server before it imports NumPy itself.

Workers are forked by multiprocessing's fork server (``spawn`` where there is none): a fork server is a clean,
single-threaded process, so forking from it is safe even when the caller runs Qt or llama.cpp threads, and it
stays up for the life of the calling process, so only the first pool pays for it. It imports NumPy and the
quantizers once (``~0.2 s``, the bulk of a cold start); :func:`start_worker_server` begins that early and
returns at once, and :class:`WarmingPool` lets the caller quantize the first pieces itself until the workers
answer.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from typing import Iterator, Optional

log = logging.getLogger(__name__)

#: imported by the fork server before it forks workers: the thread settings first, then NumPy and the quantizers
WORKER_PRELOAD = ["converter.worker_boot", "converter.quant_worker"]


def _context():
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(WORKER_PRELOAD)
    return ctx


def start_worker_server() -> None:
    """Start the fork server in the background, if this platform has one, without waiting for it (~20 ms).

    Idempotent and harmless when no workers end up being used. Callers that are about to parse files or plan
    work call it first, so the server's imports overlap with that."""
    ctx = _context()
    if ctx.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    try:
        forkserver.ensure_running()
    except OSError as exc:  # the pool will try again and fall back to this process
        log.debug("could not start the fork server: %s", exc)


class WarmingPool:
    """A pool of worker processes that starts in the background.

    Rather than wait for the workers, the caller quantizes the first pieces itself and hands work to the pool
    from the moment :meth:`executor` returns it. A pool that fails to start leaves the work in this process."""

    def __init__(self, n_workers: int) -> None:
        self._executor = None
        self._failed: Optional[BaseException] = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._start, args=(n_workers,), name="kompakt-pool-start",
                                        daemon=True)
        self._thread.start()

    def _start(self, n_workers: int) -> None:
        from concurrent.futures import ProcessPoolExecutor

        from .quant_worker import init_worker, ping

        try:
            executor = ProcessPoolExecutor(max_workers=n_workers, mp_context=_context(), initializer=init_worker)
            self._executor = executor
            for f in [executor.submit(ping) for _ in range(n_workers)]:  # launches every worker
                f.result()
        except BaseException as exc:  # noqa: BLE001 - any failure means: quantize in this process
            log.warning("could not start worker processes (%s); quantizing in one process", exc)
            self._failed = exc
        finally:
            self._ready.set()

    def executor(self):
        """The executor once its workers run; None while they start (or if they could not)."""
        if not self._ready.is_set() or self._failed is not None:
            return None
        return self._executor

    def shutdown(self) -> None:
        """Stop the workers (waiting for the start-up first), dropping queued jobs."""
        self._thread.join()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def worker_pool(n_workers: int) -> Iterator[Optional[WarmingPool]]:
    """Worker processes for ``n_workers`` (None for one worker: everything runs in this process)."""
    if n_workers <= 1:
        yield None
        return
    pool = WarmingPool(n_workers)
    try:
        yield pool
    finally:
        pool.shutdown()
