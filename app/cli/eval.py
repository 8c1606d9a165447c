"""``kompakt eval``: perplexity of a base GGUF and, for each candidate, how far it drifts from the base.

Computed like ``llama-perplexity --kl-divergence``: mean KL divergence, its 99th percentile and the share of
positions where the candidate's most likely next token is the base's. The base pass is cached, so adding a
candidate later costs one pass of that candidate only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, TextIO


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``eval`` and its options."""
    p = subparsers.add_parser(
        "eval", help="measure quantization quality: perplexity and KL divergence against a base model",
        description="Perplexity of a base GGUF and, for each candidate, its mean KL divergence from the base, the "
                    "99th percentile and the share of positions with the same top token (like llama-perplexity "
                    "--kl-divergence). The base pass is cached, so adding a candidate later costs one pass.")
    p.add_argument("base", metavar="BASE.gguf", help="reference model (F16/BF16/Q8_0 of the same model)")
    p.add_argument("candidates", metavar="CANDIDATE.gguf", nargs="*", help="quantized files to compare")
    p.add_argument("--text", metavar="FILE", help="evaluation text (default: bundled Python documentation excerpt)")
    p.add_argument("--ctx", type=int, default=512, metavar="N",
                   help="tokens per chunk; the second half of each is scored (default: 512)")
    p.add_argument("--chunks", type=int, default=None, metavar="N",
                   help="score at most N chunks (default: all the text holds)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads (default: physical cores)")
    p.add_argument("--gpu-layers", type=int, default=0, metavar="N", help="layers to offload to the GPU (default: 0)")
    p.add_argument("--max-kl", type=float, default=None, metavar="KL",
                   help="also name the smallest candidate whose mean KL is at most KL (e.g. 0.05)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cached base pass")
    p.add_argument("--json", action="store_true", help="print the full results as JSON")
    p.set_defaults(run=run)
    return p


def _fmt(value: Optional[float], spec: str) -> str:
    return "—" if value is None else format(value, spec)


def print_table(report, out: TextIO = sys.stdout) -> None:
    """Print one row per model: file, size, bits/weight, PPL, mean KL, KL p99, top-token agreement."""
    from converter.core.units import human_bytes

    head = ("file", "size", "bits/w", "PPL", "mean KL", "KL p99", "same top")
    rows = [(report.base.name + " (base)", human_bytes(report.base.file_size),
             _fmt(report.base.bits_per_weight, ".2f"),
             f"{report.base_ppl.value:.4f} ± {report.base_ppl.se:.4f}", "—", "—", "—")]
    for c in report.candidates:
        s = c.summary
        rows.append((c.model.name, human_bytes(c.model.file_size), _fmt(c.model.bits_per_weight, ".2f"),
                     f"{s.ppl.value:.4f} ± {s.ppl.se:.4f}", f"{s.kl_mean.value:.5f} ± {s.kl_mean.se:.5f}",
                     f"{s.kl_p99:.5f}", f"{100 * s.same_top.value:.2f} ± {100 * s.same_top.se:.2f} %"))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    for r in (head, *rows):
        out.write("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                            for i, (cell, w) in enumerate(zip(r, widths))).rstrip() + "\n")
    out.write(f"{report.n_chunks} chunks of {report.n_ctx} tokens, {report.n_positions} scored positions "
              f"of {report.text_name}; base pass: {report.base_chunks_computed} chunks computed, "
              f"{report.base_chunks_cached} from cache\n")


def run(args: argparse.Namespace) -> int:
    """Evaluate, then print a table (or JSON)."""
    from ._console import ProgressLine, ctrl_c_cancels, run_job

    def job() -> int:
        from app.runtime.evaluate import compare_models, recommend

        line = ProgressLine()
        with ctrl_c_cancels() as cancel:
            try:
                report = compare_models(args.base, args.candidates, text=args.text, n_ctx=args.ctx,
                                        n_chunks=args.chunks, n_threads=args.threads, n_gpu_layers=args.gpu_layers,
                                        use_cache=not args.no_cache, progress=line, cancel=cancel)
            finally:
                line.close()
        rec = recommend(report.candidates, max_kl=args.max_kl) if args.max_kl is not None else None
        if args.json:
            data = report.to_dict()
            if rec is not None:
                data["recommendation"] = {"path": str(rec.choice.model.path) if rec.choice else None,
                                          "reason": rec.reason, "max_kl": args.max_kl}
            json.dump(data, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            print_table(report)
            if rec is not None:
                print(f"recommendation: {rec.reason}")
        return 0

    return run_job(job)
