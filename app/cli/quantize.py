"""``kompakt quantize``: quantize a GGUF to one or several mixes (Q4_K_M, Q5_K_M, Q8_0, ...)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from app.cli._console import ProgressLine, ctrl_c_cancels, human_bytes, run_job
from converter.core.quant_types import MIXES, get_mix

_BASE_SUFFIX = re.compile(r"[-_.](f32|f16|bf16|fp16|fp32)$", re.IGNORECASE)


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


def output_paths(input_path: Path, output: Path | None, mixes: list[str]) -> dict[str, Path]:
    """Where each mix goes: OUT as given (one mix), OUT with {type} filled in, or ``<stem>-<MIX>.gguf`` in a
    directory (OUT, or the input's directory)."""
    stem = _BASE_SUFFIX.sub("", input_path.stem)
    if output is not None and "{type}" in str(output):
        return {m: Path(str(output).replace("{type}", m)) for m in mixes}
    if output is not None and (output.is_dir() or (len(mixes) > 1 and not output.suffix)):
        directory = output
    elif output is not None:
        if len(mixes) > 1:
            raise ValueError(f"{output}: several types need a directory or a name containing {{type}}")
        return {mixes[0]: output}
    else:
        directory = input_path.parent
    return {m: directory / f"{stem}-{m}.gguf" for m in mixes}


def run(args: argparse.Namespace) -> int:
    """Run the quantization; prints the written files."""

    def job() -> int:
        if args.threads != 1:
            from converter.worker_pool import start_worker_server

            start_worker_server()  # the workers' imports overlap with this process's
        from converter.quantize import plan_gguf, quantize_ladder
        from converter.mixes import Override

        mixes = [get_mix(m).name for m in args.type.split(",") if m.strip()]
        if len(set(mixes)) != len(mixes):
            raise ValueError("the same type is listed twice")
        overrides = [Override.parse(o) for o in args.override]
        outputs = output_paths(args.input, args.output, mixes)
        for path in outputs.values():
            if path.resolve() == args.input.resolve():
                raise ValueError(f"{path}: the output would overwrite the input")
            path.parent.mkdir(parents=True, exist_ok=True)
        line = ProgressLine()
        with ctrl_c_cancels() as cancel:
            imatrix = args.imatrix
            if args.calibration is not None:
                # fail on a bad source or option now, not after minutes of calibration
                plan_gguf(args.input, mixes, overrides=overrides, has_imatrix=True,
                          allow_requantize=args.allow_requantize, pure=args.pure)
                imatrix = _calibrate(args, line, cancel)
            written = quantize_ladder(args.input, outputs, imatrix=imatrix, overrides=overrides,
                                      threads=args.threads, allow_requantize=args.allow_requantize,
                                      pure=args.pure, progress=line, cancel=cancel)
        line.close()
        for path in written:
            print(f"{path}  ({human_bytes(path.stat().st_size)})")
        return 0

    return run_job(job)


def _calibrate(args: argparse.Namespace, line: ProgressLine, cancel):
    from app.runtime.imatrix import compute_imatrix
    from converter.imatrix import write_imatrix

    text, dataset = None, ""
    if args.calibration:
        text_path = Path(args.calibration)
        text, dataset = text_path.read_text(encoding="utf-8"), text_path.name
    im = compute_imatrix(args.input, text, threads=args.threads, dataset=dataset, progress=line, cancel=cancel)
    if args.save_imatrix:
        write_imatrix(im, args.save_imatrix)
    return im
