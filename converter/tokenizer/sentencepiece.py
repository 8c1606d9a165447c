"""SentencePiece ``tokenizer.model`` -> :class:`Vocab` (GGUF ``tokenizer.ggml.model = "llama"``, pre "default").

Read with the ``sentencepiece`` library, as llama.cpp's converter does (``_create_vocab_sentencepiece``):

* one entry per id up to ``config.json``'s ``vocab_size`` (or the model's size when absent): ids the model does
  not cover are ``[PAD<id>]`` with score -10000 and type UNUSED; model pieces beyond ``vocab_size`` are dropped;
* each piece keeps its text (``▁`` for a space) and score; its type is UNKNOWN, CONTROL, UNUSED, BYTE
  (``<0x41>``) or NORMAL, as the model marks it (user-defined pieces count as NORMAL, like llama.cpp);
* tokens from ``added_tokens.json`` become USER_DEFINED with score -1000;
* entries of ``tokenizer_config.json``'s ``added_tokens_decoder`` override their id with score -1000: CONTROL
  when flagged special or looking special (``<|...|>``, ``<unused..>``...), else USER_DEFINED with ``▁`` written
  as a plain space.

Special ids, add-BOS/EOS flags and the chat template come from the shared reader (:mod:`.special`); when no side
file names an unknown token, the model's own ``unk`` id is used.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.messages import one_line
from ..errors import TokenizerError
from .bpe import looks_special
from .special import read_json_dict, read_special_tokens
from .vocab import TokenType, Vocab

log = logging.getLogger(__name__)

#: Scores llama.cpp's converter gives padding and added tokens.
PAD_SCORE = -10000.0
ADDED_SCORE = -1000.0

#: Largest tokenizer.model accepted (real ones are 0.5-5 MB; Gemma 3's is 4.5 MB).
MAX_MODEL_BYTES = 64 * 1024 * 1024


def _processor(path: Path):
    """Load ``path`` with the sentencepiece library; TokenizerError when it is not a valid model."""
    from sentencepiece import SentencePieceProcessor

    if not path.is_file():
        raise TokenizerError("tokenizer.model not found", path=path.parent)
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise TokenizerError("file is too large to be a SentencePiece model", path=path)
    proc = SentencePieceProcessor()
    try:
        proc.LoadFromSerializedProto(path.read_bytes())
    except (RuntimeError, OSError, TypeError) as exc:
        raise TokenizerError(f"not a valid SentencePiece model ({one_line(exc)})", path=path) from None
    if proc.vocab_size() <= 0:
        raise TokenizerError("the SentencePiece model has no pieces", path=path)
    return proc


def _piece_types(proc, ids: list[int]) -> list[int]:
    """GGUF token types of ``ids``; the first of unknown, control, unused, byte that applies, else normal.

    The library answers whole lists at once (ten times faster than one call per piece on a 256k vocabulary).
    """
    types = np.full(len(ids), int(TokenType.NORMAL), dtype=np.int32)
    for kind, test in ((TokenType.BYTE, proc.IsByte), (TokenType.UNUSED, proc.IsUnused),
                       (TokenType.CONTROL, proc.IsControl), (TokenType.UNKNOWN, proc.IsUnknown)):
        types[np.asarray(test(ids), dtype=bool)] = int(kind)  # later kinds take precedence
    return types.tolist()


def load(model_dir: str | Path, config: Mapping[str, Any]) -> Vocab:
    """Read ``model_dir/tokenizer.model`` and its side files into a :class:`Vocab`."""
    model_dir = Path(model_dir)
    proc = _processor(model_dir / "tokenizer.model")
    n_model = proc.vocab_size()
    n_vocab = int(config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size") or n_model)

    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    scores = [PAD_SCORE] * n_vocab
    types = [int(TokenType.UNUSED)] * n_vocab
    if n_model > n_vocab:
        log.warning("%s: ignoring SentencePiece pieces from id %d on (config vocab_size is %d)",
                    model_dir / "tokenizer.model", n_vocab, n_vocab)
    ids = list(range(min(n_model, n_vocab)))
    tokens[:len(ids)] = proc.IdToPiece(ids)
    scores[:len(ids)] = [float(x) for x in proc.GetScore(ids)]
    types[:len(ids)] = _piece_types(proc, ids)

    added_json = read_json_dict(model_dir / "added_tokens.json")
    for text, tid in added_json.items():
        if not isinstance(tid, int) or not 0 <= tid < n_vocab:
            log.warning("added_tokens.json: ignoring %r with id %r outside the vocabulary of %d", text, tid, n_vocab)
            continue
        tokens[tid], scores[tid], types[tid] = text, ADDED_SCORE, int(TokenType.USER_DEFINED)

    tok_cfg = read_json_dict(model_dir / "tokenizer_config.json")
    decoder = tok_cfg.get("added_tokens_decoder") or {}
    for key, entry in decoder.items():
        try:
            tid = int(key)
        except ValueError:
            continue
        text = entry.get("content") if isinstance(entry, dict) else None
        if not isinstance(text, str) or not 0 <= tid < n_vocab:
            continue
        if types[tid] != TokenType.UNUSED and tokens[tid] != text:
            log.debug("added token %d replaces piece %r with %r", tid, tokens[tid], text)
        if entry.get("special") or looks_special(text):
            types[tid] = int(TokenType.CONTROL)
        else:
            text = text.replace("\u2581", " ")
            types[tid] = int(TokenType.USER_DEFINED)
        tokens[tid], scores[tid] = text, ADDED_SCORE

    token_to_id = {t: i for i, t in enumerate(tokens)}
    tok_json = read_json_dict(model_dir / "tokenizer.json")
    added_ids = {a["content"]: int(a["id"]) for a in tok_json.get("added_tokens") or []
                 if isinstance(a, dict) and isinstance(a.get("content"), str) and isinstance(a.get("id"), int)}
    special = read_special_tokens(model_dir, config, token_to_id=token_to_id, added_tokens=added_ids,
                                  n_vocab=n_vocab, post_processor=tok_json.get("post_processor"))
    if "unk" not in special.ids and 0 <= proc.unk_id() < n_vocab:
        special.ids["unk"] = proc.unk_id()
    return Vocab(model="llama", pre="default", tokens=tokens, scores=scores, token_types=types,
                 special_ids=special.ids, add_special=special.add, chat_template=special.chat_template,
                 tokenizer_config=special.tokenizer_config)
