"""Build a :class:`ModelSpec` from a GGUF file: architecture keys plus every tensor's type, shape and offset."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from gguf.constants import GGMLQuantizationType

from converter.errors import GGUFError

from .gguf_header import HeaderError, read_gguf_header
from .model import DEFAULT_SWA_PATTERN, ModelSpec, TensorInfo, per_layer, swa_layers_from_pattern

log = logging.getLogger(__name__)


def spec_from_gguf(path: str | Path) -> ModelSpec:
    """Read a GGUF file's hyper-parameters and tensor infos (no tensor data is read).

    Raises :class:`GGUFError` naming the file for anything that is not a complete, readable GGUF file.
    """
    path = Path(path)
    if not path.is_file():
        raise GGUFError("no such file", path=path)
    size = os.path.getsize(path)
    try:
        header = read_gguf_header(path)
    except HeaderError as exc:
        raise GGUFError(f"truncated or corrupt GGUF file ({size:,} bytes): {exc}", path=path) from exc
    except (OSError, ValueError) as exc:
        raise GGUFError(f"cannot read the GGUF header: {exc}", path=path) from exc
    tensors: list[TensorInfo] = []
    end = 0
    for t in header.tensors:
        try:
            typ = GGMLQuantizationType(t.type_id)
        except ValueError:
            raise GGUFError(f"tensor {t.name} has unknown ggml type {t.type_id}", path=path) from None
        info = TensorInfo(t.name, typ, t.shape, t.offset)
        try:
            end = max(end, info.offset + info.nbytes)
        except ValueError as exc:
            raise GGUFError(f"tensor {t.name}: {exc}", path=path) from None
        tensors.append(info)
    if end > size:
        raise GGUFError(f"truncated: tensor data needs {end:,} bytes, the file has {size:,}", path=path)
    try:
        return spec_from_metadata(header.metadata, tensors, source=str(path), file_size=size)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise GGUFError(f"unusable GGUF metadata: {exc}", path=path) from exc


def spec_from_metadata(meta: dict[str, Any], tensors: list[TensorInfo], *, source: str = "",
                       file_size: int | None = None) -> ModelSpec:
    """ModelSpec from GGUF key/values (as read, or as the converter would write them) and the tensor list.

    Raises ``ValueError``/``KeyError`` for missing or inconsistent hyper-parameters.
    """
    arch = meta.get("general.architecture")
    if not arch:
        raise ValueError("no general.architecture key")

    def key(name: str, default: Any = None) -> Any:
        v = meta.get(f"{arch}.{name}")
        return default if v is None else v

    if key("block_count") is None or key("embedding_length") is None:
        raise ValueError(f"missing {arch}.block_count or {arch}.embedding_length")
    n_layer = int(key("block_count"))
    n_embd = int(key("embedding_length"))
    n_head = per_layer(key("attention.head_count"), n_layer)
    n_head_kv = per_layer(key("attention.head_count_kv", n_head), n_layer)
    head0 = n_embd // max(max(n_head), 1)
    head_k = per_layer(key("attention.key_length", head0), n_layer)
    head_v = per_layer(key("attention.value_length", head0), n_layer)
    n_ff = per_layer(key("feed_forward_length", 0), n_layer)
    n_vocab = key("vocab_size")
    if n_vocab is None:
        tokens = meta.get("tokenizer.ggml.tokens")
        n_vocab = len(tokens) if isinstance(tokens, list) else int(tokens or 0)
    if not n_vocab:
        n_vocab = next((t.shape[1] for t in tensors if t.name == "token_embd.weight" and len(t.shape) > 1), 0)
    n_swa = int(key("attention.sliding_window", 0) or 0)
    swa_layers = [False] * n_layer
    if n_swa > 0:
        pattern = key("attention.sliding_window_pattern")
        if isinstance(pattern, list):
            swa_layers = [bool(v) for v in pattern][:n_layer]
        elif pattern is not None:
            swa_layers = swa_layers_from_pattern(int(pattern), n_layer)
        elif arch in DEFAULT_SWA_PATTERN:
            swa_layers = swa_layers_from_pattern(DEFAULT_SWA_PATTERN[arch], n_layer)
        else:
            n_swa = 0  # llama.cpp ignores the window for architectures without an iSWA cache
    elif arch == "gemma2":  # llama.cpp's default window for Gemma 2
        n_swa, swa_layers = 4096, swa_layers_from_pattern(2, n_layer)
    return ModelSpec(
        arch=arch, n_layer=n_layer, n_embd=n_embd, n_vocab=int(n_vocab), n_head=n_head, n_head_kv=n_head_kv,
        head_dim_k=head_k, head_dim_v=head_v, n_ff=n_ff, tensors=tensors,
        n_ctx_train=int(key("context_length", 0)), n_swa=n_swa, swa_layers=swa_layers,
        n_expert=int(key("expert_count", 0)), n_expert_used=int(key("expert_used_count", 0)),
        source=source, file_size=file_size,
    )
