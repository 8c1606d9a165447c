"""The pure-Python GGUF header check catches corrupt files before llama.cpp sees them."""

import struct

import numpy as np
import pytest

from app.runtime.errors import ChatError, ModelFileError
from app.runtime.gguf_header import read_gguf_header
from tests.fixtures.tiny_gguf import patch_bytes, truncate, version_bytes, write_tiny_gguf


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_gguf(tmp_path / "tiny.gguf")


def test_valid_file_reads(tiny):
    h = read_gguf_header(tiny)
    assert h.version == 3
    assert h.get("general.architecture") == "llama"
    assert [t.name for t in h.tensors] == ["token_embd.weight", "output_norm.weight"]
    assert h.tensors[0].shape == (32, 8) and h.tensors[0].nbytes == 32 * 8 * 4
    assert h.data_offset % h.alignment == 0
    assert h.data_offset + h.data_size <= h.file_size
    assert h.token_text(h.get("tokenizer.ggml.eos_token_id")) == "tok1"


def _expect(path, fragment):
    with pytest.raises(ModelFileError) as info:
        read_gguf_header(path)
    msg = str(info.value)
    assert fragment in msg and str(path) in msg and "\n" not in msg
    assert isinstance(info.value, ChatError) and isinstance(info.value, OSError)


def test_truncated_tensor_data(tiny, tmp_path):
    _expect(truncate(tiny, tmp_path / "t.gguf", tiny.stat().st_size - 1), "truncated")


def test_truncated_header(tiny, tmp_path):
    _expect(truncate(tiny, tmp_path / "t.gguf", 60), "truncated")


def test_not_gguf(tmp_path):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    _expect(p, "not a GGUF file")


def test_empty_and_missing_and_directory(tmp_path):
    p = tmp_path / "empty.gguf"
    p.write_bytes(b"")
    _expect(p, "too small")
    _expect(tmp_path / "missing.gguf", "not found")
    _expect(tmp_path, "directory")


@pytest.mark.parametrize("version", [0, 1, 4, 0x03000000])
def test_bad_version(tiny, version):
    _expect(patch_bytes(tiny, 4, version_bytes(version)), "version")


def test_absurd_counts(tiny):
    _expect(patch_bytes(tiny, 8, struct.pack("<q", 1 << 40)), "declares")


def test_absurd_kv_count(tiny):
    _expect(patch_bytes(tiny, 16, struct.pack("<q", -5)), "metadata entries")


def test_string_length_past_end(tiny):
    # the first key's length field follows the 24-byte fixed header
    _expect(patch_bytes(tiny, 24, struct.pack("<Q", 1 << 50)), "claims")


def test_vocab_arrays_disagree(tmp_path):
    _expect(write_tiny_gguf(tmp_path / "v.gguf", token_types=5), "token_type")


def test_row_not_multiple_of_block(tmp_path):
    p = write_tiny_gguf(tmp_path / "q.gguf", tensors={"x.weight": np.zeros((2, 16), np.float32)})
    data = p.read_bytes()
    # tensor info: name, u32 n_dims, i64 dims[2], u32 type -> retype the F32 rows of 16 as Q8_0 (blocks of 32)
    type_at = data.index(b"x.weight") + len(b"x.weight") + 4 + 16
    assert struct.unpack_from("<I", data, type_at)[0] == 0
    _expect(patch_bytes(p, type_at, struct.pack("<I", 8)), "block size")


def test_no_tokenizer(tmp_path):
    import gguf

    p = tmp_path / "n.gguf"
    w = gguf.GGUFWriter(str(p), "llama")
    w.add_tensor("a.weight", np.zeros(32, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    _expect(p, "tokenizer")
