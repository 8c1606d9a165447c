"""The validating GGUF header reader: agrees with gguf-py on good files, rejects every broken one cleanly."""

from __future__ import annotations

import struct

import gguf
import numpy as np
import pytest

from converter.errors import GGUFError
from converter.gguf_in import read_gguf, read_tensor_bytes


@pytest.fixture
def small_gguf(tmp_path):
    path = tmp_path / "small.gguf"
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_token_list(["a", "b", "ç"])
    w.add_token_types([1, 1, 3])
    w.add_float32("x.f", 0.5)
    w.add_tensor("a.weight", np.arange(64, dtype=np.float32).reshape(2, 32))
    w.add_tensor("b.weight", np.ones(32, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_reads_what_gguf_py_reads(small_gguf):
    gf = read_gguf(small_gguf)
    ref = gguf.GGUFReader(small_gguf)
    assert gf.architecture == "llama" and gf.get("llama.block_count") == 1 and gf.get("x.f") == 0.5
    assert gf.get("tokenizer.ggml.tokens") == ["a", "b", "ç"]
    assert gf.get("tokenizer.ggml.token_type").tolist() == [1, 1, 3]
    assert [(t.name, t.qtype, t.offset) for t in gf.tensors] == [
        (t.name, t.tensor_type, int(t.data_offset)) for t in ref.tensors]
    a = gf.tensor("a.weight")
    assert a.shape == (2, 32) and a.nbytes == 256
    np.testing.assert_array_equal(read_tensor_bytes(gf, a).view(np.float32).ravel(), np.arange(64))


def _patched(path, tmp_path, offset, fmt, value):
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    out = tmp_path / f"bad-{offset}-{value}.gguf"
    out.write_bytes(bytes(data))
    return out


def _tensor_info_pos(path):
    """Byte offset of the first tensor-info entry (after the key/values)."""
    data = path.read_bytes()
    return data.index(b"a.weight") - 8


def test_corrupt_files(small_gguf, tmp_path):
    cases = [
        (_patched(small_gguf, tmp_path, 0, "<4s", b"GGUX"), "bad magic"),
        (_patched(small_gguf, tmp_path, 4, "<I", 1), "unsupported GGUF version 1"),
        (_patched(small_gguf, tmp_path, 8, "<Q", 1 << 60), "more than the file can hold"),
        (_patched(small_gguf, tmp_path, 16, "<Q", 1 << 60), "more than the file can hold"),
    ]
    for path, message in cases:
        with pytest.raises(GGUFError, match=message):
            read_gguf(path)
    ti = _tensor_info_pos(small_gguf)
    name_end = ti + 8 + len("a.weight")
    for offset, fmt, value, message in [
        (name_end, "<I", 9, "dimensions"),
        (name_end + 4 + 16, "<I", 999, "unknown type"),
        (name_end + 4 + 16 + 4, "<Q", 3, "not aligned"),
        (name_end + 4 + 16 + 4, "<Q", 1 << 40, "truncated"),
    ]:
        with pytest.raises(GGUFError, match=message):
            read_gguf(_patched(small_gguf, tmp_path, offset, fmt, value))


def test_block_type_row_length_and_overlap(small_gguf, tmp_path):
    ti = _tensor_info_pos(small_gguf)
    type_pos = ti + 8 + len("a.weight") + 4 + 16
    with pytest.raises(GGUFError, match="invalid shape"):  # Q4_K needs rows of 256
        read_gguf(_patched(small_gguf, tmp_path, type_pos, "<I", int(gguf.GGMLQuantizationType.Q4_K)))
    second = small_gguf.read_bytes().index(b"b.weight") + len("b.weight") + 4 + 8 + 4
    with pytest.raises(GGUFError, match="overlap"):
        read_gguf(_patched(small_gguf, tmp_path, second, "<Q", 0))


def test_truncated_anywhere(small_gguf, tmp_path):
    data = small_gguf.read_bytes()
    for cut in (0, 10, 30, len(data) // 3, len(data) - 200, len(data) - 1):
        p = tmp_path / f"cut{cut}.gguf"
        p.write_bytes(data[:cut])
        with pytest.raises(GGUFError) as err:
            read_gguf(p)
        assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_directory_and_missing(tmp_path):
    with pytest.raises(GGUFError, match="directory"):
        read_gguf(tmp_path)
    with pytest.raises(GGUFError, match="cannot read"):
        read_gguf(tmp_path / "nope.gguf")


def test_raw_pairs_and_lazy_strings(small_gguf, monkeypatch):
    from converter import gguf_values

    data = small_gguf.read_bytes()
    gf = read_gguf(small_gguf)
    # the pairs' stored bytes are the file's key/value section, in order, byte for byte
    assert [k.key for k in gf.kv] == list(gf.metadata)
    assert b"".join(k.raw for k in gf.kv) == data[24:_tensor_info_pos(small_gguf)]
    monkeypatch.setattr(gguf_values, "LAZY_STRINGS", 2)
    lazy = read_gguf(small_gguf)
    assert lazy.metadata.array_length("tokenizer.ggml.tokens") == 3
    assert isinstance(lazy.metadata._items["tokenizer.ggml.tokens"], gguf_values.LazyStrings)
    assert lazy.get("tokenizer.ggml.tokens") == ["a", "b", "ç"]
    assert dict(lazy.metadata.items()).keys() == gf.metadata.keys()


def test_invalid_utf8_key_is_rejected(small_gguf, tmp_path):
    data = bytearray(small_gguf.read_bytes())
    at = data.index(b"general.architecture")
    data[at] = 0xFF
    bad = tmp_path / "utf8.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(GGUFError, match="not valid UTF-8"):
        read_gguf(bad)
