"""Hugging Face checkpoint -> GGUF (F32, F16, BF16 or Q8_0), streaming one tensor at a time.

``convert(model_dir, out_path, "f16")`` reads config.json, picks the architecture, reads the tokenizer, plans the
tensors and writes the GGUF through :func:`converter.gguf_out.write_gguf`. Peak memory stays near the largest
tensor in float32 (plus its encoded copy), whatever the model size.

Which tensors stay float32 follows llama.cpp's converter: 1-D tensors, norms, biases and a few special kinds
(:meth:`Architecture.keeps_f32`). For Q8_0, a tensor whose rows are not a whole number of 32-value blocks falls
back to F16, as llama.cpp's converter does.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional

import gguf
import numpy as np

from . import quants
from .archs import Architecture, PlannedTensor, get_architecture
from .atomic import check_output_dir
from .errors import CheckpointError
from .gguf_out import OutputTensor, write_general_metadata, write_gguf
from .hf.checkpoint import open_checkpoint
from .hf.config import load_config
from .core.progress import CancelToken, ProgressCallback, check
from .core.quant_types import MIXES, QType, get_mix
from .tokenizer import Vocab, load_tokenizer

log = logging.getLogger(__name__)

_ROWS_PER_CHUNK_VALUES = 1 << 22  # quantize about 4 Mi values between cancel checks


@dataclass(frozen=True)
class ConvertResult:
    """What :func:`convert` wrote."""

    path: Path
    out_type: str
    architecture: str
    n_tensors: int
    n_params: int
    size: int
    seconds: float


def tensor_type(arch: Architecture, planned: PlannedTensor, default: QType
                ) -> QType:
    """The GGML type ``planned`` is stored as when the file's main type is ``default``."""
    if default == QType.F32 or arch.keeps_f32(planned.name, planned.shape):
        return QType.F32
    if not quants.can_quantize(default, planned.shape[-1]):
        log.warning("%s: rows of %d values do not fit %s blocks; storing F16", planned.name, planned.shape[-1],
                    default.name)
        return QType.F16
    return default


def encode(planned: PlannedTensor, qtype: QType, cancel: Optional[CancelToken] = None
           ) -> np.ndarray:
    """Load ``planned`` and encode it as ``qtype``; block types are quantized in row groups between cancel checks."""
    data = planned.load()
    if tuple(data.shape) != tuple(planned.shape):
        raise CheckpointError(f"tensor {planned.name} has shape {data.shape}, expected {planned.shape}")
    rows = data.reshape(-1, data.shape[-1]) if data.ndim else data.reshape(1, 1)
    if qtype == QType.F32:
        return np.ascontiguousarray(rows, dtype=np.float32)
    if qtype == QType.F16:
        return rows.astype(np.float16)
    step = max(1, _ROWS_PER_CHUNK_VALUES // max(1, rows.shape[1]))
    out = np.empty((rows.shape[0], QType(qtype).row_bytes(rows.shape[1])), dtype=np.uint8)
    for start in range(0, rows.shape[0], step):
        check(cancel)
        out[start:start + step] = quants.quantize(rows[start:start + step], qtype)
    return out


def convert(model_dir: str | Path, out_path: str | Path, out_type: str = "f16", *, name: Optional[str] = None,
            source_repo: Optional[str] = None, progress: Optional[ProgressCallback] = None,
            cancel: Optional[CancelToken] = None) -> ConvertResult:
    """Convert the Hugging Face checkpoint in ``model_dir`` to a GGUF file at ``out_path``.

    ``out_type`` names a mix of :data:`converter.core.quant_types.MIXES` (case-insensitive): the ``direct`` ones
    (f32, f16, bf16, q8_0) are written here, the others by the quantizer from F32 tensors. ``name`` overrides
    ``general.name``; ``source_repo`` ("org/model") records where the model came from. Raises ConverterError
    subclasses on bad input (``UnknownTypeError`` for an unknown ``out_type``); a cancel raises
    :class:`converter.core.progress.Cancelled`. Either way no output file is left.
    """
    started = time.monotonic()
    mix: Optional[str] = None
    out_mix = get_mix(out_type)
    key = out_mix.name.lower()
    if not out_mix.direct:  # a quantization mix (Q4_K_M, ...): F32 tensors go straight into the quantizer
        from .worker_pool import start_worker_server

        mix = out_mix.name
        out_mix = MIXES["F32"]
        start_worker_server()  # the quantizing workers' imports overlap with reading the checkpoint
    ftype, default_qtype = out_mix.ftype, out_mix.default
    model_dir = Path(model_dir)
    check_output_dir(out_path)  # before any long work
    config = load_config(model_dir)
    arch = get_architecture(config, model_dir)
    checkpoint = open_checkpoint(model_dir)
    check(cancel)
    vocab: Vocab = load_tokenizer(model_dir, config, prefer=arch.tokenizer_kind)
    arch.adjust_vocab(vocab)
    check(cancel)
    plan = list(arch.tensor_plan(checkpoint))
    tensors = []
    for planned in plan:
        qtype = tensor_type(arch, planned, default_qtype)
        tensors.append(OutputTensor(planned.name, tuple(planned.shape), qtype,
                                    partial(encode, planned, qtype, cancel)))

    def metadata(writer: gguf.GGUFWriter) -> None:
        write_general_metadata(writer, model_dir, name=name, source_repo=source_repo)
        arch.write_metadata(writer, int(ftype))
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        vocab.write(writer)

    if mix is not None:
        from .convert_quantized import write_quantized

        size = write_quantized(out_path, arch.name, tensors, metadata, mix, progress=progress, cancel=cancel)
    else:
        size = write_gguf(out_path, arch.name, tensors, metadata, stage=f"convert {key.upper()}",
                          progress=progress, cancel=cancel)
    n_params = sum(int(np.prod(t.shape, dtype=np.int64)) for t in tensors)
    return ConvertResult(Path(out_path), key, arch.name, len(tensors), n_params, size,
                         time.monotonic() - started)
