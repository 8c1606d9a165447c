"""Compute an importance matrix by running a model on calibration text in llama.cpp.

llama.cpp's graph scheduler can call back before and after computing each graph node
(``llama_context_params.cb_eval``, a ``ggml_backend_sched_eval_callback``): first with ``ask=True`` so we choose the
nodes we want, then with ``ask=False`` once such a node's result exists. We ask for every matrix multiplication
(``GGML_OP_MUL_MAT`` with at least 16 tokens, and ``GGML_OP_MUL_MAT_ID`` for expert stacks) whose weight is a
``blk.*`` tensor, read its input activations (``src[1]``) and accumulate, per weight matrix and input column, the
sum of squared activations and the number of tokens: the same statistics llama.cpp's ``llama-imatrix`` collects.

The text is cut into chunks of ``chunk_size`` tokens (the first replaced by BOS where the model wants one); each
chunk is evaluated from an empty KV cache with outputs for every token, so the last layer sees every token too.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import Optional

import numpy as np

from app.runtime.errors import ImatrixComputeError, ImatrixModelError
from app.runtime.llama.context import ContextOptions
from app.runtime.llama.model import ErrorKinds, ModelOptions, open_model
from app.runtime.settings import default_threads
from converter.core.progress import CancelToken, Progress, ProgressCallback, check, emit
from converter.imatrix import ImatrixEntry, ImportanceMatrix

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION_NAME = "kompakt-calibration.txt"
MIN_TOKENS_PER_MATMUL = 16  # llama-imatrix ignores smaller batches, and so do we


_ERRORS = ErrorKinds(file=ImatrixModelError, failure=ImatrixComputeError)


class _GGMLTensor(ctypes.Structure):
    """``struct ggml_tensor`` from ggml.h (GGML_MAX_DIMS 4, GGML_MAX_SRC 10, GGML_MAX_OP_PARAMS 64,
    GGML_MAX_NAME 64)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("buffer", ctypes.c_void_p),
        ("ne", ctypes.c_int64 * 4),
        ("nb", ctypes.c_size_t * 4),
        ("op", ctypes.c_int),
        ("op_params", ctypes.c_int32 * 16),
        ("flags", ctypes.c_int32),
        ("src", ctypes.c_void_p * 10),
        ("view_src", ctypes.c_void_p),
        ("view_offs", ctypes.c_size_t),
        ("data", ctypes.c_void_p),
        ("name", ctypes.c_char * 64),
        ("extra", ctypes.c_void_p),
        ("padding", ctypes.c_char * 8),
    ]


_GGML_OBJECT_SIZE = 32  # struct ggml_object: offs, size, next, type + padding


class _GGML:
    """The few ggml-base functions we call, with the op ids looked up by name (robust to enum changes)."""

    def __init__(self) -> None:
        import llama_cpp
        from llama_cpp._ctypes_extensions import load_shared_library

        lib = load_shared_library("ggml-base", Path(llama_cpp.__file__).parent / "lib")
        lib.ggml_op_name.restype = ctypes.c_char_p
        lib.ggml_op_name.argtypes = [ctypes.c_int]
        lib.ggml_nbytes.restype = ctypes.c_size_t
        lib.ggml_nbytes.argtypes = [ctypes.c_void_p]
        lib.ggml_tensor_overhead.restype = ctypes.c_size_t
        lib.ggml_backend_tensor_get.restype = None
        lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
        if lib.ggml_tensor_overhead() - _GGML_OBJECT_SIZE != ctypes.sizeof(_GGMLTensor):
            raise ImatrixComputeError("this llama.cpp build's ggml_tensor layout differs from the one Kompakt knows")
        ops = {}
        for i in range(200):
            name = lib.ggml_op_name(i)
            if name in (b"MUL_MAT", b"MUL_MAT_ID"):
                ops[name.decode()] = i
            if len(ops) == 2:
                break
        self.lib = lib
        self.MUL_MAT = ops["MUL_MAT"]
        self.MUL_MAT_ID = ops["MUL_MAT_ID"]

    def read_f32(self, t: _GGMLTensor, ptr: int) -> np.ndarray:
        """The tensor's float32 data as a strided (ne[3], ne[2], ne[1], ne[0]) array (copied from the backend)."""
        nbytes = self.lib.ggml_nbytes(ptr)
        buf = np.empty(nbytes, dtype=np.uint8)
        self.lib.ggml_backend_tensor_get(ptr, buf.ctypes.data, 0, nbytes)
        shape = tuple(int(t.ne[i]) for i in (3, 2, 1, 0))
        strides = tuple(int(t.nb[i]) for i in (3, 2, 1, 0))
        return np.lib.stride_tricks.as_strided(buf.view(np.float32), shape=shape, strides=strides)

    def read_i32(self, t: _GGMLTensor, ptr: int) -> np.ndarray:
        """An int32 tensor (expert ids) as a strided (ne[1], ne[0]) array."""
        nbytes = self.lib.ggml_nbytes(ptr)
        buf = np.empty(nbytes, dtype=np.uint8)
        self.lib.ggml_backend_tensor_get(ptr, buf.ctypes.data, 0, nbytes)
        return np.lib.stride_tricks.as_strided(buf.view(np.int32), shape=(int(t.ne[1]), int(t.ne[0])),
                                               strides=(int(t.nb[1]), int(t.nb[0])))


def _weight_name(raw: bytes) -> str:
    """``CUDA0#blk.0.attn_k.weight#0`` -> ``blk.0.attn_k.weight`` (the scheduler decorates copied tensors)."""
    name = raw.decode("utf-8", "replace")
    if "#" in name:
        name = name.split("#")[1]
    return name


class _Collector:
    """Accumulates squared activations per weight matrix; its :meth:`callback` is the ggml eval callback."""

    def __init__(self, ggml: _GGML, process_output: bool) -> None:
        self.ggml = ggml
        self.process_output = process_output
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, np.ndarray] = {}
        self.error: Optional[BaseException] = None

    def callback(self, t_ptr: int, ask: bool, user_data: int) -> bool:  # noqa: ARG002 - C signature
        try:
            return self._handle(t_ptr, bool(ask))
        except BaseException as exc:  # never let an exception cross into C
            if self.error is None:
                self.error = exc
            return False

    def _wanted(self, t: _GGMLTensor, src0: _GGMLTensor, src1: _GGMLTensor) -> bool:
        if t.op == self.ggml.MUL_MAT_ID:
            return True
        if t.op != self.ggml.MUL_MAT or src1.ne[1] < MIN_TOKENS_PER_MATMUL or src1.type != 0:  # 0 = GGML_TYPE_F32
            return False
        name = _weight_name(src0.name)
        return name.startswith("blk.") or (self.process_output and name == "output.weight")

    def _handle(self, t_ptr: int, ask: bool) -> bool:
        t = _GGMLTensor.from_address(t_ptr)
        if not t.src[0] or not t.src[1]:
            return False
        src0 = _GGMLTensor.from_address(t.src[0])
        src1 = _GGMLTensor.from_address(t.src[1])
        if ask:
            return self._wanted(t, src0, src1)
        if not self._wanted(t, src0, src1):
            return True
        name = _weight_name(src0.name)
        x = self.ggml.read_f32(src1, t.src[1])  # (ne3, ne2, ne1, ne0)
        if t.op == self.ggml.MUL_MAT_ID:
            self._add_experts(name, t, src0, x)
        else:
            self._add_dense(name, src0, x)
        return True

    def _entry(self, name: str, n_mat: int, n_cols: int) -> tuple[np.ndarray, np.ndarray]:
        sums = self.sums.get(name)
        if sums is None:
            sums = self.sums[name] = np.zeros((n_mat, n_cols), dtype=np.float32)
            self.counts[name] = np.zeros(n_mat, dtype=np.int64)
        elif sums.shape != (n_mat, n_cols):
            raise ImatrixComputeError(f"inconsistent activation size for {name}: {sums.shape} vs {(n_mat, n_cols)}")
        return sums, self.counts[name]

    def _add_dense(self, name: str, src0: _GGMLTensor, x: np.ndarray) -> None:
        n_mat2, n_mat3 = int(src0.ne[2]), int(src0.ne[3])
        sums, counts = self._entry(name, n_mat2 * n_mat3, x.shape[3])
        for i3 in range(x.shape[0]):
            for i2 in range(x.shape[1]):
                mat = (i3 % n_mat3) * n_mat2 + (i2 % n_mat2)
                rows = x[i3, i2]
                # in-order float32 accumulation, as llama-imatrix does it (rows summed one after another)
                stacked = np.concatenate([sums[mat][None, :], rows * rows])
                sums[mat] = np.add.reduce(stacked, axis=0, dtype=np.float32)
        counts += x.shape[0] * x.shape[1] * x.shape[2] // (n_mat2 * n_mat3)
        if not np.isfinite(sums).all():
            raise ImatrixComputeError(f"non-finite activations in {name}")

    def _add_experts(self, name: str, t: _GGMLTensor, src0: _GGMLTensor, x: np.ndarray) -> None:
        # src1: (cols, n_expert_used or 1, n_tokens); ids: (n_expert_used, n_tokens)
        ids_t = _GGMLTensor.from_address(t.src[2])
        ids = self.ggml.read_i32(ids_t, t.src[2])  # (n_tokens, n_used)
        n_as = int(src0.ne[2])
        sums, counts = self._entry(name, n_as, x.shape[3])
        act = x[0]  # (n_tokens, ne1, cols)
        if ids.size and (ids.min() < 0 or ids.max() >= n_as):
            raise ImatrixComputeError(f"expert id out of range in {name}")
        for idx in range(ids.shape[1]):
            v = act[:, idx % act.shape[1]]
            np.add.at(sums, ids[:, idx], v * v)  # unbuffered, in token order
            np.add.at(counts, ids[:, idx], 1)
        if not np.isfinite(sums).all():
            raise ImatrixComputeError(f"non-finite activations in {name}")

    def result(self) -> dict[str, ImatrixEntry]:
        return {name: ImatrixEntry(self.sums[name], self.counts[name]) for name in sorted(self.sums)}


def default_calibration_text() -> str:
    """The calibration text shipped with Kompakt (written for the project; see resources/calibration/README)."""
    from app.runtime.resources import resource_path

    return resource_path("calibration", DEFAULT_CALIBRATION_NAME).read_text(encoding="utf-8")


def compute_imatrix(model_path: str | os.PathLike, text: Optional[str] = None, *, chunk_size: int = 512,
                    max_chunks: Optional[int] = None, threads: Optional[int] = None, n_gpu_layers: int = 0,
                    process_output: bool = False, dataset: str = "",
                    progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None) -> ImportanceMatrix:
    """Run the (preferably F16/F32) model at ``model_path`` over ``text`` (default: Kompakt's calibration text)
    and return the importance matrix. ``dataset`` names the text in the file's metadata.

    Raises :class:`ImatrixModelError` (one line, before llama.cpp sees the file) for a bad model file,
    :class:`ImatrixComputeError` when llama.cpp refuses to run it, :class:`Cancelled` on cancel."""
    if text is None:
        text, dataset = default_calibration_text(), dataset or DEFAULT_CALIBRATION_NAME
    with open_model(model_path, ModelOptions(n_gpu_layers=n_gpu_layers), errors=_ERRORS, cancel=cancel) as model:
        collector = _Collector(_GGML(), process_output)
        tokens = model.tokenize(text, add_special=True, parse_special=False)
        if len(tokens) < 2 * MIN_TOKENS_PER_MATMUL:
            raise ImatrixComputeError(f"the calibration text is too short ({len(tokens)} tokens)")
        n_ctx = min(chunk_size, len(tokens))
        n_chunks = len(tokens) // n_ctx if max_chunks is None else min(max_chunks, len(tokens) // n_ctx)
        ctx = model.new_context(ContextOptions(n_ctx=n_ctx, n_threads=threads or default_threads(), n_batch=n_ctx,
                                               n_ubatch=n_ctx), cancel=cancel, eval_callback=collector.callback)
        emit(progress, Progress("imatrix", 0, n_chunks, "chunks"))
        for i in range(n_chunks):
            check(cancel)
            chunk = tokens[i * n_ctx:(i + 1) * n_ctx].copy()
            if model.add_bos:
                chunk[0] = model.bos
            ctx.batch.fill(chunk, outputs="all")  # outputs for every token, so the last layer processes them all
            ctx.clear()
            try:
                ctx.decode()
            finally:
                if collector.error is not None:  # the callback's own failure explains an aborted decode best
                    raise ImatrixComputeError(f"collecting activations failed: {collector.error}",
                                              path=model_path) from collector.error
            check(cancel)
            emit(progress, Progress("imatrix", i + 1, n_chunks, "chunks"))
    entries = collector.result()
    if not entries:
        raise ImatrixComputeError("no matrix multiplication was observed (unsupported model?)", path=model_path)
    return ImportanceMatrix(entries, [dataset] if dataset else [], n_chunks, n_ctx)
