"""The ``kompakt`` command: no arguments opens the GUI; each subcommand runs one job headless.

Each subcommand lives in its own module under ``app.cli`` and exposes ``add_parser(subparsers)`` and
``run(args) -> int``. Modules import their heavy dependencies inside ``run`` so ``kompakt --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from pathlib import Path
from typing import Sequence

from app import __version__
from app.runtime import logs

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS: list[str] = [
    "convert",
    "inspect",
    "quantize",
    "imatrix",
    "chat",
    "download",
    "search",
    "login",
    "info",
    "fit",
    "eval",
]

log = logging.getLogger("kompakt")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="kompakt",
        description="Shrink Hugging Face models to GGUF, check whether they fit, and chat with them locally.",
    )
    parser.add_argument("--version", action="version", version=f"kompakt {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--log-file", type=Path, metavar="FILE",
                        help="also write the log to FILE (info messages, with -v debug; rotated at 2 MiB)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"app.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kompakt`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        from app.gui import main as gui_main

        return gui_main()
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING
    logs.configure(stderr_level=level, file=args.log_file, file_level=min(level, logging.INFO))
    if args.command is None:
        parser.print_help()
        return 2
    return args.run(args)
