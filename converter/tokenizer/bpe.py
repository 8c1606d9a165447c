"""Hugging Face ``tokenizer.json`` byte-level BPE -> :class:`Vocab` (GGUF ``tokenizer.ggml.model = "gpt2"``).

Tokens keep their byte-level spelling (``Ġ`` for a space); added tokens keep their text. Token types follow
llama.cpp's converter: added tokens that are special or look special (``<|...|>``) are CONTROL, other added tokens
USER_DEFINED, ids missing from the vocabulary become ``[PAD<id>]`` UNUSED, everything else NORMAL.

``tokenizer.ggml.pre`` (which pre-tokenizer regex llama.cpp applies) is recognized the way llama.cpp's converter
does it: encode :data:`CHECK_TEXT` with the ``tokenizers`` library, hash ``str(ids)`` with SHA-256 and look the
digest up in ``bpe_pre_hashes.json`` (llama.cpp's table). An unknown digest is an error: guessing would silently
tokenize digits, spaces or CJK text differently from the original model.
"""

from __future__ import annotations

import hashlib
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ..core.messages import one_line
from ..errors import TokenizerError
from .special import read_json_dict, read_special_tokens
from .vocab import TokenType, Vocab

log = logging.getLogger(__name__)

#: llama.cpp's pre-tokenizer check text (conversion/base.py, get_vocab_base_pre): whitespace runs, emoji, digit
#: runs, Khmer, Chinese, Cyrillic, punctuation runs and English contractions.
CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 "
    "3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ "
    "------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you "
    "sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL"
)


@lru_cache(maxsize=1)
def pre_tokenizer_hashes() -> dict[str, str]:
    """SHA-256 of the check text's token ids -> ``tokenizer.ggml.pre`` name (llama.cpp's table)."""
    with open(Path(__file__).with_name("bpe_pre_hashes.json"), encoding="utf-8") as f:
        return dict(json.load(f)["hashes"])


def open_tokenizer(tokenizer_json: Path):
    """The ``tokenizers.Tokenizer`` of ``tokenizer_json``; TokenizerError if the library cannot load it."""
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(tokenizer_json))
    except Exception as exc:  # the tokenizers library raises a bare Exception on malformed files
        raise TokenizerError(f"cannot load tokenizer: {one_line(exc)}", path=tokenizer_json) from None


def pre_tokenizer_hash(tokenizer) -> str:
    """The check-text hash of a ``tokenizers.Tokenizer`` (encoded with special tokens, like llama.cpp)."""
    try:
        ids = tokenizer.encode(CHECK_TEXT).ids
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a Rust panic inside tokenizers is a BaseException
        raise TokenizerError(f"the tokenizer fails to encode text: {exc}") from None
    return hashlib.sha256(str(ids).encode()).hexdigest()


def detect_pre_tokenizer(tokenizer_json: Path, tokenizer=None) -> str:
    """The ``tokenizer.ggml.pre`` name for ``tokenizer_json``; TokenizerError if llama.cpp would not know it."""
    digest = pre_tokenizer_hash(tokenizer or open_tokenizer(tokenizer_json))
    name = pre_tokenizer_hashes().get(digest)
    if name is None:
        raise TokenizerError(f"unrecognized BPE pre-tokenizer (check-text hash {digest[:16]}…); llama.cpp would "
                             "not know how to split text for this model", path=tokenizer_json)
    return name


def looks_special(text: str) -> bool:
    """Added tokens that llama.cpp's converter treats as control tokens even when not flagged special."""
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<｜") and text.endswith("｜>"))
            or (text.startswith("<unused") and text.endswith(">")))


def encode_merges(merges: list[Any], path: Path) -> list[str]:
    """Merges as GGUF strings ``"a b"``; the newer pair format has spaces inside parts encoded as U+0120+256."""
    if not merges:
        return []
    if all(isinstance(m, str) for m in merges):
        return list(merges)
    if all(isinstance(m, list) and len(m) == 2 and all(isinstance(p, str) for p in m) for m in merges):
        return [" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in part) for part in pair)
                for pair in merges]
    raise TokenizerError("unknown format of model.merges", path=path)


def _roundtrip(tok, texts: list[str]) -> dict[str, str]:
    """decode(encode(text)) for non-normalized added tokens, as llama.cpp's converter pre-normalizes them."""
    return {t: tok.decode(tok.encode(t, add_special_tokens=False).ids, skip_special_tokens=False) for t in texts}


def load(model_dir: str | Path, config: Mapping[str, Any]) -> Vocab:
    """Read ``model_dir/tokenizer.json`` (byte-level BPE) and its side files into a :class:`Vocab`."""
    model_dir = Path(model_dir)
    path = model_dir / "tokenizer.json"
    data = read_json_dict(path)
    model = data.get("model") or {}
    if model.get("type", "BPE") != "BPE" or not isinstance(model.get("vocab"), dict):
        raise TokenizerError(f"not a BPE tokenizer (model type {model.get('type')!r})", path=path)
    if model.get("byte_fallback"):
        raise TokenizerError("SentencePiece-style BPE (byte_fallback) is not byte-level BPE; it needs the "
                             "SentencePiece reader and tokenizer.model", path=path)
    token_to_id: dict[str, int] = {str(k): int(v) for k, v in model["vocab"].items()}
    added = [a for a in data.get("added_tokens") or [] if isinstance(a, dict) and "content" in a and "id" in a]
    added_ids = {a["content"]: int(a["id"]) for a in added}
    by_id: dict[int, str] = {i: t for t, i in token_to_id.items()}
    by_id.update({i: t for t, i in added_ids.items()})
    if not by_id:
        raise TokenizerError("the vocabulary is empty", path=path)
    n_vocab = max(int(config.get("vocab_size") or 0), max(by_id) + 1)

    added_info = {int(a["id"]): a for a in added}
    hf_tokenizer = open_tokenizer(path)
    fixed = _roundtrip(hf_tokenizer, [a["content"] for a in added if not a.get("normalized", False)])
    tokens: list[str] = []
    types: list[int] = []
    for i in range(n_vocab):
        text = by_id.get(i)
        if text is None:
            tokens.append(f"[PAD{i}]")
            types.append(TokenType.UNUSED)
            continue
        info = added_info.get(i)
        if info is None:
            types.append(TokenType.NORMAL)
        else:
            text = fixed.get(text, text)
            if info.get("special") or looks_special(text):
                types.append(TokenType.CONTROL)
            else:
                text = text.replace("\u2581", " ")  # user-defined tokens are stored pre-normalized
                types.append(TokenType.USER_DEFINED)
        tokens.append(text)

    special = read_special_tokens(model_dir, config, token_to_id=token_to_id, added_tokens=added_ids,
                                  n_vocab=n_vocab, post_processor=data.get("post_processor"))
    return Vocab(model="gpt2", tokens=tokens, token_types=[int(t) for t in types],
                 pre=detect_pre_tokenizer(path, hf_tokenizer), merges=encode_merges(model.get("merges") or [], path),
                 special_ids=special.ids, add_special=special.add, chat_template=special.chat_template,
                 tokenizer_config=special.tokenizer_config)
