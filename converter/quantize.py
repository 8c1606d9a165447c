"""Quantize a model to one or several mixes in one streaming pass.

:func:`quantize_gguf` reads an F32/F16/BF16 GGUF tensor by tensor and writes the quantized GGUF exactly as
``llama-quantize`` would (same tensor types, order, bytes and metadata). :func:`quantize_ladder` writes several
mixes from one read of the source. :func:`quantize_tensors` is the entry point for producers that hold tensors in
memory (the Hugging Face converter): they hand over metadata and lazily loaded tensors, and the quantized GGUF comes
out without an intermediate file.

Work is split into blocks of rows that worker processes quantize in parallel (NumPy in one process uses one core);
results are written in order, so memory stays bounded by the blocks in flight. Progress is reported in source
bytes processed, with the current tensor's name. Every output goes through
:func:`converter.atomic.atomic_output`: a cancel or an error leaves no file behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
from gguf import GGUFValueType

from .atomic import atomic_output
from .errors import ConverterError, OutputError, QuantizationError
from .gguf_in import KV, read_gguf
from .gguf_stream import GGUFStreamWriter, OutTensor, encode_kv
from .imatrix import ImportanceMatrix, read_imatrix
from .core.progress import CancelToken, Progress, ProgressCallback, check, emit
from .core.quant_types import NOT_WEIGHTS, Mix, QType, get_mix
from .quant_worker import CAN_WRITE_IN_PLACE, ArrayRows, FileRows, FileSlot, Job, release_maps, run_job
from .quant_worker import tune_allocator
from .worker_pool import start_worker_server, worker_pool
from .mixes import MixModelParams, MixTensor, Override, plan_types, tensor_order_key

log = logging.getLogger(__name__)

T = QType
QUANTIZATION_VERSION = 2  # GGML_QNT_VERSION
_DROPPED_KEYS = {"general.quantization_version", "general.file_type", "split.no", "split.count",
                 "split.tensors.count"}
#: Weights per job: large enough to amortize process hand-offs, small enough to keep memory low.
CHUNK_WEIGHTS = 1 << 20
#: Below this many weights to convert, everything runs in the calling process.
SERIAL_BELOW_WEIGHTS = 4 * CHUNK_WEIGHTS

ImatrixArg = Union[None, str, os.PathLike, ImportanceMatrix, Mapping[str, np.ndarray]]


@dataclass
class InputTensor:
    """A tensor to quantize: name, GGML-order shape (``shape[0]`` = row length), stored type, and either its
    location in a file (``path``, ``offset``) or ``load``, a callable returning its stored data as an array
    (float32 for F32, float16 for F16, uint16 words for BF16)."""

    name: str
    shape: tuple[int, ...]
    type: QType
    path: Optional[str] = None
    offset: int = 0
    load: Optional[Callable[[], np.ndarray]] = field(default=None, repr=False)

    @property
    def n_rows(self) -> int:
        """Rows of ``shape[0]`` weights (all the other dimensions multiplied)."""
        return int(np.prod(self.shape[1:], dtype=np.int64)) if len(self.shape) > 1 else 1


@dataclass(frozen=True)
class Output:
    """One file to write: the mix and the destination path."""

    mix: Mix
    path: Path


def quantize_gguf(src: str | os.PathLike, dst: str | os.PathLike, ftype: str, *, imatrix: ImatrixArg = None,
                  overrides: Sequence[Override | str] = (), threads: Optional[int] = None,
                  allow_requantize: bool = False, pure: bool = False,
                  progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                  stats: Optional[dict] = None) -> Path:
    """Quantize the GGUF ``src`` to ``dst`` with mix ``ftype`` (``"Q4_K_M"``, ...); returns ``dst``.

    ``imatrix``: a file (GGUF or legacy .dat), an :class:`ImportanceMatrix`, or ``{tensor name: weights}``.
    ``overrides``: ``PATTERN=TYPE`` strings or :class:`Override` objects. ``threads``: worker processes
    (default: all cores).
    """
    return quantize_ladder(src, {ftype: dst}, imatrix=imatrix, overrides=overrides, threads=threads,
                           allow_requantize=allow_requantize, pure=pure, progress=progress, cancel=cancel,
                           stats=stats)[0]


def quantize_ladder(src: str | os.PathLike, outputs: Mapping[str, str | os.PathLike], **kwargs) -> list[Path]:
    """Quantize ``src`` to several mixes (``{"Q4_K_M": path, "Q8_0": path2}``) reading it once."""
    for mix, dst in outputs.items():
        get_mix(mix)  # reject a bad type name before touching the file
        if Path(dst).resolve() == Path(src).resolve():
            raise OutputError("the output would overwrite the input", path=dst)
    if _parallel(kwargs.get("threads")):
        start_worker_server()  # its imports overlap with reading the header and planning
    gf = read_gguf(src)
    path = str(Path(src).resolve())
    tensors = [InputTensor(t.name, t.ne, t.qtype, path=path, offset=t.offset) for t in gf.tensors]
    return quantize_tensors(gf.kv, gf.metadata, tensors, outputs, alignment=gf.alignment, **kwargs)


@dataclass(frozen=True)
class QuantPlan:
    """What a quantization would write: each tensor's type (in file order) and the tensor data size in bytes."""

    mix: Mix
    types: dict[str, QType]
    nbytes: int


def plan_gguf(src: str | os.PathLike, mixes: Sequence[str], *, overrides: Sequence[Override | str] = (),
              has_imatrix: bool = False, allow_requantize: bool = False, pure: bool = False) -> list[QuantPlan]:
    """Plan quantizing ``src`` to each of ``mixes`` without quantizing anything: the tensor types, the output
    size, and every check that would fail (unknown mix, already-quantized source, bad override) raised now."""
    gf = read_gguf(src)
    mix_list = [get_mix(m) for m in mixes]
    tensors = [InputTensor(t.name, t.ne, t.qtype) for t in gf.tensors]
    ordered, plans = _plan(gf.metadata, tensors, mix_list, overrides, has_imatrix, pure)
    _check_inputs(ordered, plans, {}, allow_requantize)
    return [QuantPlan(mix, types, sum(QType(types[t.name]).nbytes(t.shape) for t in ordered))
            for mix, types in zip(mix_list, plans)]


def _plan(values: Mapping[str, object], tensors: Sequence[InputTensor], mixes: Sequence[Mix],
          overrides: Sequence[Override | str], has_imatrix: bool,
          pure: bool) -> tuple[list[InputTensor], list[dict[str, QType]]]:
    """Tensors in llama.cpp's file order and, per mix, every tensor's type."""
    rules = [o if isinstance(o, Override) else Override.parse(o) for o in overrides]
    model = MixModelParams.from_metadata(values)
    ordered = sorted(tensors, key=lambda t: tensor_order_key(t.name))
    infos = [MixTensor(t.name, tuple(t.shape), t.type) for t in ordered]
    return ordered, [plan_types(infos, m, model, overrides=rules, has_imatrix=has_imatrix, pure=pure)
                     for m in mixes]


def quantize_tensors(kv: Sequence[KV], values: Mapping[str, object], tensors: Sequence[InputTensor],
                     outputs: Mapping[str, str | os.PathLike], *, imatrix: ImatrixArg = None,
                     overrides: Sequence[Override | str] = (), threads: Optional[int] = None,
                     allow_requantize: bool = False, pure: bool = False, alignment: int = 32,
                     progress: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None,
                     stats: Optional[dict] = None) -> list[Path]:
    """Write one quantized GGUF per ``outputs`` entry from metadata ``kv`` (encoded pairs, in file order;
    ``values`` their decoded values, for the architecture facts) and ``tensors``.

    ``stats``, if given, receives ``quantize_cpu_s``: CPU seconds spent quantizing (this process and the workers),
    and ``worker_cpu_s``, the part spent in worker processes."""
    if _parallel(threads):
        start_worker_server()
    outs = [Output(get_mix(mix), Path(p)) for mix, p in outputs.items()]
    if not outs:
        raise QuantizationError("no output requested")
    if len({o.path.resolve() for o in outs}) != len(outs):
        raise OutputError("two outputs would be written to the same file", path=outs[0].path)
    weights = _load_imatrix(imatrix)
    tune_allocator()  # this process quantizes too (one worker, or while the workers start)
    ordered, plans = _plan(values, tensors, [o.mix for o in outs], overrides, bool(weights), pure)
    job_imatrix = _check_inputs(ordered, plans, weights, allow_requantize)
    n_workers = _n_workers(threads)
    work = sum(int(np.prod(t.shape, dtype=np.int64)) for t in ordered if any(p[t.name] != t.type for p in plans))
    if work < SERIAL_BELOW_WEIGHTS:
        n_workers = 1  # starting worker processes would cost more than they save
    with contextlib.ExitStack() as stack:
        writers, paths = [], []
        for out, plan in zip(outs, plans):
            tmp = stack.enter_context(atomic_output(out.path))
            paths.append(str(tmp))
            f = stack.enter_context(open(tmp, "wb"))
            out_tensors = [OutTensor(t.name, tuple(t.shape), plan[t.name]) for t in ordered]
            writers.append(GGUFStreamWriter(f, _output_kv(kv, out.mix), out_tensors, alignment=alignment))
        stack.callback(release_maps)
        pool = stack.enter_context(worker_pool(n_workers))
        cpu = _stream(ordered, plans, job_imatrix, writers, paths, pool, n_workers, allow_requantize,
                      stage="quantize " + ",".join(o.mix.name for o in outs), progress=progress, cancel=cancel)
        for w in writers:
            w.close()
    if stats is not None:
        stats["quantize_cpu_s"] = cpu["all"]
        stats["worker_cpu_s"] = cpu["workers"]
    return [o.path for o in outs]


def _n_workers(threads: Optional[int]) -> int:
    return max(1, threads or os.cpu_count() or 1)


def _parallel(threads: Optional[int]) -> bool:
    return _n_workers(threads) > 1


def _output_kv(kv: Sequence[KV], mix: Mix) -> list[KV]:
    kept = [p for p in kv if p.key not in _DROPPED_KEYS]
    return kept + [encode_kv("general.quantization_version", QUANTIZATION_VERSION, GGUFValueType.UINT32),
                   encode_kv("general.file_type", int(mix.ftype), GGUFValueType.UINT32)]


def _load_imatrix(imatrix: ImatrixArg) -> dict[str, np.ndarray]:
    if imatrix is None:
        return {}
    if isinstance(imatrix, (str, os.PathLike)):
        imatrix = read_imatrix(imatrix)
    if isinstance(imatrix, ImportanceMatrix):
        return imatrix.weights()
    weights = {name: np.ascontiguousarray(v, dtype=np.float32).reshape(-1) for name, v in imatrix.items()}
    for name, v in weights.items():
        if not np.isfinite(v).all():
            raise QuantizationError(f"importance matrix entry {name} contains non-finite values")
    return weights


def _check_inputs(ordered: Sequence[InputTensor], plans: Sequence[dict[str, T]], weights: dict[str, np.ndarray],
                  allow_requantize: bool) -> dict[str, np.ndarray]:
    """Fail before writing anything: source types we cannot convert, importance matrices of the wrong size.
    Returns the importance weights to use per tensor name (those of tensors that get quantized)."""
    used = {}
    for t in ordered:
        targets = {plan[t.name] for plan in plans} - {t.type}
        if not targets:
            continue
        if t.type not in (T.F32, T.F16, T.BF16):
            if t.type in NOT_WEIGHTS:
                raise QuantizationError(f"tensor {t.name}: cannot convert type {t.type.name}")
            if not allow_requantize:
                raise QuantizationError(f"tensor {t.name} is already {t.type.name}: requantizing is disabled "
                                        "(quantize from an F32/F16/BF16 file, or allow requantizing)")
        w = weights.get(t.name)
        if w is None:
            continue
        n_mat = t.shape[2] if len(t.shape) > 2 else 1
        if w.size == t.shape[0] * n_mat and (len(t.shape) < 4 or t.shape[3] == 1):
            used[t.name] = w
        elif t.name not in ("token_embd.weight", "per_layer_token_embd.weight"):
            raise QuantizationError(f"importance matrix has {w.size} values for {t.name}, which needs "
                                    f"{t.shape[0] * n_mat}: it was computed for a different model")
    return used


@dataclass
class _Piece:
    index: int  # the tensor's position in the output files
    tensor: InputTensor
    rows: object  # FileRows | ArrayRows
    start: int  # first row
    n_rows: int
    job: Optional[Job]  # None when every output copies the stored bytes
    types: tuple[T, ...]  # per output: the tensor's type there
    copy: tuple[bool, ...]  # per output: write the stored bytes unchanged

    def nbytes(self, qtype: T) -> int:
        """Size of these rows in ``qtype``."""
        return QType(qtype).nbytes((self.tensor.shape[0], self.n_rows))

    def slots(self, writers: Sequence[GGUFStreamWriter], paths: Sequence[str]) -> tuple[FileSlot, ...]:
        """Where each quantized output of this piece goes in its file (the job's targets, in order)."""
        slots = []
        for writer, path, qtype, copy in zip(writers, paths, self.types, self.copy):
            if not copy:
                rows_before = QType(qtype).nbytes((self.tensor.shape[0], self.start))
                slots.append(FileSlot(path, writer.file_offset(self.index, rows_before)))
        return tuple(slots)


def _pieces(ordered: Sequence[InputTensor], plans: Sequence[dict[str, T]], imatrix: dict[str, np.ndarray],
            allow_requantize: bool) -> Iterator[_Piece]:
    for index, t in enumerate(ordered):
        types = tuple(plan[t.name] for plan in plans)
        copy = tuple(q == t.type for q in types)
        n_per_row = t.shape[0]
        rows_per_mat = t.shape[1] if len(t.shape) > 1 else 1
        step = max(1, min(rows_per_mat, CHUNK_WEIGHTS // max(1, n_per_row)))
        data = None
        if t.path is None:
            if t.load is None:
                raise QuantizationError(f"tensor {t.name} has neither a file location nor a loader")
            data = np.ascontiguousarray(t.load()).reshape(t.n_rows, -1)
        w = imatrix.get(t.name)
        bounds = [(m + s, min(m + s + step, m + rows_per_mat))
                  for m in range(0, t.n_rows, rows_per_mat) for s in range(0, rows_per_mat, step)]
        for start, stop in bounds:
            if data is None:
                rows = FileRows(t.path, t.offset, int(t.type), n_per_row, start, stop)  # type: ignore[arg-type]
            else:
                rows = ArrayRows(data[start:stop], int(t.type), n_per_row)
            job = None
            if not all(copy):
                mat = start // rows_per_mat
                im = None if w is None else w[mat * n_per_row:(mat + 1) * n_per_row]
                targets = tuple((int(q), im) for q, c in zip(types, copy) if not c)  # ints: no gguf in workers
                job = Job(rows, targets, allow_requantize)
            yield _Piece(index, t, rows, start, stop - start, job, types, copy)


def _stream(ordered, plans, imatrix, writers, paths, pool, n_workers, allow_requantize, *, stage, progress,
            cancel) -> dict[str, float]:
    """Quantize every piece (here or in the pool's workers) and write the outputs in order. ``paths``: the files
    the ``writers`` write, where workers put their results themselves (see :class:`FileSlot`)."""
    total = sum(QType(t.type).nbytes(t.shape) for t in ordered)
    done_bytes = 0
    pending: deque = deque()
    # Jobs in flight: small tensors (e.g. 576x192 attention matrices) make jobs of a few milliseconds, and each
    # hand-off to a worker costs about as much; a deep queue keeps every worker busy (measured on SmolLM2 at 2
    # workers: 4 in flight left them idle 40% of the time, 16 keeps them busy). Memory stays bounded: a queued
    # job holds row ranges (or one chunk of rows), and finished results are small.
    max_inflight = 1 if pool is None else 8 * n_workers
    cpu = {"all": 0.0, "workers": 0.0}

    def finish_one() -> None:
        nonlocal done_bytes
        piece, future = pending.popleft()
        try:
            done = future.result() if future is not None else (run_job(piece.job) if piece.job else ([], 0.0))
        except ConverterError as exc:
            raise QuantizationError(f"tensor {piece.tensor.name}: {exc}") from exc
        cpu["all"] += done[1]
        if future is not None:
            cpu["workers"] += done[1]
        results = iter(done[0])
        raw = piece.rows.raw() if any(piece.copy) else None
        for writer, copy, qtype in zip(writers, piece.copy, piece.types):
            result = raw if copy else next(results)
            if result is None:  # a worker wrote it in place
                writer.skip(piece.nbytes(qtype))
            else:
                writer.write(result)
        done_bytes += piece.nbytes(piece.tensor.type)
        emit(progress, Progress(stage, done_bytes, total, "bytes", piece.tensor.name, started))

    started = time.monotonic()
    emit(progress, Progress(stage, 0, total, "bytes", "", started))
    for piece in _pieces(ordered, plans, imatrix, allow_requantize):
        check(cancel)
        while len(pending) >= max_inflight:
            finish_one()
            check(cancel)
        executor = pool.executor() if pool is not None else None
        future = None
        if executor is not None and piece.job is not None:
            job = dataclasses.replace(piece.job, slots=piece.slots(writers, paths)) if CAN_WRITE_IN_PLACE \
                else piece.job
            future = executor.submit(run_job, job)
        pending.append((piece, future))
        if pool is not None and executor is None:
            while pending:  # workers still starting: this piece (and any before it) is done here, now
                finish_one()
    while pending:
        check(cancel)
        finish_one()
    return cpu
