"""``kompakt`` itself: the commands it offers are the ones the README documents, each answers ``--help``, unknown
commands fail, and ``--log-file`` records an error's traceback while stderr gets one line."""

import re
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_help_offers_exactly_the_documented_commands(capsys, kompakt):
    documented = re.findall(r"^\| `kompakt (\w+)", (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    r = kompakt("--help")
    assert r.returncode == 0, r.stderr
    listing = r.stdout.split("COMMAND\n", 1)[1].split("\n\n", 1)[0]  # argparse's subcommand block
    offered = re.findall(r"^    (\w+)\s", listing, re.M)
    assert len(documented) >= 10 and sorted(offered) == sorted(documented), (offered, documented)
    for name in offered:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        out = capsys.readouterr().out
        assert done.value.code == 0 and out.startswith(f"usage: kompakt {name} "), (name, out)


def test_unknown_subcommand_fails_with_usage(kompakt):
    r = kompakt("no-such-command")
    assert r.returncode == 2 and "invalid choice: 'no-such-command'" in r.stderr, r.stderr


def test_log_file_gets_the_traceback_stderr_one_line(tmp_path, kompakt):
    log = tmp_path / "logs" / "k.log"
    r = kompakt("--log-file", str(log), "inspect", str(tmp_path / "missing.gguf"))
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("kompakt: error: ") and "missing.gguf" in r.stderr
    text = log.read_text(encoding="utf-8")
    assert "missing.gguf" in text and "Traceback (most recent call last)" in text, text
