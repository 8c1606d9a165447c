"""``kompakt imatrix``: compute an importance matrix by running a model over calibration text."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli._console import ProgressLine, ctrl_c_cancels, run_job


def add_parser(subparsers) -> None:
    """Register ``imatrix`` and its options."""
    p = subparsers.add_parser(
        "imatrix", help="compute an importance matrix (for better low-bit quantization)",
        description="Run the model (best an F32/F16/BF16 GGUF) over calibration text in llama.cpp and record, "
                    "for every weight matrix, how strongly each input column is used. The result (llama.cpp's "
                    "GGUF imatrix format) feeds `kompakt quantize --imatrix`.")
    p.add_argument("model", type=Path, metavar="MODEL.gguf")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.imatrix.gguf")
    p.add_argument("--text", type=Path, metavar="FILE", help="calibration text (default: Kompakt's own)")
    p.add_argument("--chunk-size", type=int, default=512, metavar="TOKENS", help="tokens per chunk (default 512)")
    p.add_argument("--chunks", type=int, default=None, metavar="N", help="use at most N chunks")
    p.add_argument("--threads", type=int, default=None, metavar="N")
    p.add_argument("--gpu-layers", type=int, default=0, metavar="N", help="layers to offload to a GPU")
    p.add_argument("--format", choices=("gguf", "dat"), default="gguf", help="file format (dat: legacy)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compute and write the importance matrix."""

    def job() -> int:
        from app.runtime.workflows.quantize import make_imatrix

        if not args.model.is_file():
            raise FileNotFoundError(f"{args.model}: no such file")
        if args.chunk_size < 32:
            raise ValueError("--chunk-size must be at least 32 tokens")
        text = args.text.read_text(encoding="utf-8") if args.text else None
        line = ProgressLine()
        with ctrl_c_cancels() as cancel:
            im = make_imatrix(args.model, args.output, text, legacy=args.format == "dat", chunk_size=args.chunk_size,
                              max_chunks=args.chunks, threads=args.threads, n_gpu_layers=args.gpu_layers,
                              dataset=args.text.name if args.text else "", progress=line, cancel=cancel)
        line.close()
        print(f"{args.output}  ({len(im.entries)} matrices, {im.chunk_count} chunks of {im.chunk_size} tokens)")
        return 0

    return run_job(job)
