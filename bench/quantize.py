"""Time whole-model quantization: ours (converter.quantize) against llama.cpp's llama_model_quantize.

    python bench/quantize.py [--threads 2] [--repeat 3] [--mixes Q4_K_M,Q8_0] [--models synthetic,smollm2]
                             [--layers 4]

Both run in this process on the same F32 GGUF with the same thread count, ``--repeat`` times each in
alternating order (this kind of machine drifts by 10-30% within minutes); the medians are printed, with the range
of the per-pair ratios. Ours' very first call also starts the workers' fork server (~0.2 s of imports, once per
process, as in the app); it is one of the repeats of the first mix. Models: a
synthetic Llama (n_embd 1024, n_ff 2816, heavy-tailed weights, a few layers; generated here) and the real
SmolLM2-135M F32 fixture (tests/.cache, built by the test suite). Prints per mix: wall seconds of each,
Mweights/s (all weights of the model / wall seconds), the ratio ours/llama.cpp of wall time (< 1 = ours faster),
the same ratio of CPU seconds (robust on a busy machine: ours = this process + the quantizing time of the worker
processes, llama.cpp = this process, all its threads), and the share of identical quantized blocks
(1.000000 = byte-identical tensor data).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Heavy imports live inside the functions: worker processes re-import the main module (multiprocessing's
# fork server does), and the `kompakt` command's own main module is as light, so the bench pays what users pay.

DEFAULT_MIXES = "Q4_K_M,Q5_K_M,Q6_K,Q3_K_M,Q2_K,Q8_0,Q4_0"


def identical_blocks(ours: Path, ref: Path) -> float:
    """Share of quantized blocks (over all tensors) whose bytes are equal in both files."""
    import numpy as np
    from gguf import GGML_QUANT_SIZES

    from converter.gguf_in import read_gguf

    a, b = read_gguf(ours), read_gguf(ref)
    da, db = np.memmap(ours, dtype=np.uint8, mode="r"), np.memmap(ref, dtype=np.uint8, mode="r")
    same = total = 0
    for ta, tb in zip(a.tensors, b.tensors):
        if ta.name != tb.name or ta.qtype != tb.qtype:
            total += max(1, ta.nbytes // GGML_QUANT_SIZES[ta.qtype][1])
            continue
        size = GGML_QUANT_SIZES[ta.qtype][1]
        xa = np.asarray(da[ta.offset:ta.offset + ta.nbytes]).reshape(-1, size)
        xb = np.asarray(db[tb.offset:tb.offset + tb.nbytes]).reshape(-1, size)
        same += int(np.all(xa == xb, axis=1).sum())
        total += xa.shape[0]
    return same / max(1, total)


def n_weights(path: Path) -> int:
    """All weights of the model in ``path``."""
    import numpy as np

    from converter.gguf_in import read_gguf

    return sum(int(np.prod(t.ne)) for t in read_gguf(path).tensors)


def bench(label: str, src: Path, mixes: list[str], threads: int, repeat: int, workdir: Path) -> None:
    """Quantize ``src`` to each mix with both, ``repeat`` times in alternating order; print one line per mix."""
    import statistics

    from converter.quantize import quantize_gguf
    from tests.fixtures.llama import quantize_with_llama_cpp

    mw = n_weights(src) / 1e6
    print(f"\n{label}: {src.name}, {mw:.1f} Mweights, {threads} thread(s), median of {repeat}")
    print(f"{'mix':7s} {'ours s':>7s} {'llama s':>7s} {'ours Mw/s':>9s} {'llama Mw/s':>10s} {'wall o/l':>8s} "
          f"{'o/l range':>11s} {'ours cpu':>8s} {'llama cpu':>9s} {'cpu o/l':>7s} {'identical':>9s}")
    for mix in mixes:
        ours, ref = workdir / f"ours-{mix}.gguf", workdir / f"llama-{mix}.gguf"
        runs: dict[str, list[tuple[float, float]]] = {"ours": [], "llama": []}
        for r in range(repeat):
            for who in ("ours", "llama") if r % 2 == 0 else ("llama", "ours"):  # the machine drifts: alternate
                stats: dict = {}
                t0, c0 = time.perf_counter(), time.process_time()
                if who == "ours":
                    quantize_gguf(src, ours, mix, threads=threads, stats=stats)
                else:
                    quantize_with_llama_cpp(src, ref, mix, threads=threads)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0 + stats.get("worker_cpu_s", 0.0)
                runs[who].append((wall, cpu))
        same = identical_blocks(ours, ref)
        t_ours, t_ref = (statistics.median(w for w, _ in runs[k]) for k in ("ours", "llama"))
        c_ours, c_ref = (statistics.median(c for _, c in runs[k]) for k in ("ours", "llama"))
        ratios = [o[0] / r[0] for o, r in zip(runs["ours"], runs["llama"])]
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"{mix:7s} {t_ours:7.2f} {t_ref:7.2f} {mw / t_ours:9.2f} {mw / t_ref:10.2f} {t_ours / t_ref:8.2f} "
              f"{spread:>11s} {c_ours:8.2f} {c_ref:9.2f} {c_ours / c_ref:7.2f} {same:9.6f}", flush=True)
        ours.unlink()
        ref.unlink()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, in alternating order (medians printed)")
    ap.add_argument("--mixes", default=DEFAULT_MIXES)
    ap.add_argument("--models", default="synthetic,smollm2")
    ap.add_argument("--layers", type=int, default=4, help="layers of the synthetic model")
    args = ap.parse_args(argv)
    mixes = [m.strip().upper() for m in args.mixes.split(",") if m.strip()]
    with tempfile.TemporaryDirectory(prefix="kompakt-bench-") as tmp:
        workdir = Path(tmp)
        for model in args.models.split(","):
            if model == "synthetic":
                from tests.fixtures.tiny_models import tiny_model

                src = tiny_model("llama-heavy", workdir / "synthetic-F32.gguf", layers=args.layers, hidden=1024,
                                 ff=2816, heads=16, kv_heads=4, vocab=8192)
                bench("synthetic Llama", src, mixes, args.threads, args.repeat, workdir)
            elif model == "smollm2":
                from tests.fixtures.smollm2 import f32_gguf

                bench("SmolLM2-135M", f32_gguf(), mixes, args.threads, args.repeat, workdir)
            else:
                ap.error(f"unknown model {model!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
