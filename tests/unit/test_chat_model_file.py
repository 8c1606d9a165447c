"""A model file is checked before llama.cpp sees it: container errors and chat-specific problems become one-line
ModelFileErrors (the container checks themselves are converter.gguf_in's, tested there)."""

import struct

import numpy as np
import pytest

from app.runtime.llama.model_file import check_model_file
from app.runtime.errors import ChatError, ModelFileError
from tests.fixtures.broken_gguf import patch_bytes, truncate, write_minimal_gguf


@pytest.fixture
def tiny(tmp_path):
    return write_minimal_gguf(tmp_path / "tiny.gguf")


def _expect(path, fragment):
    with pytest.raises(ModelFileError) as info:
        check_model_file(path)
    msg = str(info.value)
    assert fragment in msg and str(path) in msg and "\n" not in msg
    assert isinstance(info.value, ChatError) and isinstance(info.value, OSError)


def test_valid_file(tiny):
    gf = check_model_file(tiny)
    assert gf.architecture == "llama" and len(gf.get("tokenizer.ggml.tokens")) == 8


def test_container_errors_become_model_file_errors(tiny, tmp_path):
    _expect(truncate(tiny, tmp_path / "t.gguf", tiny.stat().st_size - 1), "truncated")
    _expect(truncate(tiny, tmp_path / "h.gguf", 300), "truncated")
    (tmp_path / "x.gguf").write_bytes(b"PK\x03\x04" + b"\0" * 100)
    _expect(tmp_path / "x.gguf", "not a GGUF file")
    _expect(tmp_path / "missing.gguf", "not found")
    _expect(tmp_path, "directory")
    _expect(patch_bytes(tiny, 4, struct.pack("<I", 1)), "version")


def test_vocab_arrays_disagree(tmp_path):
    _expect(write_minimal_gguf(tmp_path / "v.gguf", token_types=5), "token_type")


def test_special_token_outside_vocab(tiny):
    data = tiny.read_bytes()
    key = b"tokenizer.ggml.eos_token_id"
    at = data.index(key) + len(key) + 4  # the u32 value follows the key and its type
    _expect(patch_bytes(tiny, at, struct.pack("<I", 999)), "outside the vocabulary")


def test_empty_dimension(tmp_path):
    _expect(write_minimal_gguf(tmp_path / "z.gguf", tensors={"a.weight": np.zeros((0, 32), np.float32),
                                                         "b.weight": np.zeros(32, np.float32)}),
            "empty dimension")


def test_no_tokenizer_or_architecture(tmp_path):
    import gguf

    p = tmp_path / "n.gguf"
    w = gguf.GGUFWriter(str(p), "llama")
    w.add_tensor("a.weight", np.zeros(32, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    _expect(p, "tokenizer")
