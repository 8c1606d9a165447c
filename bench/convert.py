"""Benchmark: convert the SmolLM2 fixture (or any HF folder) to GGUF; report wall time and peak memory.

    python bench/convert.py [MODEL_DIR] [--type f16]

Prints wall time, peak RSS (getrusage; also the RSS before converting, i.e. the interpreter plus imports), the
model's size and its largest tensor in float32, and checks the streaming target: peak RSS < largest F32 tensor +
500 MB. There is no llama.cpp run to compare with: its converter (convert_hf_to_gguf.py) needs PyTorch.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MB = 1024 * 1024


def _rss_now() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", nargs="?", help="HF checkpoint folder (default: the SmolLM2 test fixture)")
    parser.add_argument("--type", default="f16", choices=["f32", "f16", "bf16", "q8_0"])
    args = parser.parse_args()

    from converter.convert import convert
    from converter.hf import open_checkpoint

    if args.model_dir:
        model_dir = Path(args.model_dir)
    else:
        from tests.fixtures.smollm2 import hf_checkpoint

        model_dir = hf_checkpoint()
    ck = open_checkpoint(model_dir)
    n_values = [math.prod(t.shape) for t in ck.tensors.values()]
    model_f32, largest_f32 = 4 * sum(n_values), 4 * max(n_values)
    baseline = _rss_now()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"model-{args.type}.gguf"
        start = time.perf_counter()
        result = convert(model_dir, out, args.type)
        wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    target = largest_f32 + 500 * MB
    print(f"model: {model_dir} ({len(n_values)} tensors, {sum(n_values) / 1e6:.1f} M parameters)")
    print(f"convert {args.type.upper()}: {wall:.2f} s wall, output {result.size / MB:.1f} MiB")
    print(f"model in F32: {model_f32 / MB:.1f} MiB; largest tensor in F32: {largest_f32 / MB:.1f} MiB")
    print(f"RSS before converting: {baseline / MB:.1f} MiB; peak RSS: {peak / MB:.1f} MiB "
          f"(peak - before: {(peak - baseline) / MB:.1f} MiB)")
    print(f"target peak < largest F32 tensor + 500 MiB = {target / MB:.1f} MiB: {'OK' if peak < target else 'MISSED'}")
    return 0 if peak < target else 1


if __name__ == "__main__":
    sys.exit(main())
