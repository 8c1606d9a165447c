"""One-pass Hugging Face -> quantized GGUF: the converter's tensors go straight into the quantizer.

The result equals converting to an F32 GGUF and then running ``llama-quantize`` on it (same metadata, tensor
order, types and bytes), without writing the F32 file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import gguf
import numpy as np

from .gguf_out import MetadataFn, OutputTensor
from .gguf_stream import KV, encode_str
from .progress import CancelToken, ProgressCallback
from .quantize import ImatrixArg, InputTensor, quantize_tensors
from .recipes import Override


def write_quantized(path: str | Path, arch: str, tensors: Sequence[OutputTensor], metadata: MetadataFn, mix: str,
                    *, imatrix: ImatrixArg = None, overrides: Sequence[Override | str] = (),
                    threads: Optional[int] = None, progress: Optional[ProgressCallback] = None,
                    cancel: Optional[CancelToken] = None) -> int:
    """Quantize converter output to ``mix`` at ``path``; returns the file size.

    ``tensors`` are the converter's float tensors (F32/F16/BF16, ``produce()`` giving their data) and
    ``metadata(writer)`` adds the key/value pairs, as for :func:`converter.gguf_out.write_gguf`.
    """
    writer = gguf.GGUFWriter(None, arch)
    for t in tensors:
        writer.add_tensor_info(t.name, t.shape, np.dtype(np.float32), t.nbytes, raw_dtype=t.qtype)
    metadata(writer)
    kv, values = [], {}
    for key, val in writer.kv_data[0].items():
        # gguf-py's own encoder, so the pairs are byte-identical to what write_gguf would store
        raw = encode_str(key) + writer._pack_val(val.value, val.type, add_vtype=True, sub_type=val.sub_type)
        kv.append(KV(key, raw))
        values[key] = val.value
    inputs = [InputTensor(t.name, tuple(reversed(t.shape)), t.qtype, load=t.produce) for t in tensors]
    quantize_tensors(kv, values, inputs, {mix: path}, imatrix=imatrix, overrides=overrides, threads=threads,
                     progress=progress, cancel=cancel)
    return Path(path).stat().st_size
