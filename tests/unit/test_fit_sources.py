"""Model descriptions from GGUF files, Hugging Face folders and (faked) Hub metadata; bad input gives clear errors."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
from gguf.constants import GGMLQuantizationType as T

from app.runtime.fit import load_spec
from app.runtime.fit import gguf_source
from app.runtime.fit.gguf_source import spec_from_gguf
from app.runtime.fit.hf_source import spec_from_checkpoint_meta, spec_from_hf_folder
from converter.errors import CheckpointError, GGUFError, UnsupportedArchitectureError
from tests.fixtures.safetensors_writer import write_safetensors
from tests.fixtures.tiny_models import tiny_model


@pytest.fixture(scope="module")
def tiny_gemma(tmp_path_factory):
    return tiny_model("gemma3-gguf", tmp_path_factory.mktemp("g") / "g.gguf", vocab=300, hidden=64, heads=2,
                      head_dim=32, ff=128)


def test_gguf_spec(tiny_gemma):
    spec = spec_from_gguf(tiny_gemma)
    assert (spec.arch, spec.n_layer, spec.n_embd, spec.n_vocab) == ("gemma3", 6, 64, 300)
    assert spec.n_head == [2] * 6 and spec.n_head_kv == [1] * 6 and spec.head_dim_k == [32] * 6
    assert spec.n_swa == 128 and spec.swa_layers == [True] * 5 + [False]  # llama.cpp's gemma3 pattern of 6
    assert spec.tied_output()
    emb = next(t for t in spec.tensors if t.name == "token_embd.weight")
    assert emb.type == T.F16 and emb.shape == (64, 300) and emb.offset is not None
    assert spec.file_size == tiny_gemma.stat().st_size


def test_truncated_gguf_is_a_clear_error(tiny_gemma, tmp_path):
    data = tiny_gemma.read_bytes()
    for cut in (len(data) - 100, 2000, 30, 6):
        bad = tmp_path / f"cut{cut}.gguf"
        bad.write_bytes(data[:cut])
        with pytest.raises(GGUFError) as err:
            spec_from_gguf(bad)
        assert str(bad) in str(err.value)
        assert "truncated" in str(err.value) or "corrupt" in str(err.value) or "GGUF" in str(err.value)


def test_not_a_gguf(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(GGUFError, match="not a GGUF file"):
        spec_from_gguf(bad)
    garbage = tmp_path / "y.gguf"
    garbage.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    with pytest.raises(GGUFError):
        spec_from_gguf(garbage)


def _hf_folder(tmp_path, *, tied=True, arch="LlamaForCausalLM"):
    n_embd, n_ff, vocab = 256, 512, 1000
    cfg = {"architectures": [arch], "hidden_size": n_embd, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "intermediate_size": n_ff, "vocab_size": vocab,
           "max_position_embeddings": 2048, "tie_word_embeddings": tied}
    z = lambda *s: np.zeros(s, dtype=np.float32)  # noqa: E731
    tensors = {"model.embed_tokens.weight": z(vocab, n_embd), "model.norm.weight": z(n_embd)}
    if not tied:
        tensors["lm_head.weight"] = z(vocab, n_embd)
    for i in range(2):
        p = f"model.layers.{i}."
        tensors |= {p + "input_layernorm.weight": z(n_embd), p + "post_attention_layernorm.weight": z(n_embd),
                    p + "self_attn.q_proj.weight": z(n_embd, n_embd), p + "self_attn.k_proj.weight": z(128, n_embd),
                    p + "self_attn.v_proj.weight": z(128, n_embd), p + "self_attn.o_proj.weight": z(n_embd, n_embd),
                    p + "mlp.gate_proj.weight": z(n_ff, n_embd), p + "mlp.up_proj.weight": z(n_ff, n_embd),
                    p + "mlp.down_proj.weight": z(n_embd, n_ff)}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    write_safetensors(tmp_path / "model.safetensors", tensors, bf16=True)
    return tmp_path


def test_hf_folder_spec_q8_0(tmp_path):
    spec = spec_from_hf_folder(_hf_folder(tmp_path), "Q8_0")
    types_ = {t.name: t.type for t in spec.tensors}
    shapes = {t.name: t.shape for t in spec.tensors}
    assert len(spec.tensors) == 2 + 2 * 9
    assert shapes["token_embd.weight"] == (256, 1000) and shapes["blk.1.ffn_down.weight"] == (512, 256)
    assert types_["blk.0.attn_q.weight"] == T.Q8_0 and types_["output_norm.weight"] == T.F32
    assert types_["token_embd.weight"] == T.Q8_0  # tied embedding: output rule, already Q8_0
    assert spec.n_head_kv == [2, 2] and spec.head_dim_k == [64, 64] and spec.n_ctx_train == 2048
    # Q8_0 = 34 bytes per 32 values
    assert spec.weights_bytes == sum(t.nbytes for t in spec.tensors)
    assert next(t for t in spec.tensors if t.name == "blk.0.attn_k.weight").nbytes == 128 * 8 * 34


def test_hf_folder_q4_k_m_rules(tmp_path):
    spec = spec_from_hf_folder(_hf_folder(tmp_path, tied=False), "Q4_K_M")
    types_ = {t.name: t.type for t in spec.tensors}
    assert types_["output.weight"] == T.Q6_K
    assert types_["blk.0.attn_q.weight"] == T.Q4_K
    # llama.cpp's use_more_bits: layer 1 of 2 is in the last eighth, so attn_v and ffn_down get Q6_K
    assert types_["blk.1.attn_v.weight"] == T.Q6_K and types_["blk.1.ffn_down.weight"] == T.Q6_K


def test_hf_errors(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        spec_from_hf_folder(tmp_path, "Q4_K_M")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        spec_from_hf_folder(tmp_path, "Q4_K_M")
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(CheckpointError, match="safetensors"):
        spec_from_hf_folder(tmp_path, "Q4_K_M")
    (tmp_path / "model.safetensors").write_bytes(b"\x05")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        spec_from_hf_folder(tmp_path, "Q4_K_M")
    with pytest.raises(UnsupportedArchitectureError):
        spec_from_checkpoint_meta({"architectures": ["NoSuchForCausalLM"]}, [("w", "F32", (2, 2))], "Q4_K_M")
    ok = tmp_path / "ok"
    ok.mkdir()
    with pytest.raises(ValueError, match="unknown quantization"):
        spec_from_hf_folder(_hf_folder(ok), "Q9_X")


def test_hub_repo_id_goes_through_hub_module(tmp_path, monkeypatch):
    folder = _hf_folder(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    from converter.hf.safetensors import read_header

    tensors, _ = read_header(folder / "model.safetensors")
    calls = []

    def remote_checkpoint_meta(repo_id, revision=None, token=None):
        calls.append((repo_id, revision, token))
        return config, [(t.name, t.dtype, t.shape) for t in tensors.values()]

    fake = types.ModuleType("app.runtime.hub")
    fake.remote_checkpoint_meta = remote_checkpoint_meta
    monkeypatch.setitem(sys.modules, "app.runtime.hub", fake)
    spec = load_spec("someone/tiny-model", "Q8_0", revision="main")
    assert calls == [("someone/tiny-model", "main", None)]
    assert spec.source == "someone/tiny-model" and spec.n_layer == 2 and len(spec.tensors) == 20


def test_load_spec_dispatch(tiny_gemma, tmp_path):
    assert load_spec(tiny_gemma).arch == "gemma3"
    assert load_spec(_hf_folder(tmp_path), "Q8_0").arch == "llama"
    with pytest.raises(CheckpointError):
        load_spec(tmp_path / "missing.gguf")


def test_header_reader_matches_gguf_py(tiny_gemma):
    from gguf import GGUFReader

    from converter.gguf_in import read_gguf

    ours = read_gguf(tiny_gemma)
    ref = GGUFReader(tiny_gemma)
    assert [(t.name, int(t.qtype), t.ne, t.offset) for t in ours.tensors] == \
        [(t.name, int(t.tensor_type), tuple(int(n) for n in t.shape), int(t.data_offset)) for t in ref.tensors]
    assert ours.metadata["gemma3.attention.sliding_window"] == 128
    assert ours.metadata["tokenizer.ggml.tokens"][:3] == ["<unk>", "<s>", "</s>"]


def test_header_reader_skips_and_checks_long_arrays(tiny_gemma, tmp_path, monkeypatch):
    from converter import gguf_values
    from converter.gguf_in import read_gguf

    monkeypatch.setattr(gguf_values, "LAZY_STRINGS", 10)
    monkeypatch.setattr(gguf_source, "MAX_ARRAY", 10)
    header = read_gguf(tiny_gemma)
    assert isinstance(header.metadata._items["tokenizer.ggml.tokens"], gguf_values.LazyStrings)  # not decoded
    assert header.metadata.array_length("tokenizer.ggml.tokens") == 300  # kept as its length only
    assert spec_from_gguf(tiny_gemma).n_vocab == 300
    assert header.metadata["tokenizer.ggml.tokens"][:3] == ["<unk>", "<s>", "</s>"]  # decoded when asked for
    data = tiny_gemma.read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[:data.index(b"t10")])  # ends inside the token list
    with pytest.raises(GGUFError, match="truncated: .*tokenizer.ggml.tokens"):
        read_gguf(cut)


def test_hf_spec_matches_the_gguf_llama_cpp_made(smollm2_hf, smollm2_f32_gguf):
    """The HF folder, planned by the converter's architecture, gives the F32 GGUF's exact tensor table."""
    hf = spec_from_hf_folder(smollm2_hf, "F32")
    gg = spec_from_gguf(smollm2_f32_gguf)
    assert {(t.name, t.type, t.shape) for t in hf.tensors} == {(t.name, t.type, t.shape) for t in gg.tensors}
    for field in ("arch", "n_layer", "n_embd", "n_vocab", "n_head", "n_head_kv", "head_dim_k", "n_ff",
                  "n_ctx_train"):
        assert getattr(hf, field) == getattr(gg, field), field


def test_fit_and_source_errors_are_runtime_errors(tmp_path):
    """Fit, sources and settings raise the runtime's own errors (one line, the file named) that are ValueErrors."""
    from app.runtime.errors import FitError, KompaktRuntimeError, SettingsError, SourceError
    from app.runtime.fit import ContextParams
    from converter.core.quant_types import QType, UnknownTypeError
    from app.runtime.settings import Settings
    from app.runtime.sources import resolve_source

    for cls in (FitError, SourceError, SettingsError):
        assert issubclass(cls, KompaktRuntimeError) and issubclass(cls, ValueError)
    with pytest.raises(UnknownTypeError, match="unknown ggml type"):  # the core's table: a KompaktError too
        ContextParams(type_k="q9_9")
    with pytest.raises(FitError, match="needs flash attention"):
        ContextParams(type_v="q8_0", flash_attn=False)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(SourceError) as info:
        resolve_source(str(notes))
    assert info.value.path == notes and str(info.value) == f"{notes}: not a GGUF file nor a model folder"
    with pytest.raises(SourceError, match="no such file"):
        resolve_source(str(tmp_path / "missing.gguf"))
    with pytest.raises(SettingsError, match="temperature"):
        Settings(temperature=9.0).validate()
