"""``kompakt quantize``: quantize a GGUF to one or several mixes (Q4_K_M, Q5_K_M, Q8_0, ...)."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli._console import ProgressLine, ctrl_c_cancels, run_job
from converter.core.quant_types import MIXES
from converter.core.units import human_bytes


def add_parser(subparsers) -> None:
    """Register ``quantize`` and its options."""
    p = subparsers.add_parser(
        "quantize", help="quantize a GGUF file (Q4_K_M, Q8_0, ...; several at once with a comma list)",
        description="Quantize an F32/F16/BF16 GGUF exactly as llama-quantize would. With several types "
                    "(--type Q4_K_M,Q5_K_M,Q8_0) the source is read once and OUT is a directory, or a name "
                    "containing {type}.")
    p.add_argument("input", type=Path, metavar="IN.gguf")
    p.add_argument("output", type=Path, nargs="?", metavar="OUT",
                   help="output file, directory, or pattern with {type} (default: next to the input)")
    p.add_argument("-t", "--type", required=True, metavar="TYPE[,TYPE...]",
                   help=f"mix(es): {' '.join(MIXES)}")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--imatrix", type=Path, metavar="FILE", help="importance matrix (GGUF or legacy .dat)")
    src.add_argument("--calibration", nargs="?", const="", metavar="TEXT_FILE",
                     help="compute an importance matrix from this text first (no file: Kompakt's default text)")
    p.add_argument("--save-imatrix", type=Path, metavar="FILE", help="with --calibration: also save the matrix")
    p.add_argument("--override", action="append", default=[], metavar="PATTERN=TYPE",
                   help="give tensors whose name matches the regex PATTERN this type (repeatable), "
                        "e.g. 'attn_v=q8_0'")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="worker processes (default: all cores)")
    p.add_argument("--allow-requantize", action="store_true", help="accept already-quantized input tensors")
    p.add_argument("--pure", action="store_true", help="no mix rules: every quantizable tensor gets the base type")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the quantization; prints the written files."""

    def job() -> int:
        from app.runtime.workflows.quantize import mix_names, output_paths, output_stem, quantize_file, start_workers

        start_workers(args.threads)  # the workers' imports overlap with this process's
        mixes = mix_names(args.type)
        outputs = output_paths(output_stem(args.input.stem), mixes, args.output or args.input.parent,
                               is_dir=args.output is None)
        text, dataset = None, ""
        if args.calibration:
            text_path = Path(args.calibration)
            text, dataset = text_path.read_text(encoding="utf-8"), text_path.name
        elif args.calibration is not None:
            text = ""  # Kompakt's own calibration text
        line = ProgressLine()
        with ctrl_c_cancels() as cancel:
            written = quantize_file(args.input, outputs, imatrix=args.imatrix, calibration=text, dataset=dataset,
                                    save_imatrix=args.save_imatrix, overrides=args.override, threads=args.threads,
                                    allow_requantize=args.allow_requantize, pure=args.pure, progress=line,
                                    cancel=cancel)
        line.close()
        for path in written:
            print(f"{path}  ({human_bytes(path.stat().st_size)})")
        return 0

    return run_job(job)
