"""The safetensors reader and checkpoint loader: round trips, sharding, and every kind of lying header."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from converter.errors import CheckpointError
from converter.hf import load_config, open_checkpoint
from converter.hf.safetensors import SafetensorsFile
from tests.fixtures.safetensors_writer import bf16_bits_to_f32, f32_to_bf16_bits, write_safetensors


def _tensors():
    rng = np.random.default_rng(0)
    return {"a": rng.standard_normal((3, 5)).astype(np.float32), "b": rng.standard_normal(7).astype(np.float32)}


@pytest.mark.parametrize("kind", ["f32", "f16", "bf16"])
def test_round_trip(tmp_path, kind):
    src = _tensors()
    if kind == "f16":
        src = {k: v.astype(np.float16) for k, v in src.items()}
    path = tmp_path / "m.safetensors"
    write_safetensors(path, src, bf16=kind == "bf16", metadata={"format": "pt"})
    f = SafetensorsFile(path)
    assert f.metadata == {"format": "pt"}
    assert set(f) == {"a", "b"}
    for name, arr in src.items():
        got = f.load(name)
        assert got.dtype == np.float32 and got.shape == arr.shape
        expected = bf16_bits_to_f32(f32_to_bf16_bits(arr)) if kind == "bf16" else arr.astype(np.float32)
        np.testing.assert_array_equal(got, expected)


def test_bf16_widening_in_chunks(tmp_path, monkeypatch):
    import converter.hf.safetensors as st

    monkeypatch.setattr(st, "_CHUNK_ELEMS", 4)  # force several chunks and a short last one
    arr = np.linspace(-3, 3, 22, dtype=np.float32).reshape(2, 11)
    write_safetensors(tmp_path / "m.safetensors", {"w": arr}, bf16=True)
    np.testing.assert_array_equal(SafetensorsFile(tmp_path / "m.safetensors").load("w"),
                                  bf16_bits_to_f32(f32_to_bf16_bits(arr)))


def _raw_file(path, header: dict | bytes, data: bytes = b"", length: int | None = None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw) if length is None else length))
        f.write(raw)
        f.write(data)
    return path


@pytest.mark.parametrize("header,data,length,message", [
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, None, "past the end"),
    ({}, b"", 1 << 60, "exceeds the file size"),
    (b"{not json", b"", None, "not valid JSON"),
    (b"[1, 2]", b"", None, "not a JSON object"),
    ({"w": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4, None, "unsupported dtype"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, b"\0" * 16, None, "expected 16"),
    ({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, b"\0" * 16, None, "invalid shape"),
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 4]}}, b"\0" * 16, None, "invalid data_offsets"),
    ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
      "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, b"\0" * 24, None, "overlap"),
])
def test_bad_headers_fail_cleanly(tmp_path, header, data, length, message):
    path = _raw_file(tmp_path / "bad.safetensors", header, data, length)
    with pytest.raises(CheckpointError) as err:
        SafetensorsFile(path)
    assert message in str(err.value)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_tiny_and_truncated_files(tmp_path):
    (tmp_path / "t.safetensors").write_bytes(b"\1\2")
    with pytest.raises(CheckpointError, match="shorter than"):
        SafetensorsFile(tmp_path / "t.safetensors")
    good = tmp_path / "g.safetensors"
    write_safetensors(good, _tensors())
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        SafetensorsFile(cut)


def test_sharded_checkpoint(tmp_path):
    src = _tensors()
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"a": src["a"]})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"b": src["b"]}, bf16=True)
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    ck = open_checkpoint(tmp_path)
    assert list(ck) == ["a", "b"] and len(ck.files) == 2
    np.testing.assert_array_equal(ck.load("a"), src["a"])
    assert ck.load("b").dtype == np.float32


def test_sharded_checkpoint_missing_shard_or_tensor(tmp_path):
    write_safetensors(tmp_path / "s1.safetensors", {"a": _tensors()["a"]})
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}))
    with pytest.raises(CheckpointError, match="s2.safetensors listed .* is missing"):
        open_checkpoint(tmp_path)
    index.write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "c": "s1.safetensors"}}))
    with pytest.raises(CheckpointError, match="'c' is listed"):
        open_checkpoint(tmp_path)
    index.write_text(json.dumps({"weight_map": {"a": "../s1.safetensors"}}))
    with pytest.raises(CheckpointError, match="invalid shard name"):
        open_checkpoint(tmp_path)


def test_pickle_checkpoints_are_refused(tmp_path):
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match="unpickling can run arbitrary code"):
        open_checkpoint(tmp_path)
    (tmp_path / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match="no \\*.safetensors"):
        open_checkpoint(tmp_path)


def test_config_errors(tmp_path):
    with pytest.raises(CheckpointError, match="config.json not found"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_config(tmp_path)
    (tmp_path / "config.json").write_text("[]")
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_config(tmp_path)


def test_load_one_tensor_at_a_time(smollm2_hf):
    ck = open_checkpoint(smollm2_hf)
    assert len(ck) == 272 and ck.info("model.embed_tokens.weight").dtype == "BF16"
    w = ck.load("model.layers.0.self_attn.k_proj.weight")
    assert w.dtype == np.float32 and w.shape == (192, 576) and np.isfinite(w).all()
    with pytest.raises(CheckpointError, match="not found"):
        ck.load("nope")
