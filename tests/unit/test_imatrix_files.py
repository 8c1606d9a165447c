"""Importance-matrix files: GGUF and legacy .dat round trips, the weights llama-quantize derives, bad files."""

import struct

import numpy as np
import pytest
from gguf import GGUFReader

from converter.imatrix import ImatrixEntry, ImatrixError, ImportanceMatrix, read_imatrix, write_imatrix


def sample() -> ImportanceMatrix:
    rng = np.random.default_rng(0)
    return ImportanceMatrix(
        entries={
            "blk.0.attn_q.weight": ImatrixEntry(rng.random((1, 64), dtype=np.float32) * 100, [640]),
            "blk.0.ffn_down_exps.weight": ImatrixEntry(rng.random((4, 32), dtype=np.float32) * 10, [30, 0, 12, 5]),
            "blk.1.ffn_up.weight": ImatrixEntry(rng.random((1, 64), dtype=np.float32), [640]),
        },
        datasets=["calibration.txt"], chunk_count=5, chunk_size=128)


def test_gguf_round_trip_and_layout(tmp_path):
    im = sample()
    path = tmp_path / "m.imatrix.gguf"
    write_imatrix(im, path)
    back = read_imatrix(path)
    assert not back.legacy and back.datasets == im.datasets
    assert (back.chunk_count, back.chunk_size) == (5, 128)
    assert list(back.entries) == sorted(im.entries)
    for name, e in im.entries.items():
        np.testing.assert_array_equal(back.entries[name].sums, e.sums)
        np.testing.assert_array_equal(back.entries[name].counts, e.counts)
    # the layout llama-imatrix writes: general.type first, sums (cols, n_mat) then counts (1, n_mat) per name
    r = GGUFReader(path)
    assert [k for k in r.fields if not k.startswith("GGUF.")] == [
        "general.type", "imatrix.datasets", "imatrix.chunk_count", "imatrix.chunk_size"]
    shapes = {t.name: [int(x) for x in t.shape] for t in r.tensors}
    assert shapes["blk.0.attn_q.weight.in_sum2"] == [64] and shapes["blk.0.attn_q.weight.counts"] == [1]
    assert shapes["blk.0.ffn_down_exps.weight.in_sum2"] == [32, 4]
    assert shapes["blk.0.ffn_down_exps.weight.counts"] == [1, 4]
    assert [t.name for t in r.tensors][:2] == ["blk.0.attn_q.weight.in_sum2", "blk.0.attn_q.weight.counts"]


def test_weights_like_llama_quantize():
    im = sample()
    w = im.weights()
    q = im.entries["blk.0.attn_q.weight"]
    np.testing.assert_array_equal(w["blk.0.attn_q.weight"], q.sums[0] / np.float32(640))
    moe = w["blk.0.ffn_down_exps.weight"].reshape(4, 32)
    e = im.entries["blk.0.ffn_down_exps.weight"]
    np.testing.assert_array_equal(moe[1], np.ones(32, np.float32))  # an expert that saw no token
    np.testing.assert_array_equal(moe[2], e.sums[2] / np.float32(12))
    assert all(v.dtype == np.float32 for v in w.values())


def test_legacy_round_trip(tmp_path):
    im = sample()
    path = tmp_path / "m.dat"
    write_imatrix(im, path, legacy=True)
    back = read_imatrix(path)
    assert back.legacy and back.chunk_count == 5 and back.datasets == ["calibration.txt"]
    q = back.entries["blk.0.attn_q.weight"]
    ncall = int(q.counts[0])
    assert ncall == 5  # ceil(640 tokens / 128 per chunk)
    # legacy stores sum / count * ncall; the weights divide ncall back out
    np.testing.assert_allclose(back.weights()["blk.0.attn_q.weight"], im.weights()["blk.0.attn_q.weight"],
                               rtol=1e-6)
    moe = back.weights()["blk.0.ffn_down_exps.weight"].reshape(4, 32)
    np.testing.assert_allclose(moe[2], im.entries["blk.0.ffn_down_exps.weight"].sums[2] / 12, rtol=1e-6)
    # legacy -> GGUF -> weights stays the same
    write_imatrix(back, tmp_path / "m.gguf")
    again = read_imatrix(tmp_path / "m.gguf").weights()
    for name, v in back.weights().items():
        np.testing.assert_allclose(again[name], v, rtol=1e-6)


def test_hand_written_legacy_file(tmp_path):
    values = np.array([2.0, 4.0, 6.0], dtype="<f4")
    blob = struct.pack("<i", 1) + struct.pack("<i", 3) + b"w.x" + struct.pack("<ii", 2, 3) + values.tobytes()
    path = tmp_path / "old.dat"
    path.write_bytes(blob)  # no trailing chunk count / dataset: they are optional
    im = read_imatrix(path)
    np.testing.assert_array_equal(im.weights()["w.x"], [1.0, 2.0, 3.0])


@pytest.mark.parametrize("blob, message", [
    (b"", "truncated"),
    (b"\x00\x00\x00\x00", "no entries"),
    (struct.pack("<i", 2) + struct.pack("<i", 3) + b"w.x" + struct.pack("<ii", 1, 4) + b"\0" * 16, "truncated"),
    (struct.pack("<i", 1) + struct.pack("<i", 3) + b"w.x" + struct.pack("<ii", 1, 4) + b"\0" * 8, "truncated"),
    (struct.pack("<i", 1) + struct.pack("<i", 999) + b"w", "name length"),
    (struct.pack("<i", 1) + struct.pack("<i", 1) + b"w" + struct.pack("<ii", 1, 0), "number of values"),
])
def test_bad_legacy_files(tmp_path, blob, message):
    path = tmp_path / "bad.dat"
    path.write_bytes(blob)
    with pytest.raises(ImatrixError, match=message) as info:
        read_imatrix(path)
    assert "bad.dat" in str(info.value)


def test_bad_gguf_files(tmp_path):
    from converter.imatrix import _write_gguf

    im = sample()
    path = tmp_path / "nan.gguf"
    im.entries["blk.1.ffn_up.weight"].sums[0, 3] = np.nan
    _write_gguf(im, path)
    with pytest.raises(ImatrixError, match="NaN"):
        read_imatrix(path)
    # a GGUF model is not an importance matrix
    from tests.fixtures.tiny_models import tiny_model

    model = tiny_model("llama-heavy", tmp_path / "model.gguf", layers=1, hidden=32, ff=64, vocab=32)
    with pytest.raises(ImatrixError, match="not an importance matrix|missing imatrix metadata"):
        read_imatrix(model)
    with pytest.raises(ImatrixError, match="not found"):
        read_imatrix(tmp_path / "nope.gguf")
    truncated = tmp_path / "cut.gguf"
    write_imatrix(sample(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:-200])
    with pytest.raises(OSError, match="cut.gguf"):
        read_imatrix(truncated)


def test_sums_without_counts(tmp_path):
    from gguf import GGMLQuantizationType as T
    from gguf import GGUFValueType as V

    from converter.gguf_stream import GGUFStreamWriter, OutTensor, encode_kv

    kv = [encode_kv("general.type", "imatrix", V.STRING),
          encode_kv("imatrix.datasets", ["x"], V.ARRAY, V.STRING),
          encode_kv("imatrix.chunk_count", 1, V.UINT32), encode_kv("imatrix.chunk_size", 512, V.UINT32)]
    path = tmp_path / "half.gguf"
    with open(path, "wb") as f:
        w = GGUFStreamWriter(f, kv, [OutTensor("a.weight.in_sum2", (8,), T.F32)])
        w.write(np.ones(8, np.float32))
        w.close()
    with pytest.raises(ImatrixError, match="mismatched sums and counts for a.weight"):
        read_imatrix(path)
