"""Build a :class:`ModelSpec` from a GGUF file: architecture keys plus every tensor's type, shape and offset."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from converter.errors import GGUFError

from .model import DEFAULT_SWA_PATTERN, ModelSpec, TensorInfo, per_layer, swa_layers_from_pattern

log = logging.getLogger(__name__)


def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return None
    value = f.contents()
    return value


def spec_from_gguf(path: str | Path) -> ModelSpec:
    """Read a GGUF file's hyper-parameters and tensor infos (no tensor data is read).

    Raises :class:`GGUFError` naming the file for anything that is not a complete, readable GGUF file.
    """
    from gguf import GGUFReader

    path = Path(path)
    if not path.is_file():
        raise GGUFError("no such file", path=path)
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic != b"GGUF":
            raise GGUFError(f"not a GGUF file (starts with {magic!r})", path=path)
        reader = GGUFReader(path, "r")
    except GGUFError:
        raise
    except (ValueError, IndexError, KeyError, OSError, OverflowError, MemoryError, UnicodeDecodeError) as exc:
        raise GGUFError(f"cannot read GGUF header ({type(exc).__name__}: {exc}); the file is truncated or corrupt",
                        path=path) from exc
    try:
        return _spec(reader, path, size)
    except GGUFError:
        raise
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        raise GGUFError(f"unusable GGUF metadata: {exc}", path=path) from exc


def _spec(reader: Any, path: Path, size: int) -> ModelSpec:
    arch = _field(reader, "general.architecture")
    if not arch:
        raise GGUFError("no general.architecture key", path=path)

    def key(name: str, default: Any = None) -> Any:
        v = _field(reader, f"{arch}.{name}")
        return default if v is None else v

    tensors: list[TensorInfo] = []
    end = 0
    for t in reader.tensors:
        info = TensorInfo(t.name, t.tensor_type, tuple(int(n) for n in t.shape), int(t.data_offset))
        if info.nbytes != int(t.n_bytes):
            raise GGUFError(f"tensor {t.name} claims {t.n_bytes} bytes, its shape needs {info.nbytes}", path=path)
        end = max(end, info.offset + info.nbytes)
        tensors.append(info)
    if end > size:
        raise GGUFError(f"truncated: tensor data needs {end} bytes, the file has {size}", path=path)

    n_layer = int(key("block_count"))
    n_embd = int(key("embedding_length"))
    n_head = per_layer(key("attention.head_count"), n_layer)
    n_head_kv = per_layer(key("attention.head_count_kv", n_head), n_layer)
    head0 = n_embd // max(n_head)
    head_k = per_layer(key("attention.key_length", head0), n_layer)
    head_v = per_layer(key("attention.value_length", head0), n_layer)
    n_ff = per_layer(key("feed_forward_length", 0), n_layer)
    n_vocab = key("vocab_size")
    if n_vocab is None:
        tokens = reader.fields.get("tokenizer.ggml.tokens")
        n_vocab = len(tokens.data) if tokens is not None else 0
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
        source=str(path), file_size=size,
    )
