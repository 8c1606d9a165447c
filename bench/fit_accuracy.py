"""How close is the memory-fit estimate to what llama.cpp really allocates?

Loads models in llama-cpp-python (CPU) across contexts, K/V cache types, flash attention on/off and (for the
Gemma-3-style model) full or windowed sliding-window caches; reads the buffer sizes llama.cpp logs and compares
each component with ``app.runtime.fit``. Prints one row per configuration and component and the worst cases.

Target: every component within 3 % or 16 MiB of llama.cpp's figure.

    python bench/fit_accuracy.py            # full grid (a few minutes on 2 cores)
    python bench/fit_accuracy.py --quick    # a handful of configurations
    python bench/fit_accuracy.py --moe      # the mixtures of experts only (full grid)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.runtime.fit import Machine, estimate  # noqa: E402
from app.runtime.fit.context import ContextParams  # noqa: E402
from app.runtime.fit.gguf_source import spec_from_gguf  # noqa: E402
from app.runtime.fit.measure import measure_buffers  # noqa: E402
from app.runtime.hardware import cpu_isa, detect_llama_devices  # noqa: E402

MiB = 1 << 20
REL_TOL, ABS_TOL = 0.03, 16 * MiB
COMPONENTS = ("model:CPU_Mapped", "model:CPU", "model:CPU_REPACK", "KV:CPU", "compute:CPU", "output:CPU")


@dataclass
class Row:
    """One compared component of one configuration."""

    model: str
    config: str
    component: str
    measured: float
    estimated: float

    @property
    def error(self) -> float:
        return self.estimated - self.measured

    @property
    def rel(self) -> float:
        return self.error / self.measured if self.measured else 0.0

    @property
    def ok(self) -> bool:
        return abs(self.error) <= max(REL_TOL * self.measured, ABS_TOL)


def estimated_components(path: Path, ctx: ContextParams, isa: str) -> dict[str, float]:
    """The estimator's figures under the same keys as measure_buffers."""
    est = estimate(spec_from_gguf(path), Machine(ram_free=0, cpu_isa=isa), ctx, 0)
    cpu = est.devices[0]
    weights = "model:CPU_Mapped" if ctx.use_mmap else "model:CPU"
    return {weights: cpu.model_bytes - cpu.repack_bytes, "model:CPU_REPACK": cpu.repack_bytes,
            "KV:CPU": cpu.kv_bytes, "compute:CPU": cpu.compute_bytes, "output:CPU": cpu.output_bytes}


def build_models(workdir: Path, quick: bool) -> dict[str, Path]:
    """SmolLM2 F32 (fixture) + its Q4_K_M/Q8_0 quantized by llama.cpp, and tiny llama / Gemma-3 models."""
    from tests.fixtures.llama import quantize_with_llama_cpp
    from tests.fixtures.smollm2 import f32_gguf
    from tests.fixtures.tiny_models import tiny_model

    f32 = f32_gguf()
    models = {"smollm2-f32": f32}
    for q in ("Q4_K_M",) if quick else ("Q4_K_M", "Q8_0"):
        dst = workdir / f"smollm2-{q}.gguf"
        quantize_with_llama_cpp(f32, dst, q, threads=2)
        models[f"smollm2-{q}"] = dst
    models["tiny-llama-wideffn"] = tiny_model("llama-gguf", workdir / "tiny-llama.gguf", ff=8192)
    models["tiny-llama-q4_0"] = tiny_model("llama-gguf-q4_0", workdir / "tiny-q4_0.gguf", vocab=1024, hidden=512,
                                           ff=1536)
    models["tiny-gemma3-iswa"] = tiny_model("gemma3-gguf", workdir / "tiny-gemma3.gguf", vocab=1024, head_dim=128,
                                            sliding_window=512)
    return models | moe_models(workdir)


def moe_models(workdir: Path) -> dict[str, Path]:
    """Mixtures of experts: the oracle tests' tiny Qwen3-MoE and Mixtral converted by us (F16, Q4_K_M), and
    tiny GGUFs whose compute buffer is the experts' FFN (routed only, repacked Q4_0, a Qwen2-MoE shared expert)."""
    from converter.convert import convert
    from tests.fixtures.oracle_models import BPE_ARCHS, make_oracle_checkpoint
    from tests.fixtures.smollm2 import hf_checkpoint
    from tests.fixtures.tiny_models import tiny_model

    models = {}
    for arch in ("qwen3moe", "mixtral"):
        smollm2 = hf_checkpoint() if arch in BPE_ARCHS else None
        folder = make_oracle_checkpoint(arch, workdir / arch, smollm2_dir=smollm2)
        for mix in ("f16", "q4_k_m"):
            models[f"{arch}-{mix}"] = out = workdir / f"{arch}-{mix}.gguf"
            convert(folder, out, mix)
    models["tiny-qwen3moe-ffn"] = tiny_model("qwen3moe-gguf", workdir / "moe.gguf")
    models["tiny-qwen3moe-q4_0"] = tiny_model("qwen3moe-gguf", workdir / "moe-q4_0.gguf", weight_type="Q4_0")
    models["tiny-qwen2moe-shexp"] = tiny_model("qwen3moe-gguf", workdir / "moe-shexp.gguf", arch="qwen2moe",
                                               tied=False, shared_ff=4096)
    return models


def configs(name: str, quick: bool) -> list[ContextParams]:
    """The grid of context settings for one model."""
    ctxs = (512, 8192) if quick else (512, 2048, 8192, 32768)
    kvs = [(False, "f16", "f16"), (True, "f16", "f16"), (True, "q8_0", "q8_0")]
    if not quick:
        kvs += [(True, "q4_0", "q4_0"), (False, "q8_0", "f16")]
    swa = (True, False) if "gemma3" in name else (True,)
    grid = [ContextParams(n_ctx=c, flash_attn=fa, type_k=k, type_v=v, swa_full=s)
            for c in ctxs for fa, k, v in kvs for s in swa]
    return grid + [ContextParams(n_ctx=ctxs[-1], use_mmap=False)]


def describe(ctx: ContextParams) -> str:
    """Short label of a configuration."""
    label = f"ctx={ctx.n_ctx} fa={'on' if ctx.flash_attn else 'off'} kv={ctx.type_k}/{ctx.type_v}"
    return label + ("" if ctx.swa_full else " swa=window") + ("" if ctx.use_mmap else " no-mmap")


def main(argv: list[str] | None = None) -> int:
    """Run the grid and print the table; exit 1 if any component misses the target."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few configurations only")
    ap.add_argument("--moe", action="store_true", help="the mixtures of experts only")
    args = ap.parse_args(argv)
    _, info, _ = detect_llama_devices()
    isa = cpu_isa(info)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="kompakt-fit-") as tmp:
        models = moe_models(Path(tmp)) if args.moe else build_models(Path(tmp), args.quick)
        for name, path in models.items():
            for ctx in configs(name, args.quick):
                measured = measure_buffers(path, ctx)
                est = estimated_components(path, ctx, isa)
                for comp in COMPONENTS:
                    if comp in measured or est.get(comp):
                        rows.append(Row(name, describe(ctx), comp, measured.get(comp, 0.0), est.get(comp, 0.0)))
    print(f"CPU repack rules: {isa}")
    print(f"{'model':20} {'configuration':38} {'component':17} {'llama.cpp':>10} {'estimate':>10} "
          f"{'error':>9} {'rel':>7}")
    for r in rows:
        print(f"{r.model:20} {r.config:38} {r.component:17} {r.measured / MiB:10.2f} {r.estimated / MiB:10.2f} "
              f"{r.error / MiB:+9.2f} {100 * r.rel:+6.2f}%{'' if r.ok else '  MISS'}")
    print("\nWorst case per component (MiB; relative error where the buffer is over 1 MiB):")
    for comp in COMPONENTS:
        sel = [r for r in rows if r.component == comp]
        if not sel:
            continue
        worst_abs = max(sel, key=lambda r: abs(r.error))
        big = [r for r in sel if r.measured > MiB]
        worst_rel = max(big, key=lambda r: abs(r.rel)) if big else worst_abs
        print(f"  {comp:17} abs {worst_abs.error / MiB:+8.2f} MiB ({worst_abs.model}, {worst_abs.config})   "
              f"rel {100 * worst_rel.rel:+6.2f}% ({worst_rel.model}, {worst_rel.config})")
    misses = [r for r in rows if not r.ok]
    print(f"\n{len(rows)} comparisons, {len(misses)} outside 3 % / 16 MiB")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
