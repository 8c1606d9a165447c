def test_help_lists_subcommands(kompakt):
    r = kompakt("--help")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    from app.cli import COMMANDS

    for name in COMMANDS:
        assert name in out


def test_unknown_subcommand_fails(kompakt):
    r = kompakt("no-such-command")
    assert r.returncode != 0
