"""kompakt download / search / login, run in-process against the fake Hub."""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pytest

from app.cli import download, info, login, search
from tests.fixtures.fake_hub import fake_hub  # noqa: F401 - pytest fixture
from tests.fixtures.hub_repos import sha256, tiny_repo


def kompakt(*argv: str) -> int:
    """Parse and run one of this module's subcommands (without importing the others)."""
    parser = argparse.ArgumentParser(prog="kompakt")
    sub = parser.add_subparsers(dest="command")
    for module in (download, search, login, info):
        module.add_parser(sub)
    args = parser.parse_args(argv)
    return args.run(args)


def test_download_prints_snapshot_and_progress(fake_hub, capsys):
    files = tiny_repo()
    fake_hub.add_repo("acme/tiny", files)
    assert kompakt("download", f"{fake_hub.url}/acme/tiny") == 0
    out, err = capsys.readouterr()
    snap = Path(out.strip())
    assert sha256(snap / "model.safetensors") == sha256(files["model.safetensors"])
    assert "download: 100.0%" in err


def test_download_errors_are_one_line(fake_hub, capsys, monkeypatch):
    fake_hub.add_repo("meta/gated", tiny_repo(), gated="auto", token="hf_secret_value")
    assert kompakt("download", "meta/gated") == 1
    err = capsys.readouterr().err
    assert err.startswith("kompakt: error: meta/gated is gated") and err.count("\n") == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("hf_secret_value\n"))
    assert kompakt("download", "meta/gated", "--token-stdin") == 0
    out, err = capsys.readouterr()
    assert "hf_secret_value" not in out + err
    assert kompakt("download", "acme/absent") == 1
    assert "no model acme/absent" in capsys.readouterr().err


def test_search_table(fake_hub, capsys):
    fake_hub.add_repo("acme/tiny-a", tiny_repo(), downloads=1_500_000, card_data={"license": "mit"})
    fake_hub.add_repo("acme/tiny-b", tiny_repo(), downloads=20)
    assert kompakt("search", "tiny", "--limit", "5") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MODEL", "PARAMS", "DOWNLOADS", "LICENSE", "GATED", "CONVERTS"]
    assert lines[1].split()[:5] == ["acme/tiny-a", "66K", "1.5M", "mit", "no"]
    assert lines[2].split()[0] == "acme/tiny-b" and len(lines) == 3


def test_login_stores_token_without_echoing_it(fake_hub, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("hf_valid\n"))
    assert kompakt("login", "--token-stdin") == 0
    out, err = capsys.readouterr()
    assert "logged in" in out and "hf_valid" not in out + err
    assert (Path(os.environ["HF_HOME"]) / "token").read_text().strip() == "hf_valid"
    monkeypatch.setattr("sys.stdin", io.StringIO("hf_bogus\n"))
    assert kompakt("login", "--token-stdin") == 1
    assert "rejected" in capsys.readouterr().err


def test_offline_download_says_so(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert kompakt("download", "acme/tiny") == 1
    assert "offline mode is on" in capsys.readouterr().err


def test_info_lists_files_and_ggufs(fake_hub, capsys):
    fake_hub.add_repo("acme/tiny-GGUF", {"config.json": tiny_repo()["config.json"],
                                         "tiny-Q4_K_M.gguf": b"GGUF" + bytes(2044)}, card_data={"license": "mit"})
    assert kompakt("info", "acme/tiny-GGUF") == 0
    out = capsys.readouterr().out
    assert "architecture: LlamaForCausalLM" in out and "licence: mit" in out
    assert any(line.split() == ["tiny-Q4_K_M.gguf", "Q4_K_M", "2.0", "KiB"] for line in out.splitlines())


@pytest.mark.parametrize("n, text", [(None, "?"), (999, "999"), (134_515_008, "135M"), (7_241_732_096, "7.2B")])
def test_human_count(n, text):
    assert search.human_count(n) == text
