"""``kompakt quantize`` end to end on a synthetic GGUF (no llama.cpp involved)."""

from pathlib import Path

import pytest
from gguf import GGMLQuantizationType as T

from app.cli.quantize import output_paths
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
    src = Path("/m/SmolLM2-F16.gguf")
    assert output_paths(src, None, ["Q4_K_M"]) == {"Q4_K_M": Path("/m/SmolLM2-Q4_K_M.gguf")}
    assert output_paths(src, Path("x-{type}.gguf"), ["Q8_0", "Q6_K"]) == {
        "Q8_0": Path("x-Q8_0.gguf"), "Q6_K": Path("x-Q6_K.gguf")}
    assert output_paths(src, tmp_path, ["Q8_0"]) == {"Q8_0": tmp_path / "SmolLM2-Q8_0.gguf"}
    assert output_paths(src, Path("a.gguf"), ["Q8_0"]) == {"Q8_0": Path("a.gguf")}
    with pytest.raises(ValueError, match="directory"):
        output_paths(src, Path("a.gguf"), ["Q8_0", "Q6_K"])
