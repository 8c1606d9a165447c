"""``kompakt search QUERY``: find text-generation models on the Hugging Face Hub, as a table."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    """Register ``search``."""
    p = subparsers.add_parser("search", help="search the Hugging Face Hub for text-generation models",
                              description="Search text-generation models on the Hugging Face Hub. CONVERTS says "
                                          "whether Kompakt's converter supports the architecture ('?' = unknown, "
                                          "e.g. gated).")
    p.add_argument("query", help="words in the repo name")
    p.add_argument("--sort", choices=["downloads", "trending", "likes", "updated"], default="downloads")
    p.add_argument("--limit", type=int, default=20, help="number of results (default 20)")
    p.add_argument("--gguf", action="store_true", help="repos with ready-made GGUF files instead")
    p.add_argument("--no-check", action="store_true",
                   help="skip fetching each result's config.json to check converter support (faster)")
    p.set_defaults(run=run)


def human_count(n: int | None) -> str:
    """``134515008`` -> ``135M``; None -> ``?``."""
    if n is None:
        return "?"
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}" if n < 10 * div else f"{n / div:.0f}{unit}"
    return str(n)


def format_table(rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    """Print the search results."""
    from app.cli._console import run_job

    def job() -> int:
        from app.runtime.hub import search_models

        results = search_models(args.query, sort=args.sort, limit=args.limit, gguf=args.gguf,
                                check_support=not args.no_check and not args.gguf)
        if not results:
            print(f"no text-generation model matches {args.query!r}")
            return 0
        rows = [["MODEL", "PARAMS", "DOWNLOADS", "LICENSE", "GATED"] + ([] if args.gguf else ["CONVERTS"])]
        for r in results:
            row = [r.repo_id, human_count(r.parameters), human_count(r.downloads), r.license or "?",
                   "yes" if r.gated else "no"]
            if not args.gguf:
                row.append({True: "yes", False: "no", None: "?"}[r.supported])
            rows.append(row)
        print(format_table(rows))
        return 0

    return run_job(job)
