"""``kompakt convert`` and ``kompakt inspect``: success, and a one-line error with no output for bad input."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from app.cli import main
from tests.fixtures.tiny_models import tiny_model


@pytest.fixture(scope="module")
def tiny(smollm2_hf, tmp_path_factory):
    return tiny_model("llama-tied", tmp_path_factory.mktemp("tiny") / "tiny", smollm2_dir=smollm2_hf)


@pytest.fixture
def broken(tiny, tmp_path):
    """A writable copy of the tiny checkpoint, to be broken by each test case."""
    return Path(shutil.copytree(tiny, tmp_path / "src"))


def _truncate(d: Path):
    p = d / "model.safetensors"
    p.write_bytes(p.read_bytes()[:-1000])
    return p, "truncated"


def _huge_header(d: Path):
    p = d / "model.safetensors"
    data = bytearray(p.read_bytes())
    struct.pack_into("<Q", data, 0, 1 << 60)
    p.write_bytes(bytes(data))
    return p, "header length 1152921504606846976 exceeds the file size"


def _unknown_dtype(d: Path):
    p = d / "model.safetensors"
    data = p.read_bytes()
    p.write_bytes(data.replace(b'"BF16"', b'"BF17"', 1))
    return p, "unsupported dtype 'BF17'"


def _no_tokenizer(d: Path):
    (d / "tokenizer.json").unlink()
    return d, "no tokenizer found"


def _unsupported_arch(d: Path):
    cfg = json.loads((d / "config.json").read_text())
    cfg["architectures"] = ["FancyNetForCausalLM"]
    (d / "config.json").write_text(json.dumps(cfg))
    return d, "unsupported architecture 'FancyNetForCausalLM'"


def _pickle_only(d: Path):
    (d / "model.safetensors").rename(d / "pytorch_model.bin")
    return d, "unpickling can run arbitrary code"


def _no_config(d: Path):
    (d / "config.json").unlink()
    return d, "config.json not found"


@pytest.mark.parametrize("breaker", [_truncate, _huge_header, _unknown_dtype, _no_tokenizer, _unsupported_arch,
                                     _pickle_only, _no_config])
def test_bad_input_is_one_line_and_leaves_nothing(broken, tmp_path, capsys, breaker):
    named, problem = breaker(broken)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc = main(["convert", str(broken), "-o", str(out_dir / "m.gguf"), "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 1
    assert err.startswith("kompakt: error: ") and "\n" not in err and "Traceback" not in err
    assert str(named) in err and problem in err
    assert list(out_dir.iterdir()) == []


def test_missing_output_directory(tiny, tmp_path, capsys):
    rc = main(["convert", str(tiny), "-o", str(tmp_path / "nope" / "m.gguf"), "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "output directory does not exist" in err and str(tmp_path / "nope") in err


def test_convert_then_inspect_subprocess(tiny, tmp_path, kompakt):
    out = tmp_path / "tiny.gguf"
    r = kompakt("convert", tiny, "-o", out, "--type", "Q8_0")
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "wrote" in r.stderr and "Q8_0" in r.stderr
    r = kompakt("inspect", "--json", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["metadata"]["general.file_type"] == 7 and doc["tensor_count"] == 20
    assert doc["metadata"]["tokenizer.ggml.tokens"]["length"] == 49152
    types = {t["name"]: t["type"] for t in doc["tensors"]}
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["blk.0.attn_norm.weight"] == "F32"
    shapes = {t["name"]: t["shape"] for t in doc["tensors"]}
    assert shapes["token_embd.weight"] == [64, 49152]


def test_inspect_text_and_corrupt(tiny, tmp_path, capsys):
    out = tmp_path / "t.gguf"
    assert main(["convert", str(tiny), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "llama.block_count" in text and "token_embd.weight" in text and "[49152 × str]" in text
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    assert main(["inspect", str(cut)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("kompakt: error: ") and str(cut) in err and "truncated" in err and "\n" not in err


def test_ctrl_c_cancels_and_leaves_nothing(smollm2_hf, tmp_path, kompakt):
    import signal
    import time

    out = tmp_path / "smol.gguf"
    proc = kompakt.popen("convert", smollm2_hf, "-o", out, "-t", "q8_0")
    try:
        deadline = time.monotonic() + 60
        while not any(tmp_path.glob(".smol.gguf.*.tmp")):  # wait until tensor data is being written
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "cancelled" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
