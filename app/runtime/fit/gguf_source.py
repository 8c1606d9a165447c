"""Build a :class:`ModelSpec` from a GGUF file: architecture keys plus every tensor's type, shape and offset."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.runtime.errors import FitError
from converter.errors import GGUFError
from converter.gguf_in import read_gguf
from converter.gguf_values import Metadata
from .model import DEFAULT_SWA_PATTERN, ModelSpec, WeightTensor, per_layer, swa_layers_from_pattern

log = logging.getLogger(__name__)

#: Arrays longer than this are tokenizer tables, not hyper-parameters: only their length is used.
MAX_ARRAY = 4096


def spec_from_gguf(path: str | Path) -> ModelSpec:
    """Read a GGUF file's hyper-parameters and tensor infos (no tensor data is read).

    Raises :class:`GGUFError` naming the file for anything that is not a complete, readable GGUF file.
    """
    gf = read_gguf(path)  # validates the container: counts, bounds, tensor types, shapes, offsets, file size
    tensors = [WeightTensor(t.name, t.qtype, t.ne, t.offset) for t in gf.tensors]
    try:
        return spec_from_metadata(_plain(gf.metadata), tensors, source=str(gf.path), file_size=gf.file_size)
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise GGUFError(f"unusable GGUF metadata: {exc}", path=gf.path) from exc


def _plain(meta: Metadata) -> dict[str, Any]:
    """The key/values as plain Python values; arrays longer than :data:`MAX_ARRAY` (tokenizer tables, never
    hyper-parameters) are given by their length only, so a vocabulary is never decoded."""
    out: dict[str, Any] = {}
    for key in meta:
        n = meta.array_length(key)
        if n is not None and n > MAX_ARRAY:
            out[key] = n
        else:
            value = meta[key]
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
    return out


def spec_from_metadata(meta: dict[str, Any], tensors: list[WeightTensor], *, source: str = "",
                       file_size: int | None = None) -> ModelSpec:
    """ModelSpec from GGUF key/values (as read, or as the converter would write them) and the tensor list.

    Raises :class:`FitError`/``KeyError`` for missing or inconsistent hyper-parameters.
    """
    arch = meta.get("general.architecture")
    if not arch:
        raise FitError("no general.architecture key")

    def key(name: str, default: Any = None) -> Any:
        v = meta.get(f"{arch}.{name}")
        return default if v is None else v

    if key("block_count") is None or key("embedding_length") is None:
        raise FitError(f"missing {arch}.block_count or {arch}.embedding_length")
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
