"""``kompakt inspect FILE.gguf [--json]``: a GGUF file's metadata and tensors."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from converter.core.units import human_bytes

from ._console import run_job


def add_parser(subparsers) -> None:
    """Register the ``inspect`` subcommand."""
    p = subparsers.add_parser("inspect", help="show a GGUF file's metadata and tensors",
                              description="Show a GGUF file's metadata and tensor table (name, type, shape, "
                                          "bytes). A corrupt or truncated file is reported in one line.")
    p.add_argument("file", metavar="FILE.gguf")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--full", action="store_true", help="print long arrays (token lists...) in full")
    p.add_argument("--no-tensors", action="store_true", help="metadata only")
    p.set_defaults(run=run)


def _short(value: Any) -> str:
    if isinstance(value, dict) and "length" in value:
        return f"[{value['length']} × {value['array']}] {json.dumps(value['head'], ensure_ascii=False)[:60]}…"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:97] + "…"


def run(args: argparse.Namespace) -> int:
    """Print the report; returns the process exit code."""
    from app.runtime.workflows.gguf_files import describe_gguf

    def job() -> int:
        summary = describe_gguf(args.file, full=args.full, tensors=not args.no_tensors)
        if args.json:
            json.dump(summary.document(), sys.stdout, ensure_ascii=False, indent=1)
            sys.stdout.write("\n")
            return 0
        out = sys.stdout
        counts = ", ".join(f"{n} {k}" for k, n in summary.type_counts.items())
        out.write(f"{summary.path}: GGUF v{summary.version}, {human_bytes(summary.size)}, "
                  f"{summary.tensor_count} tensors ({counts})\n\n")
        width = max((len(k) for k in summary.metadata), default=0)
        for key, value in summary.metadata.items():
            out.write(f"  {key:<{width}}  {_short(value)}\n")
        if summary.tensors:
            out.write("\n")
            name_w = max(len(t["name"]) for t in summary.tensors)
            for t in summary.tensors:
                shape = " × ".join(str(d) for d in t["shape"])
                out.write(f"  {t['name']:<{name_w}}  {t['type']:<7} {shape:<16} {human_bytes(t['bytes']):>10}\n")
        return 0

    def guarded() -> int:
        try:
            return job()
        except BrokenPipeError:  # `kompakt inspect x.gguf | head`
            sys.stdout = open(os.devnull, "w")
            return 0

    return run_job(guarded)
