"""``kompakt info REPO``: what a Hub model repo holds -- architecture, size, licence, files, ready-made GGUFs."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Register ``info``."""
    p = subparsers.add_parser("info", help="describe a Hugging Face model repo (architecture, size, GGUF files)",
                              description="Show a Hub model's architecture, parameter count, licence, gating, "
                                          "whether Kompakt can convert it (when not: ready-made GGUF repos of the "
                                          "same model and the supported architectures), its files with sizes, "
                                          "and any ready-made GGUF files with their quant types (pick one with "
                                          "`kompakt download REPO --include NAME`). Nothing is downloaded.")
    p.add_argument("repo", help="repo id (owner/name), owner/name@revision, or a huggingface.co URL")
    p.add_argument("--revision", help="branch, tag or commit (default: main)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the model's facts, its files and its GGUF files."""
    from app.cli._console import run_job
    from converter.core.units import human_bytes
    from app.cli.search import format_table, human_count

    def job() -> int:
        from app.runtime.hub import gguf_files, model_info, support_report
        from app.runtime.sources import HubRepo, resolve_source

        source = resolve_source(args.repo)
        if not isinstance(source, HubRepo):
            raise ValueError(f"{args.repo}: a local path; `kompakt info` describes Hub repos")
        d = model_info(source.repo_id, args.revision or source.revision)
        converts = {True: "yes", False: "no", None: "unknown"}[d.supported]
        print(f"{d.repo_id} @ {d.sha}")
        print(f"architecture: {d.architecture or '?'}   parameters: {human_count(d.parameters)}   "
              f"licence: {d.license or '?'}   gated: {'yes' if d.gated else 'no'}   converts: {converts}")
        print("\n".join(support_report(d.repo_id, details=d).lines()))
        rows = [["FILE", "SIZE"]] + [[f.name, human_bytes(f.size) if f.size is not None else "?"] for f in d.files]
        print(format_table(rows))
        ggufs = gguf_files(d.files)
        if ggufs:
            print()
            rows = [["GGUF", "QUANT", "SIZE"]]
            rows += [[g.name + (f" (+{len(g.files) - 1} parts)" if g.is_split else ""),
                      (g.quant or "?") + (" projector" if g.projector else ""),
                      human_bytes(g.size) if g.size is not None else "?"] for g in ggufs]
            print(format_table(rows))
        return 0

    return run_job(job)
