"""``kompakt login``: store a Hugging Face token in huggingface_hub's token store (needed for gated models)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Register ``login``."""
    p = subparsers.add_parser("login", help="store a Hugging Face access token (for gated models)",
                              description="Check a Hugging Face access token with the Hub and store it where "
                                          "huggingface_hub keeps it (shared with `hf auth login`). Create one at "
                                          "https://huggingface.co/settings/tokens.")
    p.add_argument("--token-stdin", action="store_true", help="read the token from standard input (no prompt)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Prompt for (or read) the token, check and store it. The token is never echoed."""
    from app.cli._console import run_job
    from app.cli.download import read_token

    def job() -> int:
        import getpass

        from app.runtime.hub.auth import login

        token = read_token(args) or getpass.getpass("Hugging Face token (input hidden): ")
        login(token)
        print("logged in: token stored for Kompakt and other Hugging Face tools")
        return 0

    return run_job(job)
