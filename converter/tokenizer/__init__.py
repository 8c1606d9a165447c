"""Tokenizer readers: a checkpoint's tokenizer files -> :class:`Vocab` for the GGUF ``tokenizer.*`` keys.

One module per tokenizer kind, each exposing ``load(model_dir, config) -> Vocab``:

* ``bpe``: Hugging Face ``tokenizer.json`` with a byte-level BPE model (GPT-2 style: Llama 3, Qwen, SmolLM...);
* ``sentencepiece``: ``tokenizer.model`` (Llama 2, Mistral v0.1, Gemma...), registered by its own module.

:func:`load_tokenizer` picks one from the files present (``tokenizer.model`` first, as llama.cpp's converter
does for Llama), unless the architecture asks for a kind.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import TokenizerError
from .vocab import TokenType, Vocab

#: Tokenizer kind -> (module under converter.tokenizer, the file it needs in the model folder).
READERS: dict[str, tuple[str, str]] = {
    "sentencepiece": ("sentencepiece", "tokenizer.model"),
    "bpe": ("bpe", "tokenizer.json"),
}


def detect_kind(model_dir: str | Path, prefer: Optional[str] = None) -> str:
    """The tokenizer kind to read from ``model_dir``: ``prefer`` if its file exists, else the first that does."""
    model_dir = Path(model_dir)
    order = ([prefer] if prefer in READERS else []) + [k for k in READERS if k != prefer]
    for kind in order:
        if (model_dir / READERS[kind][1]).is_file():
            return kind
    raise TokenizerError("no tokenizer found (expected tokenizer.json or tokenizer.model)", path=model_dir)


def load_tokenizer(model_dir: str | Path, config: Mapping[str, Any], *, prefer: Optional[str] = None) -> Vocab:
    """Read the tokenizer of ``model_dir`` (``config`` is its parsed config.json) into a :class:`Vocab`."""
    model_dir = Path(model_dir)
    kind = detect_kind(model_dir, prefer)
    module_name = READERS[kind][0]
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{module_name}":
            raise
        raise TokenizerError(f"{READERS[kind][1]} tokenizers are not supported yet", path=model_dir) from None
    return module.load(model_dir, config)


__all__ = ["READERS", "TokenType", "Vocab", "detect_kind", "load_tokenizer"]
