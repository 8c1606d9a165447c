"""The estimate for mixtures of experts against the buffer sizes llama.cpp logs (CPU).

Models: the tiny Qwen3-MoE and Mixtral checkpoints of the oracle tests (tests/fixtures/oracle_models.py),
converted by us to F16 and Q4_K_M, and tiny MoE GGUFs whose expert FFN is what the compute buffer is made of
(``qwen3moe-gguf``: its ``feed_forward_length`` is a dense width the experts do not use; a Q4_0 variant whose
expert stacks are repacked; a Qwen2-MoE variant with a shared expert). Every buffer is compared, at two context
sizes: weights, repacked weights, KV cache and output to the log's rounding, compute within 1 % or 0.25 MiB (the
issue's bar is 3 % or 16 MiB). The HF folder and the headers-only (Hub) path must describe the file llama.cpp makes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.runtime.fit import Machine, estimate
from app.runtime.fit.context import ContextParams
from app.runtime.fit.gguf_source import spec_from_gguf
from app.runtime.fit.hf_source import spec_from_checkpoint_meta, spec_from_hf_folder
from app.runtime.fit.measure import measure_buffers
from app.runtime.hardware import cpu_isa, detect_llama_devices
from tests.fixtures.oracle_models import BPE_ARCHS, make_oracle_checkpoint

pytestmark = pytest.mark.integration

MiB = 1 << 20
LOG_ROUNDING = 0.005 * MiB  # llama.cpp logs MiB with two decimals
COMPUTE_REL, COMPUTE_ABS = 0.01, 0.25 * MiB
ORACLE_DIR = Path(__file__).resolve().parents[1] / "data" / "oracle"
MOE_ARCHS = ("qwen3moe", "mixtral")
CONFIGS = [ContextParams(n_ctx=512), ContextParams(n_ctx=512, flash_attn=True),
           ContextParams(n_ctx=4096), ContextParams(n_ctx=4096, flash_attn=True)]


@pytest.fixture(scope="module")
def isa() -> str:
    return cpu_isa(detect_llama_devices()[1])


@pytest.fixture(scope="module")
def moe(tmp_path_factory, smollm2_hf):
    """``moe(arch)``: the tiny checkpoint; ``moe(arch, mix)``: our conversion of it. Made on first use."""
    from converter.convert import convert

    root = tmp_path_factory.mktemp("moe")
    made: dict[tuple[str, str | None], Path] = {}

    def get(arch: str, mix: str | None = None) -> Path:
        key = (arch, mix)
        if key in made:
            return made[key]
        if mix is None:
            made[key] = make_oracle_checkpoint(arch, root / arch,
                                               smollm2_dir=smollm2_hf if arch in BPE_ARCHS else None)
        else:
            made[key] = root / f"{arch}-{mix}.gguf"
            convert(get(arch), made[key], mix)
        return made[key]

    return get


def compare(path: Path, ctx: ContextParams, isa: str,
            compute_rel: float = COMPUTE_REL) -> dict[str, tuple[float, int]]:
    """Assert every buffer of ``path`` under ``ctx`` against llama.cpp's log; return (logged, estimated) pairs."""
    measured = measure_buffers(path, ctx)
    cpu = estimate(spec_from_gguf(path), Machine(ram_free=0, cpu_isa=isa), ctx, 0).devices[0]
    est = {"model:CPU_Mapped": cpu.model_bytes - cpu.repack_bytes, "model:CPU_REPACK": cpu.repack_bytes,
           "KV:CPU": cpu.kv_bytes, "compute:CPU": cpu.compute_bytes, "output:CPU": cpu.output_bytes}
    pairs = {k: (measured.get(k, 0.0), v) for k, v in est.items() if k in measured or v}
    assert set(measured) <= set(pairs), f"buffers the estimate does not know: {set(measured) - set(pairs)}"
    for key, (got, want) in pairs.items():
        tol = max(compute_rel * got, COMPUTE_ABS) if key == "compute:CPU" else LOG_ROUNDING
        assert abs(want - got) <= tol, f"{path.name} {key}: llama.cpp {got / MiB:.2f} MiB, " \
                                       f"estimate {want / MiB:.3f} MiB ({ctx})"
    return pairs


@pytest.mark.parametrize("mix", ["f16", "q4_k_m"])
@pytest.mark.parametrize("arch", MOE_ARCHS)
def test_converted_moe_buffers(arch, mix, moe, isa):
    path = moe(arch, mix)
    for ctx in CONFIGS:
        pairs = compare(path, ctx, isa)
    if mix == "q4_k_m" and isa in ("avx2", "avx512"):
        assert pairs["model:CPU_REPACK"][0] > 0  # the Q4_K expert stacks are repacked, and counted


@pytest.mark.parametrize("variant", [
    {},  # feed_forward_length 2048, experts 8 x 512, 2 used
    {"weight_type": "Q4_0"},  # expert stacks repacked
    {"arch": "qwen2moe", "tied": False, "shared_ff": 4096},  # shared expert wider than the routed ones
    {"arch": "qwen2moe", "tied": False, "shared_ff": 512, "experts_used": 4},
], ids=["qwen3moe", "qwen3moe-q4_0", "qwen2moe-wide-shexp", "qwen2moe-shexp"])
def test_expert_ffn_dominated_compute(variant, tmp_path, isa):
    from tests.fixtures.tiny_models import tiny_model

    path = tiny_model("qwen3moe-gguf", tmp_path / "moe.gguf", **variant)
    # A shared expert's peak depends on where ggml-alloc places the routed output: within 2 % with flash
    # attention; without it fragmentation adds up to 1.6 MiB (3.5 %) at n_ctx 4096 (docs/fit.md), so those
    # runs are left out here (bench/fit_accuracy.py shows them).
    shared = bool(variant.get("shared_ff"))
    for ctx in CONFIGS:
        if ctx.flash_attn or not shared:
            compare(path, ctx, isa, compute_rel=0.02 if shared else COMPUTE_REL)


def _types(spec) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {t.name: (t.type.name, tuple(t.shape)) for t in spec.tensors}


@pytest.mark.parametrize("arch", MOE_ARCHS)
def test_hf_and_headers_describe_the_file_llama_cpp_makes(arch, moe, tmp_path):
    """BF16: types and shapes of llama.cpp's own converter (the oracle digests); Q4_K_M: those of
    ``llama_model_quantize`` on the F32 conversion (identical to llama.cpp's converter, test_archs_oracle)."""
    from tests.fixtures.llama import quantize_with_llama_cpp

    oracle = json.loads((ORACLE_DIR / f"{arch}.json").read_text(encoding="utf-8"))["bf16"]["tensors"]
    folder = moe(arch)
    bf16 = spec_from_hf_folder(folder, "BF16")
    assert _types(bf16) == {name: (t["type"], tuple(t["shape"])) for name, t in oracle.items()}

    q4 = tmp_path / "q4_k_m.gguf"
    quantize_with_llama_cpp(moe(arch, "f32"), q4, "Q4_K_M")
    theirs = spec_from_gguf(q4)
    assert _types(spec_from_hf_folder(folder, "Q4_K_M")) == _types(theirs)

    from converter.hf.checkpoint import open_checkpoint

    ck = open_checkpoint(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    headers = [(t.name, t.dtype, t.shape) for t in ck.tensors.values()]
    remote = spec_from_checkpoint_meta(config, headers, "Q4_K_M", source=f"tiny/{arch}")
    assert _types(remote) == _types(theirs)
    assert remote.expert_widths() == theirs.expert_widths() != [(0, 0)] * theirs.n_layer
    for field in ("n_layer", "n_embd", "n_vocab", "n_head", "n_head_kv", "head_dim_k", "head_dim_v",
                  "n_expert", "n_expert_used"):
        assert getattr(remote, field) == getattr(theirs, field), field
    ctx = ContextParams(n_ctx=4096, use_mmap=False)
    machine = Machine(ram_free=0, cpu_isa="avx2")
    ours, want = estimate(remote, machine, ctx, 0).devices[0], estimate(theirs, machine, ctx, 0).devices[0]
    assert (ours.model_bytes, ours.kv_bytes, ours.compute_bytes) == \
           (want.model_bytes, want.kv_bytes, want.compute_bytes)
