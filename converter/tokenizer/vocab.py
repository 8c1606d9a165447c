"""The converter's tokenizer description: everything the GGUF ``tokenizer.*`` keys need, in one object.

Tokenizer readers (``bpe.py`` for Hugging Face ``tokenizer.json`` byte-level BPE, ``sentencepiece.py`` for
``tokenizer.model``) each build a :class:`Vocab`; architectures may adjust it (:meth:`Architecture.adjust_vocab`);
the pipeline writes it with :meth:`Vocab.write`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

import gguf

#: GGUF token types (tokenizer.ggml.token_type), re-exported for readers.
TokenType = gguf.TokenType

#: Special-token role -> its GGUF key, as llama.cpp's src/llama-arch.cpp names them (note "seperator").
SPECIAL_KEYS: dict[str, str] = {
    "bos": "tokenizer.ggml.bos_token_id", "eos": "tokenizer.ggml.eos_token_id",
    "eot": "tokenizer.ggml.eot_token_id", "eom": "tokenizer.ggml.eom_token_id",
    "unk": "tokenizer.ggml.unknown_token_id", "sep": "tokenizer.ggml.seperator_token_id",
    "pad": "tokenizer.ggml.padding_token_id", "cls": "tokenizer.ggml.cls_token_id",
    "mask": "tokenizer.ggml.mask_token_id", "prefix": "tokenizer.ggml.prefix_token_id",
    "suffix": "tokenizer.ggml.suffix_token_id", "middle": "tokenizer.ggml.middle_token_id",
    "fim_pre": "tokenizer.ggml.fim_pre_token_id", "fim_suf": "tokenizer.ggml.fim_suf_token_id",
    "fim_mid": "tokenizer.ggml.fim_mid_token_id", "fim_pad": "tokenizer.ggml.fim_pad_token_id",
    "fim_rep": "tokenizer.ggml.fim_rep_token_id", "fim_sep": "tokenizer.ggml.fim_sep_token_id",
}
SPECIAL_ROLES = tuple(SPECIAL_KEYS)

ChatTemplate = Union[str, Sequence[dict]]


@dataclass
class Vocab:
    """A tokenizer ready to be written to GGUF.

    ``model`` is ``tokenizer.ggml.model`` ("gpt2" for byte-level BPE, "llama" for SentencePiece, ...); ``pre`` the
    pre-tokenizer name (``tokenizer.ggml.pre``). ``tokens``, ``token_types`` (and ``scores`` for SentencePiece)
    have one entry per id. ``special_ids`` maps a role of :data:`SPECIAL_ROLES` to its id; ``add_special`` maps
    "bos"/"eos"/"sep" to whether the tokenizer adds it; ``add_space_prefix`` is written only when not None.
    """

    model: str
    tokens: list[str]
    token_types: list[int]
    pre: Optional[str] = None
    scores: Optional[list[float]] = None
    merges: Optional[list[str]] = None
    special_ids: dict[str, int] = field(default_factory=dict)
    add_special: dict[str, bool] = field(default_factory=dict)
    add_space_prefix: Optional[bool] = None
    chat_template: Optional[ChatTemplate] = None
    #: The parsed tokenizer_config.json (not written; architectures read it in ``adjust_vocab``).
    tokenizer_config: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def write(self, writer: gguf.GGUFWriter) -> None:
        """Add the ``tokenizer.*`` metadata to ``writer``."""
        if self.add_space_prefix is not None:
            writer.add_add_space_prefix(self.add_space_prefix)
        writer.add_tokenizer_model(self.model)
        if self.pre is not None:
            writer.add_tokenizer_pre(self.pre)
        writer.add_token_list(self.tokens)
        if self.scores is not None:
            writer.add_token_scores(self.scores)
        writer.add_token_types(self.token_types)
        if self.merges:
            writer.add_token_merges(self.merges)
        for role, key in SPECIAL_KEYS.items():
            if role in self.special_ids:
                writer.add_uint32(key, self.special_ids[role])
        for role, add in self.add_special.items():  # in the order they were found, as gguf-py writes them
            if role in ("bos", "eos", "sep"):
                getattr(writer, f"add_add_{role}_token")(add)
        if self.chat_template is not None:
            writer.add_chat_template(self.chat_template)
