"""``kompakt fit``: JSON and table output, exit codes, and clear errors for broken files."""

from __future__ import annotations

import argparse
import json

import pytest

from app.cli import COMMANDS, fit
from tests.fixtures.tiny_models import tiny_model

KEYS = {"model_bytes", "kv_bytes", "compute_bytes", "output_bytes", "total_bytes", "verdict", "gpu_layers", "ctx",
        "devices"}


def run_fit(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="kompakt")
    fit.add_parser(parser.add_subparsers())
    args = parser.parse_args(["fit", *argv])
    return args.run(args)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model("llama-gguf", tmp_path_factory.mktemp("m") / "tiny.gguf", vocab=300, hidden=64, heads=2,
                      kv_heads=1, head_dim=32, ff=128)


def test_registered():
    assert "fit" in COMMANDS


def test_json_output(tiny, capsys):
    assert run_fit(str(tiny), "--ctx", "1000", "--ram", "4G", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert KEYS <= doc.keys()
    assert doc["verdict"] == "cpu_only" and doc["gpu_layers"] == 0 and doc["ctx"] == 1000
    assert doc["kv_cells"] == 1024
    # 2 layers x (K + V) x 32 values x 2 bytes x 1024 cells
    assert doc["kv_bytes"] == 2 * 2 * 32 * 2 * 1024
    assert doc["total_bytes"] == sum(d["total_bytes"] for d in doc["devices"])
    assert doc["devices"][0]["budget_bytes"] == 4 << 30


def test_table_and_out_of_memory(tiny, capsys):
    assert run_fit(str(tiny), "--ram", "100M") == 2
    out = capsys.readouterr().out
    assert "Verdict: does not fit" in out and "short by" in out and "TOO BIG" in out


def test_hypothetical_gpu(tiny, capsys):
    assert run_fit(str(tiny), "--ram", "4G", "--vram", "8G", "--kv-type", "q8_0", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "fits_gpu" and doc["gpu_layers"] == 3
    assert doc["flash_attn"] is True  # llama.cpp forces flash attention on for a quantized V cache
    assert doc["kv_type_k"] == doc["kv_type_v"] == "q8_0"
    assert run_fit(str(tiny), "--kv-type", "q8_0", "--flash-attn", "off") == 1  # llama.cpp would refuse it
    err = capsys.readouterr().err
    assert err.startswith("kompakt: error: ") and "needs flash attention" in err and len(err.splitlines()) == 1


def test_gpu_layers_auto_is_minus_one_and_all_is_every_layer(tiny, capsys):
    docs = {}
    for value in ("auto", "-1", "all", "2"):
        assert run_fit(str(tiny), "--ram", "4G", "--vram", "8G", "--gpu-layers", value, "--json") == 0
        docs[value] = json.loads(capsys.readouterr().out)
    assert docs["auto"] == docs["-1"] and docs["auto"]["gpu_layers"] == 3  # as many as fit: all 2 + output
    assert docs["all"]["gpu_layers"] == 3 and docs["2"]["gpu_layers"] == 2
    assert docs["auto"]["flash_attn"] is False  # f16 cache, head size 32 on a CUDA GPU: llama.cpp turns it off


def test_fit_reads_the_saved_settings(tiny, capsys):
    from app.runtime import settings

    path = settings.save(settings.Settings(context_length=1024, kv_type="q8_0", gpu_layers=0))
    assert path.parent == settings.paths.config_dir()  # the temporary KOMPAKT_CONFIG_DIR of conftest
    assert run_fit(str(tiny), "--ram", "4G", "--vram", "8G", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ctx"], doc["kv_type_k"], doc["gpu_layers"], doc["flash_attn"]) == (1024, "q8_0", 0, True)
    assert run_fit(str(tiny), "--ram", "4G", "--ctx", "2048", "--kv-type", "f16", "--json") == 0  # flags win
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ctx"], doc["kv_type_k"]) == (2048, "f16")


@pytest.mark.parametrize("cut", [10, 600, -50])
def test_truncated_gguf_clear_error(tiny, tmp_path, capsys, cut):
    data = tiny.read_bytes()
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(data[:cut])
    assert run_fit(str(bad)) == 1
    err = capsys.readouterr().err
    assert err.startswith("kompakt: error: ") and str(bad) in err and len(err.strip().splitlines()) == 1


def test_missing_model(capsys, tmp_path):
    assert run_fit(str(tmp_path / "nope.gguf")) == 1
    assert "kompakt: error:" in capsys.readouterr().err


def test_parse_bytes():
    assert fit.parse_bytes("8G") == 8 << 30
    assert fit.parse_bytes("512MiB") == 512 << 20
    assert fit.parse_bytes("1.5g") == 3 << 29
    assert fit.parse_bytes("1000") == 1000
    with pytest.raises(argparse.ArgumentTypeError):
        fit.parse_bytes("lots")


def test_kompakt_fit_subprocess(tiny, tmp_path, kompakt):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(tiny.read_bytes()[:700])
    r = kompakt("fit", bad)
    assert r.returncode == 1 and "kompakt: error:" in r.stderr and "Traceback" not in r.stderr
    ok = kompakt("fit", tiny, "--json")
    assert ok.returncode == 0 and KEYS <= json.loads(ok.stdout).keys()
