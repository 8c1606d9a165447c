"""``kompakt quantize`` end to end on a synthetic GGUF (no llama.cpp involved)."""

from pathlib import Path

import pytest
from gguf import GGMLQuantizationType as T

from app.runtime.workflows.quantize import mix_names, output_paths, output_stem
from converter.gguf_in import read_gguf
from tests.fixtures.tiny_models import tiny_model


def test_ladder_with_override(tmp_path, kompakt):
    src = tiny_model("llama-heavy", tmp_path / "tiny-F32.gguf", hidden=64, ff=128, vocab=64)
    r = kompakt("quantize", src, tmp_path / "out", "--type", "q8_0,Q4_0", "--override", "attn_v=f16",
                "--threads", "2")
    assert r.returncode == 0, r.stderr
    for mix, ftype in (("Q8_0", 7), ("Q4_0", 2)):
        layout = read_gguf(tmp_path / "out" / f"tiny-{mix}.gguf")
        assert layout.metadata["general.file_type"] == ftype
        types = {t.name: t.qtype for t in layout.tensors}
        assert types["blk.0.attn_v.weight"] == T.F16
    assert "tiny-Q8_0.gguf" in r.stdout


def test_errors_are_one_line(tmp_path, kompakt):
    src = tiny_model("llama-heavy", tmp_path / "tiny.gguf", layers=1, hidden=64, ff=128, vocab=64)
    for args, message in ((("--type", "Q9_K"), "unknown quantization type"),
                          (("--type", "Q4_0", "--override", "attn_v"), "PATTERN=TYPE"),
                          (("--type", "Q4_0", "--imatrix", tmp_path / "none.dat"), "not found")):
        r = kompakt("quantize", src, tmp_path / "o.gguf", *args)
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.gguf"]


def test_output_paths(tmp_path):
    """The one naming rule of ``kompakt quantize IN [OUT]`` and the wizard (README: OUT is a file, a directory or a
    name with ``{type}``)."""
    stem = output_stem("SmolLM2-F16")
    assert stem == "SmolLM2"  # a precision suffix of the source is dropped
    assert output_stem("My model.v2_bf16") == "My-model.v2" and output_stem("--") == "model"
    assert output_paths(stem, ["Q4_K_M"], Path("/m"), is_dir=True) == {"Q4_K_M": Path("/m/SmolLM2-Q4_K_M.gguf")}
    assert output_paths(stem, ["Q8_0", "Q6_K"], Path("x-{type}.gguf")) == {
        "Q8_0": Path("x-Q8_0.gguf"), "Q6_K": Path("x-Q6_K.gguf")}
    assert output_paths(stem, ["Q8_0"], tmp_path) == {"Q8_0": tmp_path / "SmolLM2-Q8_0.gguf"}  # existing dir
    assert output_paths(stem, ["Q8_0", "Q6_K"], tmp_path / "new") == {
        "Q8_0": tmp_path / "new" / "SmolLM2-Q8_0.gguf", "Q6_K": tmp_path / "new" / "SmolLM2-Q6_K.gguf"}
    assert output_paths(stem, ["Q8_0"], Path("a.gguf")) == {"Q8_0": Path("a.gguf")}
    assert output_paths(stem, ["Q8_0"], tmp_path / "new") == {"Q8_0": tmp_path / "new"}  # one type: a file
    with pytest.raises(ValueError, match="directory"):
        output_paths(stem, ["Q8_0", "Q6_K"], Path("a.gguf"))


def test_mix_names():
    assert mix_names("q4_k_m, Q8_0,fp16") == ["Q4_K_M", "Q8_0", "F16"]
    assert mix_names(["Q6_K"]) == ["Q6_K"]
    for bad, message in (("Q4_K_M,q4_k", "twice"), (" , ", "at least one"), ("Q9_K", "unknown")):
        with pytest.raises(ValueError, match=message):
            mix_names(bad)
