import subprocess
import sys


def test_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True, text=True, check=True).stdout
    from app.cli import COMMANDS

    for name in COMMANDS:
        assert name in out


def test_unknown_subcommand_fails():
    r = subprocess.run([sys.executable, "-m", "app", "no-such-command"], capture_output=True, text=True)
    assert r.returncode != 0
