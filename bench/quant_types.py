"""Time our block quantizers against llama.cpp's ``ggml_quantize_chunk`` (single thread, same input, same run).

    python bench/quant_types.py [--rows 1024] [--cols 4096] [--types Q4_K,Q6_K] [--repeat 1]

CPU time of the calling thread is measured (the machine may be shared). Prints, per type and with/without an importance matrix: Mweights/s of ours and of llama.cpp, the ratio
ours/llama.cpp (1.0 = as fast), and the share of identical bytes (must be 1.000000).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from gguf import GGMLQuantizationType  # noqa: E402

from converter import quants  # noqa: E402
from tests.fixtures.ggml_oracle import ggml_quantize  # noqa: E402

DEFAULT_TYPES = "Q4_K,Q5_K,Q6_K,Q3_K,Q2_K,Q8_0,Q4_0,Q4_1,Q5_0,Q5_1"


def _best_time(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.thread_time()
        out = fn()
        best = min(best, time.thread_time() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--types", default=DEFAULT_TYPES)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    x = (rng.standard_t(4, size=(args.rows, args.cols)) * 0.02).astype(np.float32)
    acts = rng.standard_normal((64, args.cols)).astype(np.float32) * rng.gamma(1.0, 1.0, args.cols).astype(np.float32)
    imatrix = np.mean(acts * acts, axis=0).astype(np.float32)
    mw = x.size / 1e6
    print(f"{args.rows}x{args.cols} student-t(4) float32, {mw:.2f} Mweights, single thread")
    print(f"{'type':6s} {'imatrix':7s} {'ours Mw/s':>10s} {'llama Mw/s':>10s} {'ours/llama':>10s} {'identical':>10s}")
    for name in args.types.split(","):
        qtype = GGMLQuantizationType[name]
        for imp in (None, imatrix):
            t_ours, ours = _best_time(lambda: quants.quantize(x, qtype, imatrix=imp), args.repeat)
            t_ref, ref = _best_time(lambda: ggml_quantize(x, qtype, imp), args.repeat)
            same = float(np.mean(ours == ref))
            print(f"{name:6s} {'yes' if imp is not None else 'no':7s} {mw / t_ours:10.2f} {mw / t_ref:10.2f} "
                  f"{t_ref / t_ours:10.3f} {same:10.6f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
