"""One-pass Hugging Face -> quantized GGUF: the converter's tensors go straight into the quantizer.

The result equals converting to an F32 GGUF and then running ``llama-quantize`` on it (same metadata, tensor
order, types and bytes), without writing the F32 file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from .gguf_out import MetadataFn, OutputTensor, collect_metadata
from .core.progress import CancelToken, ProgressCallback
from .quantize import ImatrixArg, InputTensor, quantize_tensors
from .mixes import Override


def write_quantized(path: str | Path, arch: str, tensors: Sequence[OutputTensor], metadata: MetadataFn, mix: str,
                    *, imatrix: ImatrixArg = None, overrides: Sequence[Override | str] = (),
                    threads: Optional[int] = None, progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None) -> int:
    """Quantize converter output to ``mix`` at ``path``; returns the file size.

    ``tensors`` are the converter's float tensors (F32/F16/BF16, ``produce()`` giving their data) and
    ``metadata(writer)`` adds the key/value pairs, as for :func:`converter.gguf_out.write_gguf`.
    """
    meta = collect_metadata(arch, tensors, metadata)
    inputs = [InputTensor(t.name, t.ne, t.qtype, load=t.produce) for t in tensors]
    quantize_tensors(meta.kv, meta.values, inputs, {mix: path}, imatrix=imatrix, overrides=overrides,
                     threads=threads, progress=progress, cancel=cancel, alignment=meta.alignment)
    return Path(path).stat().st_size
