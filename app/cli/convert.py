"""``kompakt convert SRC -o OUT.gguf --type f16``: a Hugging Face checkpoint folder to a GGUF file."""

from __future__ import annotations

import argparse
import sys

from converter.core.quant_types import MIXES
from converter.core.units import human_bytes

from ._console import ProgressLine, ctrl_c_cancels, run_job

#: The mixes the converter writes itself first, then those written in one pass (F32 tensors fed straight to the
#: quantizer, as llama-quantize would).
CHOICES = tuple(m.name.lower() for m in sorted(MIXES.values(), key=lambda m: not m.direct))


def add_parser(subparsers) -> None:
    """Register the ``convert`` subcommand."""
    p = subparsers.add_parser("convert", help="convert a Hugging Face checkpoint folder to GGUF",
                              description="Convert a Hugging Face checkpoint (config.json, *.safetensors and "
                                          "tokenizer files) to a GGUF file. Ctrl-C cancels and leaves no file.")
    p.add_argument("source", metavar="SRC", help="folder with config.json, *.safetensors and the tokenizer")
    p.add_argument("-o", "--output", required=True, metavar="OUT.gguf", help="GGUF file to write")
    p.add_argument("-t", "--type", default="f16", type=str.lower, choices=CHOICES,
                   help="tensor type of the weights (default: f16; norms and 1-D tensors stay f32), or a "
                        "quantization mix such as q4_k_m")
    p.add_argument("--name", help="model name to record in general.name")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the conversion; returns the process exit code."""
    from app.runtime.workflows.gguf_files import convert_checkpoint

    def job() -> int:
        line = None if args.quiet else ProgressLine()
        with ctrl_c_cancels() as cancel:
            try:
                result = convert_checkpoint(args.source, args.output, args.type, name=args.name, progress=line,
                                            cancel=cancel)
            finally:
                if line is not None:
                    line.close()
        print(f"wrote {result.path} ({result.out_type.upper()}, {result.n_tensors} tensors, "
              f"{human_bytes(result.size)}) in {result.seconds:.1f} s", file=sys.stderr)
        return 0

    return run_job(job)
