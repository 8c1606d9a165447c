"""``kompakt download REPO``: fetch a model's safetensors, config and tokenizer into the Hugging Face cache."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    """Register ``download``."""
    p = subparsers.add_parser(
        "download", help="download a model from the Hugging Face Hub (safetensors + config + tokenizer)",
        description="Download what Kompakt needs from a Hugging Face model repo into the standard Hugging Face "
                    "cache (shared with other tools), resuming any earlier partial download. Prints the local "
                    "folder. Ctrl-C cancels; run the command again to resume.")
    p.add_argument("repo", help="repo id (owner/name), owner/name@revision, or a huggingface.co URL")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.add_argument("--include", action="append", metavar="PATTERN",
                   help="only files matching this glob (repeatable); may pick a ready-made .gguf file")
    p.add_argument("--token-stdin", action="store_true",
                   help="read a Hugging Face token from standard input instead of the stored one")
    p.add_argument("--allow-pickle", action="store_true",
                   help="also fetch PyTorch pickle weights (.bin/.pt/.pth) when there are no safetensors; "
                        "Kompakt never loads them")
    p.add_argument("--any-architecture", action="store_true",
                   help="download even if the converter does not support the model's architecture")
    p.set_defaults(run=run)


def read_token(args: argparse.Namespace) -> str | None:
    """The token from stdin with ``--token-stdin``, else None (the stored token is used)."""
    if not getattr(args, "token_stdin", False):
        return None
    token = sys.stdin.readline().strip()
    if not token:
        raise ValueError("--token-stdin: no token on standard input")
    return token


def run(args: argparse.Namespace) -> int:
    """Download and print the snapshot folder."""
    from app.cli._console import ProgressLine, ctrl_c_cancels, run_job
    from app.runtime.sources import HubRepo, resolve_source

    def job() -> int:
        from app.runtime.hub import download_model
        from converter.core.progress import Cancelled

        source = resolve_source(args.repo)
        if not isinstance(source, HubRepo):
            print(source.path)  # a local folder or GGUF: nothing to download
            return 0
        token = read_token(args)
        line = ProgressLine()
        try:
            with ctrl_c_cancels() as cancel:
                folder = download_model(source.repo_id, args.revision or source.revision, args.include, token,
                                        progress=line, cancel=cancel, allow_pickle=args.allow_pickle,
                                        check_architecture=not args.any_architecture)
        except Cancelled:
            line.close()
            print("download stopped; run the same command again to resume", file=sys.stderr)
            raise
        finally:
            line.close()
        print(folder)
        return 0

    return run_job(job)
