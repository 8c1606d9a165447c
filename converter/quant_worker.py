"""One unit of quantization work, runnable in this process or in a worker process.

A :class:`Job` names a block of rows of one tensor (on disk, so a worker reads it from its own memory map, or as
an array) and the types to produce from it (several for a ladder). :func:`run_job` returns the encoded bytes for
each target. Everything here is picklable and imports only NumPy and :mod:`converter.quants`: types travel as
plain ggml type ids, so a worker never imports ``gguf`` (~0.1 s of every worker start).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from . import quants
from .errors import QuantizationError
from .core.quant_types import NOT_WEIGHTS, QType

T = QType

_MAPS: dict[str, np.memmap] = {}  # per-process cache of read-only file maps


#: glibc malloc: blocks up to this size come from the heap instead of fresh mmap'd pages ...
_MMAP_THRESHOLD = 64 << 20
#: ... and up to this much free memory stays at the top of the heap for the next job
_TRIM_THRESHOLD = 128 << 20
_allocator_tuned = False


def tune_allocator() -> None:
    """Let glibc reuse freed working arrays instead of returning them to the kernel after every chunk.

    The quantizers allocate and free megabytes per chunk. With glibc's defaults, blocks that size are mmap'd and
    unmapped each time (or trimmed off the heap), so every chunk takes fresh zeroed pages: measured on the Q6_K
    mix, 400 000 page faults and 0.95 s of system time in a 4.3 s run; with the heap kept, 3 600 faults and 3.0 s.
    Raising the two thresholds (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD) bounds what a process keeps to 128 MiB of
    free heap. Elsewhere than glibc this does nothing."""
    global _allocator_tuned
    if _allocator_tuned:
        return
    _allocator_tuned = True
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:  # the symbols already loaded into this process (ctypes.util.find_library would run ldconfig)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_trim_threshold, _TRIM_THRESHOLD)
    mallopt(m_mmap_threshold, _MMAP_THRESHOLD)


def init_worker() -> None:
    """Worker process set-up: leave Ctrl-C to the parent, which cancels cleanly (a terminal sends SIGINT to the
    whole process group, workers included), and keep freed working memory for reuse (:func:`tune_allocator`)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_allocator()


def ping() -> int:
    """A no-op job (its process id): submitting one per worker makes a pool start all of them."""
    return os.getpid()


def release_maps() -> None:
    """Drop this process's cached file maps (so files can be replaced or deleted, also on Windows)."""
    _MAPS.clear()


@dataclass(frozen=True)
class FileRows:
    """Rows ``[start, stop)`` of a tensor stored at ``offset`` in ``path`` as ``type``, ``n_per_row`` wide."""

    path: str
    offset: int
    type: int  # ggml type id
    n_per_row: int
    start: int
    stop: int

    def raw(self) -> np.ndarray:
        """The stored bytes of these rows (uint8, a view of the file map)."""
        row = QType(self.type).row_bytes(self.n_per_row)
        mm = _MAPS.get(self.path)
        if mm is None:
            mm = _MAPS[self.path] = np.memmap(self.path, dtype=np.uint8, mode="r")
        return mm[self.offset + self.start * row:self.offset + self.stop * row]


@dataclass(frozen=True)
class ArrayRows:
    """Rows held in memory: ``data`` is their stored form (float32, float16, or uint16 words for BF16)."""

    data: np.ndarray
    type: int  # ggml type id
    n_per_row: int

    def raw(self) -> np.ndarray:
        """The stored bytes of these rows (uint8)."""
        return np.ascontiguousarray(self.data).view(np.uint8).reshape(-1)


Rows = Union[FileRows, ArrayRows]


@dataclass(frozen=True)
class FileSlot:
    """Where a worker puts one target's bytes itself: at byte ``offset`` of the (already created) file ``path``."""

    path: str
    offset: int


#: Workers can write their results into the output file themselves (positioned writes, not on Windows)
CAN_WRITE_IN_PLACE = hasattr(os, "pwrite")


@dataclass(frozen=True)
class Job:
    """Quantize ``rows`` to each of ``targets`` ((type, per-column importance or None), ...).

    With ``slots`` (one per target) the worker writes each result into the output file and returns None for it:
    a megabyte result then never travels back through a pipe, where the worker would wait for the parent to
    read it (measured: ~1 ms of idle worker per job)."""

    rows: Rows
    targets: tuple[tuple[int, Optional[np.ndarray]], ...]  # ggml type ids
    allow_requantize: bool = False
    slots: Optional[tuple[FileSlot, ...]] = None


def to_float32(raw: np.ndarray, qtype: int, n_per_row: int,
               allow_requantize: bool = False) -> np.ndarray:
    """Decode stored rows to float32 ``(n_rows, n_per_row)``: exact for F32/F16/BF16, dequantized otherwise."""
    raw = np.ascontiguousarray(raw).view(np.uint8)
    if qtype == T.F32:
        flat = raw.view(np.float32)
    elif qtype == T.F16:
        flat = raw.view(np.float16).astype(np.float32)
    elif qtype == T.BF16:
        flat = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    elif qtype in NOT_WEIGHTS:
        raise QuantizationError(f"cannot convert a tensor of type {QType.parse(qtype).name}")
    elif not allow_requantize:
        raise QuantizationError(f"requantizing from type {QType.parse(qtype).name} is disabled "
                                "(allow requantize to do it)")
    else:
        flat = quants.dequantize(raw, qtype, n_per_row)
    return flat.reshape(-1, n_per_row)


def run_job(job: Job) -> tuple[list[Optional[np.ndarray]], float]:
    """Quantize the job's rows to every target; returns one uint8 array per target (None where the job's slot
    received it) and the CPU seconds spent."""
    started = time.process_time()
    rows = job.rows
    data = to_float32(rows.raw(), rows.type, rows.n_per_row, job.allow_requantize)
    out: list[Optional[np.ndarray]] = []
    done: dict[tuple[int, int], np.ndarray] = {}  # a ladder's mixes often share a type: quantize it once
    for i, (qtype, imatrix) in enumerate(job.targets):
        key = (qtype, id(imatrix))
        if key not in done:
            done[key] = quants.quantize(data, qtype, imatrix=imatrix).reshape(-1)
        encoded = done[key]
        if job.slots is not None:
            write_at(job.slots[i], encoded)
            encoded = None
        out.append(encoded)
    return out, time.process_time() - started


def write_at(slot: FileSlot, data: np.ndarray) -> None:
    """Write ``data`` at ``slot`` with positioned writes (the file is neither created nor truncated here)."""
    fd = os.open(slot.path, os.O_WRONLY)
    try:
        view = memoryview(data).cast("B")
        offset = slot.offset
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
    finally:
        os.close(fd)
