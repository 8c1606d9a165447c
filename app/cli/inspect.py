"""``kompakt inspect FILE.gguf [--json]``: a GGUF file's metadata and tensors."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from typing import Any

from ._console import human_bytes, run_job

#: Arrays longer than this are summarized ("[49152 × string]") unless --full is given.
SHOWN_ITEMS = 8


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


def _plain(value: Any, full: bool) -> Any:
    """A JSON-friendly value; long arrays are summarized unless ``full``."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        if not full and len(value) > SHOWN_ITEMS:
            kind = type(value[0]).__name__ if value else "item"
            return {"array": kind, "length": len(value), "head": [_plain(v, full) for v in value[:3]]}
        return [_plain(v, full) for v in value]
    return value


def _short(value: Any) -> str:
    if isinstance(value, dict) and "length" in value:
        return f"[{value['length']} × {value['array']}] {json.dumps(value['head'], ensure_ascii=False)[:60]}…"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:97] + "…"


def run(args: argparse.Namespace) -> int:
    """Print the report; returns the process exit code."""
    from converter.gguf_in import read_gguf

    def job() -> int:
        gf = read_gguf(args.file)
        meta = {k: _plain(v, args.full) for k, v in gf.metadata.items()}
        tensors = [] if args.no_tensors else [
            {"name": t.name, "type": t.qtype.name, "shape": list(t.ne), "bytes": t.nbytes} for t in gf.tensors]
        if args.json:
            json.dump({"file": str(gf.path), "version": gf.version, "size": gf.file_size,
                       "tensor_count": len(gf.tensors), "tensor_bytes": gf.tensor_bytes, "metadata": meta,
                       "tensors": tensors}, sys.stdout, ensure_ascii=False, indent=1)
            sys.stdout.write("\n")
            return 0
        out = sys.stdout
        types = Counter(t.qtype.name for t in gf.tensors)
        out.write(f"{gf.path}: GGUF v{gf.version}, {human_bytes(gf.file_size)}, {len(gf.tensors)} tensors "
                  f"({', '.join(f'{n} {k}' for k, n in types.most_common())})\n\n")
        width = max((len(k) for k in meta), default=0)
        for key, value in meta.items():
            out.write(f"  {key:<{width}}  {_short(value)}\n")
        if tensors:
            out.write("\n")
            name_w = max(len(t["name"]) for t in tensors)
            for t in tensors:
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
