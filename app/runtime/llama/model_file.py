"""Check a GGUF file before llama.cpp sees it, so a bad file is a one-line error instead of a crashed process.

:func:`converter.gguf_in.read_gguf` validates the container (magic, version, counts, every key/value, the tensor
table, alignment, and the file size against the declared tensor data). On top of that we check the few facts whose
absence or inconsistency can make llama.cpp assert (abort the process) rather than fail: an architecture name,
tensors with no zero-sized dimension and names llama.cpp can hold, and a tokenizer whose arrays and special token
ids agree with the vocabulary.
"""

from __future__ import annotations

from pathlib import Path

from app.runtime.errors import ModelFileError
from converter.core.errors import KompaktError
from converter.errors import GGUFError
from converter.gguf_in import GGUFHeader, read_gguf

MAX_TENSOR_NAME = 63  # GGML_MAX_NAME is 64 bytes including the terminating NUL


def check_model_file(path: str | Path, error: type[KompaktError] = ModelFileError) -> GGUFHeader:
    """Validate ``path`` as a model llama.cpp can load and run, and return its parsed header.

    Raises ``error`` (by default :class:`ModelFileError`, a ``ChatError`` and an ``OSError``; evaluation and
    importance matrices pass their own) with a one-line message naming the file.
    """
    path = Path(path)
    try:
        gf = read_gguf(path)
    except GGUFError as exc:
        detail = exc.detail
        if isinstance(exc.__cause__, FileNotFoundError):
            detail = "file not found"
        raise error(detail, path=path) from None

    def fail(message: str) -> KompaktError:
        return error(message, path=path)

    arch = gf.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise fail("no general.architecture in the metadata: not a model file")
    if not gf.tensors:
        raise fail("the file holds no tensors: not a model file")
    for t in gf.tensors:
        if len(t.name.encode()) > MAX_TENSOR_NAME:
            raise fail(f"tensor name {t.name[:40]!r}... is longer than {MAX_TENSOR_NAME} bytes")
        if 0 in t.ne:
            raise fail(f"tensor {t.name!r} has an empty dimension {list(t.ne)}")
    n_vocab = gf.metadata.array_length("tokenizer.ggml.tokens")  # without decoding the vocabulary
    if n_vocab is None:
        raise fail("no tokenizer (tokenizer.ggml.tokens) in the metadata; cannot run this model")
    if n_vocab == 0:
        raise fail("the tokenizer vocabulary is empty")
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        arr = gf.get(key)
        if arr is not None and (not hasattr(arr, "__len__") or len(arr) != n_vocab):
            raise fail(f"{key} has {len(arr) if hasattr(arr, '__len__') else 'no'} entries but the vocabulary "
                       f"has {n_vocab}")
    for key, value in gf.metadata.items():
        if key.startswith("tokenizer.ggml.") and key.endswith("_token_id"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise fail(f"{key} is not an integer")
            if not 0 <= value < n_vocab and value not in (-1, 0xFFFFFFFF):
                raise fail(f"{key} = {value} is outside the vocabulary of {n_vocab} tokens")
    return gf
