"""The convert pipeline on a tiny random Llama: tensor types, weight fixes, metadata, cancel, atomic output."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q

from converter import quants
from converter.archs.llama import permute_qk
from converter.convert import convert
from converter.errors import OutputError
from converter.gguf_in import read_gguf, read_tensor_bytes
from converter.hf import open_checkpoint
from converter.core.progress import CancelToken, Cancelled
from tests.fixtures.ggml_oracle import ggml_quantize
from tests.fixtures.tiny_models import tiny_model


@pytest.fixture(scope="module")
def tiny(smollm2_hf, tmp_path_factory):
    return tiny_model("llama-tied", tmp_path_factory.mktemp("tiny") / "tiny-llama", smollm2_dir=smollm2_hf)


@pytest.fixture(scope="module")
def tiny_f32(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "tiny-f32.gguf"
    convert(tiny, out, "f32")
    return read_gguf(out)


def _data(gf, name):
    info = gf.tensor(name)
    raw = read_tensor_bytes(gf, info)
    if info.qtype in (Q.F32, Q.F16):
        return raw.view(np.float32 if info.qtype == Q.F32 else np.float16).reshape(info.shape).astype(np.float32)
    return quants.dequantize(raw, info.qtype, info.ne[0]).reshape(info.shape)


def test_f32_is_exact_and_permutes_q_k(tiny, tiny_f32):
    ck = open_checkpoint(tiny)
    gf = tiny_f32
    names = {t.name for t in gf.tensors}
    assert "output.weight" not in names  # tied embeddings
    assert len(names) == 2 + 2 * 9 and all(t.qtype == Q.F32 for t in gf.tensors)
    np.testing.assert_array_equal(_data(gf, "token_embd.weight"), ck.load("model.embed_tokens.weight"))
    np.testing.assert_array_equal(_data(gf, "blk.1.attn_q.weight"),
                                  permute_qk(ck.load("model.layers.1.self_attn.q_proj.weight"), 4))
    np.testing.assert_array_equal(_data(gf, "blk.1.attn_k.weight"),
                                  permute_qk(ck.load("model.layers.1.self_attn.k_proj.weight"), 2))
    np.testing.assert_array_equal(_data(gf, "blk.0.ffn_down.weight"), ck.load("model.layers.0.mlp.down_proj.weight"))
    assert gf.tensor("blk.0.attn_k.weight").ne == (64, 32)


def test_metadata(tiny_f32):
    m = tiny_f32.metadata
    assert m["general.architecture"] == "llama" and m["general.file_type"] == 0
    assert m["general.quantization_version"] == 2 and m["general.name"]
    assert (m["llama.block_count"], m["llama.embedding_length"], m["llama.feed_forward_length"]) == (2, 64, 128)
    assert (m["llama.attention.head_count"], m["llama.attention.head_count_kv"]) == (4, 2)
    assert m["llama.rope.dimension_count"] == 16 and m["llama.context_length"] == 256  # max_position_embeddings
    assert m["llama.rope.freq_base"] == 10000.0 and m["llama.vocab_size"] == 49152
    assert m["tokenizer.ggml.pre"] == "smollm" and m["tokenizer.ggml.add_bos_token"] is False


@pytest.mark.parametrize("out_type,main,ftype", [("f16", Q.F16, 1), ("bf16", Q.BF16, 32), ("q8_0", Q.Q8_0, 7)])
def test_types(tiny, tiny_f32, tmp_path, out_type, main, ftype):
    gf = read_gguf(convert(tiny, tmp_path / "t.gguf", out_type).path)
    assert gf.metadata["general.file_type"] == ftype
    for t in gf.tensors:
        expected = Q.F32 if len(t.ne) == 1 or t.name.endswith("_norm.weight") else main
        assert t.qtype == expected, t.name
        ref = _data(tiny_f32, t.name)
        if t.qtype == Q.Q8_0:  # the bytes llama.cpp's ggml_quantize_chunk gives for the F32 data
            rows = ref.reshape(-1, t.ne[0])
            assert np.array_equal(read_tensor_bytes(gf, t).reshape(-1), ggml_quantize(rows, Q.Q8_0).reshape(-1))
        elif t.qtype in (Q.F32, Q.BF16):  # the source is BF16, so BF16 output is exact
            np.testing.assert_array_equal(_data(gf, t.name), ref)
        else:
            np.testing.assert_array_equal(_data(gf, t.name), ref.astype(np.float16).astype(np.float32))


def test_untied_output_and_odd_rows_fall_back_to_f16(smollm2_hf, tmp_path):
    src = tiny_model("llama", tmp_path / "m", smollm2_dir=smollm2_hf, ff=80)
    gf = read_gguf(convert(src, tmp_path / "m.gguf", "q8_0").path)
    assert gf.tensor("output.weight").qtype == Q.Q8_0
    assert gf.tensor("blk.0.ffn_down.weight").qtype == Q.F16  # rows of 80 are not whole Q8_0 blocks
    assert gf.tensor("blk.0.ffn_up.weight").qtype == Q.Q8_0


def test_progress_and_cancel_leave_no_file(tiny, tmp_path):
    token = CancelToken()
    seen = []

    def progress(p):
        seen.append(p)
        if len(seen) == 3:
            token.cancel()

    with pytest.raises(Cancelled):
        convert(tiny, tmp_path / "c.gguf", "q8_0", progress=progress, cancel=token)
    assert list(tmp_path.iterdir()) == []
    assert seen[0].unit == "bytes" and seen[0].total > 0 and seen[-1].item


def test_failure_midway_leaves_no_file(tiny, tmp_path, monkeypatch):
    import converter.convert as conv

    real = conv.encode
    calls = []

    def flaky(planned, qtype, cancel=None):
        calls.append(planned.name)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real(planned, qtype, cancel)

    monkeypatch.setattr(conv, "encode", flaky)
    with pytest.raises(OutputError, match="disk full"):
        convert(tiny, tmp_path / "x.gguf", "f16")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_directory(tiny, tmp_path, monkeypatch):
    import converter.atomic as atomic

    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)  # root ignores permission bits
    with pytest.raises(OutputError, match="not writable"):
        convert(tiny, tmp_path / "x.gguf", "f16")
    assert list(tmp_path.iterdir()) == []


def test_sharded_checkpoint_converts_the_same(tiny, tiny_f32, tmp_path):
    import json
    import shutil

    from tests.fixtures.safetensors_writer import write_safetensors

    ck = open_checkpoint(tiny)
    names = list(ck)
    src = tmp_path / "sharded"
    src.mkdir()
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(tiny / f, src / f)
    half = len(names) // 2
    weight_map = {}
    for i, part in enumerate((names[:half], names[half:])):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        write_safetensors(src / shard, {n: ck.load(n) for n in part}, bf16=True)
        weight_map.update({n: shard for n in part})
    (src / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    gf = read_gguf(convert(src, tmp_path / "s.gguf", "f32").path)
    assert sorted(t.name for t in gf.tensors) == sorted(t.name for t in tiny_f32.tensors)
    for t in gf.tensors:
        assert np.array_equal(read_tensor_bytes(gf, t), read_tensor_bytes(tiny_f32, tiny_f32.tensor(t.name)))
