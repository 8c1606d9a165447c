"""Byte-level BPE tokenizer.json -> Vocab: tokens, types, merges, special ids, templates, pre-tokenizer hash."""

from __future__ import annotations

import json
import shutil

import pytest

from converter.errors import TokenizerError
from converter.tokenizer import TokenType, detect_kind, load_tokenizer
from converter.tokenizer.bpe import CHECK_TEXT, encode_merges, looks_special, pre_tokenizer_hashes

SIDE_FILES = ("tokenizer.json", "tokenizer_config.json", "config.json", "generation_config.json")


@pytest.fixture(scope="module")
def smollm2_vocab(smollm2_hf):
    config = json.loads((smollm2_hf / "config.json").read_text())
    return load_tokenizer(smollm2_hf, config)


@pytest.fixture
def tok_dir(smollm2_hf, tmp_path):
    """A writable copy of the SmolLM2 tokenizer files (no weights)."""
    for name in SIDE_FILES:
        shutil.copy(smollm2_hf / name, tmp_path / name)
    return tmp_path


def _config(d):
    return json.loads((d / "config.json").read_text())


def test_smollm2_matches_source_gguf(smollm2_vocab, smollm2_gguf):
    from converter.gguf_in import read_gguf

    src = read_gguf(smollm2_gguf)
    v = smollm2_vocab
    assert v.model == "gpt2" and v.pre == "smollm"
    assert v.tokens == src.get("tokenizer.ggml.tokens")
    assert v.token_types == src.get("tokenizer.ggml.token_type").tolist()
    assert v.merges == src.get("tokenizer.ggml.merges")
    assert v.special_ids == {"bos": 1, "eos": 2, "unk": 0, "pad": 2}
    assert v.chat_template == src.get("tokenizer.chat_template")


def test_check_text_is_llama_cpps():
    # the hash table is only meaningful with exactly llama.cpp's check text
    assert len(CHECK_TEXT) == 350 and CHECK_TEXT.startswith("\n \n\n") and CHECK_TEXT.endswith("We'Ve a'lL")
    table = pre_tokenizer_hashes()
    assert len(table) > 80 and {"llama-bpe", "qwen2", "smollm", "gpt-2", "falcon", "tekken"} <= set(table.values())


def test_unknown_pre_tokenizer_is_a_clear_error(tok_dir):
    data = json.loads((tok_dir / "tokenizer.json").read_text())
    data["model"]["merges"] = data["model"]["merges"][100:]  # a BPE whose check-text ids no table entry has
    (tok_dir / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerError, match="unrecognized BPE pre-tokenizer") as err:
        load_tokenizer(tok_dir, _config(tok_dir))
    assert str(tok_dir / "tokenizer.json") in str(err.value)


def test_missing_tokenizer_names_the_folder(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer found") as err:
        load_tokenizer(tmp_path, {})
    assert str(tmp_path) in str(err.value)


def test_sentencepiece_preferred_when_present(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}")
    assert detect_kind(tmp_path) == "bpe"
    (tmp_path / "tokenizer.model").write_bytes(b"")
    assert detect_kind(tmp_path) == "sentencepiece"
    assert detect_kind(tmp_path, prefer="bpe") == "bpe"


def test_special_tokens_template_and_added_tokens(tok_dir):
    cfg = json.loads((tok_dir / "tokenizer_config.json").read_text())
    del cfg["chat_template"]
    cfg["eos_token"] = "<|im_end|>"
    cfg["add_eos_token"] = True
    (tok_dir / "tokenizer_config.json").write_text(json.dumps(cfg))
    (tok_dir / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")
    data = json.loads((tok_dir / "tokenizer.json").read_text())
    flags = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": False}
    data["added_tokens"].append({"id": 49152, "content": "<tool>", **flags})
    data["added_tokens"].append({"id": 49153, "content": "<|extra|>", **flags})
    (tok_dir / "tokenizer.json").write_text(json.dumps(data))
    config = _config(tok_dir)
    config["vocab_size"] = 49160  # padded embedding: ids without a token become [PAD<id>]
    v = load_tokenizer(tok_dir, config)
    assert len(v) == 49160
    # SmolLM2's ByteLevel post-processor adds neither token and wins over add_eos_token (pinned gguf-py)
    assert v.special_ids["eos"] == 2 and v.add_special == {"bos": False, "eos": False}
    assert v.chat_template == "{{ messages[0]['content'] }}"
    assert (v.tokens[49152], v.token_types[49152]) == ("<tool>", TokenType.USER_DEFINED)
    assert (v.tokens[49153], v.token_types[49153]) == ("<|extra|>", TokenType.CONTROL)
    assert (v.tokens[49159], v.token_types[49159]) == ("[PAD49159]", TokenType.UNUSED)


def test_template_post_processor_sets_add_bos(tok_dir):
    from converter.tokenizer.special import read_special_tokens

    post = {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|im_start|>", "type_id": 0}},
                                                     {"Sequence": {"id": "A", "type_id": 0}}]}
    special = read_special_tokens(tok_dir, _config(tok_dir), token_to_id={}, added_tokens={"<|im_start|>": 1},
                                  n_vocab=10, post_processor=post)
    assert special.add == {"bos": True}  # <|im_start|> is SmolLM2's bos_token in tokenizer_config.json
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "add_bos_token": False}))
    special = read_special_tokens(tok_dir, {}, token_to_id={"<s>": 7}, added_tokens={}, n_vocab=10,
                                  post_processor=post)
    assert special.add == {"bos": False} and special.ids["bos"] == 7
    assert special.ids["eos"] == 2  # from generation_config.json when neither other file has it


def test_malformed_tokenizer_json(tok_dir):
    (tok_dir / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["x y"]}}')
    with pytest.raises(TokenizerError, match="cannot load tokenizer"):
        load_tokenizer(tok_dir, _config(tok_dir))
    (tok_dir / "tokenizer.json").write_text('{"model": {"type": "BPE", "vocab": {}, "byte_fallback": true}}')
    with pytest.raises(TokenizerError, match="byte_fallback"):
        load_tokenizer(tok_dir, _config(tok_dir))
    (tok_dir / "tokenizer.json").write_text('{"model": {"type": "Unigram", "vocab": []}}')
    with pytest.raises(TokenizerError, match="not a BPE tokenizer"):
        load_tokenizer(tok_dir, _config(tok_dir))


def test_merge_formats(tmp_path):
    assert encode_merges(["a b", "ab c"], tmp_path) == ["a b", "ab c"]
    assert encode_merges([["a", "b"], ["a b", "c"]], tmp_path) == ["a b", "a\u0120b c"]
    with pytest.raises(TokenizerError):
        encode_merges([1, 2], tmp_path)


def test_looks_special():
    assert looks_special("<|eot_id|>") and looks_special("<unused12>") and not looks_special("<tool>")
