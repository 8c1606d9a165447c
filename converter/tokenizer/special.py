"""Special tokens, add-BOS/EOS flags and the chat template, read from a checkpoint's side files.

Shared by every tokenizer reader. Sources, first found wins for ids: ``tokenizer_config.json`` (``bos_token``...,
looked up in the added tokens, then the vocabulary), ``config.json`` (``bos_token_id``...), then
``generation_config.json``. The add-BOS/EOS/SEP flags come from ``tokenizer.json``'s post-processor
(TemplateProcessing's single and pair templates, RobertaProcessing; a ByteLevel one adds neither), else from
``tokenizer_config.json``'s ``add_bos_token`` / ``add_eos_token``, in the order found. The chat template comes from
``tokenizer_config.json``, else ``chat_template.jinja``, else ``chat_template.json``. These are the rules
llama.cpp's converter (gguf-py's SpecialVocab) follows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import TokenizerError
from ..hf.config import read_json
from .vocab import ChatTemplate

log = logging.getLogger(__name__)

#: Roles read from tokenizer_config.json / config.json / generation_config.json.
READ_ROLES = ("bos", "eos", "unk", "sep", "pad", "cls", "mask")


@dataclass
class SpecialTokens:
    """What :func:`read_special_tokens` found."""

    ids: dict[str, int] = field(default_factory=dict)
    add: dict[str, bool] = field(default_factory=dict)
    chat_template: Optional[ChatTemplate] = None
    tokenizer_config: dict[str, Any] = field(default_factory=dict)


def _token_text(entry: Any) -> Optional[str]:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("content"), str):
        return entry["content"]
    return None


def read_json_dict(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, ``{}`` if absent; TokenizerError if it is not an object."""
    data = read_json(path, required=False)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TokenizerError("not a JSON object", path=path)
    return data


def read_special_tokens(model_dir: Path, config: Mapping[str, Any], *, token_to_id: Mapping[str, int],
                        added_tokens: Mapping[str, int], n_vocab: int,
                        post_processor: Optional[Mapping[str, Any]] = None) -> SpecialTokens:
    """Collect special ids, add-flags and the chat template for a vocabulary of ``n_vocab`` tokens."""
    tok_cfg = read_json_dict(model_dir / "tokenizer_config.json")
    out = SpecialTokens(tokenizer_config=tok_cfg)
    texts = {role: _token_text(tok_cfg.get(f"{role}_token")) for role in READ_ROLES}
    texts["bos"] = texts["bos"] or texts["cls"]
    texts["eos"] = texts["eos"] or texts["sep"]

    def set_id(role: str, tid: Any) -> None:
        if role in out.ids or type(tid) is not int:
            return
        if 0 <= tid < n_vocab:
            out.ids[role] = tid
        else:
            log.warning("special token %s id %d is outside the vocabulary of %d; ignored", role, tid, n_vocab)

    if post_processor:
        _read_post_processor(post_processor, texts, out.add)
    for role in READ_ROLES:
        text = texts.get(role)
        if text is not None:
            set_id(role, added_tokens.get(text, token_to_id.get(text)))
        if isinstance(tok_cfg.get(f"add_{role}_token"), bool):
            out.add.setdefault(role, tok_cfg[f"add_{role}_token"])  # the post-processor wins, as in gguf-py
    for source in (config, config.get("text_config") or {}, read_json_dict(model_dir / "generation_config.json")):
        for role in READ_ROLES:
            value = source.get(f"{role}_token_id")
            if source is not config and isinstance(value, list) and value:
                value = value[0]
            set_id(role, value)
    out.chat_template = _read_chat_template(model_dir, tok_cfg)
    return out


def _read_post_processor(post_processor: Mapping[str, Any], texts: dict[str, Optional[str]],
                         add: dict[str, bool]) -> None:
    """Infer add_bos/add_eos from a tokenizer.json post-processor (simple templates only, like gguf-py)."""
    for proc in post_processor.get("processors", [post_processor]):
        kind = proc.get("type")
        if kind == "ByteLevel":
            add.setdefault("bos", False)
            add.setdefault("eos", False)
        elif kind == "RobertaProcessing":
            add.update(bos=True, eos=True, sep=True)
        elif kind == "TemplateProcessing":
            single = proc.get("single") or []
            first = last = None
            if len(single) > 1:
                first = _special_id(single[0])
                last = _special_id(single[-1])
                if first:
                    add["bos"] = first in (texts.get("bos"), texts.get("cls"))
                if last:
                    add["eos"] = last == texts.get("eos")
            if (sep := _pair_adds_sep(proc.get("pair") or [], first, last, texts)) is not None:
                add["sep"] = sep


def _special_id(item: Mapping[str, Any]) -> Optional[str]:
    return item.get("SpecialToken", {}).get("id")


def _pair_adds_sep(pair: list, first: Optional[str], last: Optional[str],
                   texts: dict[str, Optional[str]]) -> Optional[bool]:
    """Whether a TemplateProcessing ``pair`` template puts a separator between A and B (None: no A ... B middle),
    read as gguf-py does: the single template's first/last special tokens are stripped from the pair's ends."""
    start = 1 if first and pair and _special_id(pair[0]) == first else 0
    stop = -1 if last and pair and _special_id(pair[-1]) == last else None
    middle = pair[start:stop]
    if not middle or middle[0].get("Sequence", {}).get("id") != "A" or middle[-1].get("Sequence", {}).get("id") != "B":
        return None
    between = middle[1:-1]
    if not between:
        return None
    separators = (texts.get("sep"), texts.get("eos"))
    add_sep = bool(_special_id(between[0]) in separators and _special_id(between[0]) and not last)
    if len(between) == 2 and _special_id(between[1]) and _special_id(between[1]) in separators:
        add_sep = True
    return add_sep


def _read_chat_template(model_dir: Path, tok_cfg: Mapping[str, Any]) -> Optional[ChatTemplate]:
    template = tok_cfg.get("chat_template")
    if template is None:
        jinja = model_dir / "chat_template.jinja"
        if jinja.is_file():
            template = jinja.read_text(encoding="utf-8")
        else:
            template = read_json_dict(model_dir / "chat_template.json").get("chat_template")
    if template is None or isinstance(template, str):
        return template
    if isinstance(template, list) and all(isinstance(t, dict) for t in template):
        return template
    log.warning("ignoring a chat_template of unexpected type %s", type(template).__name__)
    return None
