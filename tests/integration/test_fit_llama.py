"""The estimate against the buffer sizes llama.cpp itself reports (CPU), within 3 % or 16 MiB per component."""

from __future__ import annotations

import logging

import pytest

from app.runtime.fit import Machine, estimate
from app.runtime.fit.context import ContextParams
from app.runtime.fit.gguf_source import spec_from_gguf
from app.runtime.fit.measure import measure_buffers
from app.runtime.hardware import cpu_isa, detect_llama_devices

pytestmark = pytest.mark.integration

MiB = 1 << 20
LOG_ROUNDING = 0.005 * MiB  # llama.cpp logs MiB with two decimals


@pytest.fixture(scope="module")
def isa() -> str:
    return cpu_isa(detect_llama_devices()[1])


def check(path, ctx: ContextParams, isa: str) -> dict[str, tuple[float, int]]:
    measured = measure_buffers(path, ctx)
    cpu = estimate(spec_from_gguf(path), Machine(ram_free=0, cpu_isa=isa), ctx, 0).devices[0]
    mapped_key = "model:CPU_Mapped" if ctx.use_mmap else "model:CPU"
    est = {mapped_key: cpu.model_bytes - cpu.repack_bytes, "model:CPU_REPACK": cpu.repack_bytes,
           "KV:CPU": cpu.kv_bytes, "compute:CPU": cpu.compute_bytes, "output:CPU": cpu.output_bytes}
    pairs = {k: (measured.get(k, 0.0), v) for k, v in est.items() if k in measured or v}
    for key, (got, want) in pairs.items():
        assert abs(want - got) <= max(0.03 * got, 16 * MiB), f"{key}: llama.cpp {got / MiB:.2f} MiB, " \
                                                             f"estimate {want / MiB:.2f} MiB ({ctx})"
    return pairs


@pytest.mark.parametrize("n_ctx", [512, 4096, 16384])
@pytest.mark.parametrize("kv", ["f16", "q8_0"])
def test_smollm2_buffers(smollm2_f32_gguf, isa, n_ctx, kv):
    ctx = ContextParams(n_ctx=n_ctx, type_k=kv, type_v=kv, flash_attn=kv != "f16")
    pairs = check(smollm2_f32_gguf, ctx, isa)
    # weights and KV cache are exact up to the log's rounding
    for key in ("model:CPU_Mapped", "KV:CPU"):
        got, want = pairs[key]
        assert abs(want - got) <= LOG_ROUNDING, key


def test_repacked_weights_and_no_mmap(tmp_path, isa):
    from tests.fixtures.tiny_models import tiny_model

    path = tiny_model("llama-gguf-q4_0", tmp_path / "q4.gguf", vocab=1024)
    for mmap in (True, False):
        pairs = check(path, ContextParams(n_ctx=1024, use_mmap=mmap), isa)
        if isa in ("avx2", "avx512"):
            got, want = pairs["model:CPU_REPACK"]
            assert want > 0 and abs(want - got) <= LOG_ROUNDING


def test_gemma3_sliding_window_cache(tmp_path, isa):
    from tests.fixtures.tiny_models import tiny_model

    path = tiny_model("gemma3-gguf", tmp_path / "g3.gguf", vocab=1024, head_dim=128, sliding_window=512)
    for swa_full in (True, False):
        for fa in (False, True):
            pairs = check(path, ContextParams(n_ctx=4096, swa_full=swa_full, flash_attn=fa), isa)
            got, want = pairs["KV:CPU"]
            assert abs(want - got) <= LOG_ROUNDING


@pytest.mark.parametrize("kv", ["f16", "q8_0"])
def test_flash_attention_auto_is_resolved_as_llama_cpp_resolves_it(smollm2_gguf, caplog, kv):
    """llama.cpp decides "auto" when it creates a context and logs the outcome (a quantized V cache forces it on;
    otherwise ``resolve_fused_ops: Flash Attention enabled`` or ``... not supported, set to disabled``); the load
    policy must predict it for this machine."""
    from app.runtime.llama.context import ContextOptions
    from app.runtime.llama.model import ModelOptions, open_model
    from app.runtime.load_policy import plan_load, this_machine

    with open_model(smollm2_gguf, ModelOptions(n_gpu_layers=0)) as model:
        with caplog.at_level(logging.DEBUG, logger="llama.cpp"):  # "auto" is llama.cpp's own default too
            model.new_context(ContextOptions(n_ctx=512, n_threads=1, type_k=kv, type_v=kv, flash_attn="auto"))
    lines = [r.getMessage().rstrip() for r in caplog.records]
    forced = any(line.endswith("since it is required for quantized V cache") for line in lines)
    probed = [line for line in lines if "resolve_fused_ops: Flash Attention" in line]
    assert forced or len(probed) == 1, probed
    llama_cpp_enabled = forced or probed[0].endswith("Flash Attention enabled")
    plan = plan_load(smollm2_gguf, machine=this_machine(), n_ctx=512, n_gpu_layers=0, type_k=kv, type_v=kv,
                     flash_attn="auto")
    assert plan.params.flash_attn == ("on" if llama_cpp_enabled else "off")
    assert plan.context.flash_attn is llama_cpp_enabled
