"""Verdicts, GPU layer search and largest-context search on synthetic machines."""

from __future__ import annotations

from dataclasses import replace

from gguf.constants import GGMLQuantizationType as T

from app.runtime.fit import (CPU_ONLY, FITS_GPU, NO_FIT, PARTIAL, ContextParams, GpuDevice, Machine, estimate,
                             plan_fit)
from app.runtime.fit.model import ModelSpec, WeightTensor

MiB = 1 << 20
GiB = 1 << 30


def model(n_layer=8, n_embd=1024, n_vocab=8192) -> ModelSpec:
    tensors, off = [], 0

    def add(name, typ, shape):
        nonlocal off
        t = WeightTensor(name, typ, shape, off)
        tensors.append(t)
        off += (t.nbytes + 31) // 32 * 32

    add("token_embd.weight", T.Q8_0, (n_embd, n_vocab))
    for i in range(n_layer):
        for part in ("attn_q", "attn_k", "attn_v", "attn_output"):
            add(f"blk.{i}.{part}.weight", T.Q8_0, (n_embd, n_embd))
        for part, shape in (("ffn_gate", (n_embd, 4 * n_embd)), ("ffn_up", (n_embd, 4 * n_embd)),
                            ("ffn_down", (4 * n_embd, n_embd))):
            add(f"blk.{i}.{part}.weight", T.Q8_0, shape)
        add(f"blk.{i}.attn_norm.weight", T.F32, (n_embd,))
    add("output_norm.weight", T.F32, (n_embd,))
    n = n_layer
    return ModelSpec(arch="llama", n_layer=n, n_embd=n_embd, n_vocab=n_vocab, n_head=[16] * n, n_head_kv=[16] * n,
                     head_dim_k=[64] * n, head_dim_v=[64] * n, n_ff=[4 * n_embd] * n, tensors=tensors,
                     n_ctx_train=16384)


CTX = ContextParams(n_ctx=2048, flash_attn=True)


def test_cpu_only_when_no_gpu():
    plan = plan_fit(model(), Machine(ram_free=8 * GiB, cpu_isa="avx2"), CTX)
    assert plan.verdict == CPU_ONLY and plan.gpu_layers == 0
    assert plan.max_ctx == 16384  # capped at the training context


def test_fits_on_big_gpu():
    m = Machine(ram_free=8 * GiB, gpus=[GpuDevice("big", "cuda", 24 * GiB)])
    plan = plan_fit(model(), m, CTX)
    assert plan.verdict == FITS_GPU and plan.gpu_layers == 9
    gpu = plan.estimate.devices[1]
    assert gpu.layers == 8 and gpu.kv_bytes > 0 and gpu.fits
    assert plan.estimate.devices[0].kv_bytes == 0


def test_partial_offload_picks_most_layers_that_fit():
    spec = model()
    full = estimate(spec, Machine(0, gpus=[GpuDevice("g", "cuda", 1 << 40)]), CTX, 9).devices[1].total_bytes
    budget = 400 * MiB + (full - 400 * MiB) * 6 // 10  # CUDA runtime + 60 % of the buffers
    m = Machine(ram_free=8 * GiB, gpus=[GpuDevice("mid", "cuda", budget)])
    plan = plan_fit(spec, m, CTX)
    assert plan.verdict == PARTIAL and 0 < plan.gpu_layers < 9
    assert estimate(spec, m, CTX, plan.gpu_layers).fits
    assert not estimate(spec, m, CTX, plan.gpu_layers + 1).fits


def test_does_not_fit_explains_and_suggests():
    spec = model()
    small = estimate(spec, Machine(0), replace(CTX, n_ctx=512), 0).total_bytes
    m = Machine(ram_free=small + 10 * MiB)
    plan = plan_fit(spec, m, replace(CTX, n_ctx=16384))
    assert plan.verdict == NO_FIT
    assert plan.max_ctx is not None and 512 <= plan.max_ctx < 16384
    assert estimate(spec, m, replace(CTX, n_ctx=plan.max_ctx), 0).fits
    assert not estimate(spec, m, replace(CTX, n_ctx=plan.max_ctx + 256), 0).fits
    assert any(str(plan.max_ctx) in s for s in plan.suggestions)
    tiny = plan_fit(spec, Machine(ram_free=1 * MiB), CTX)
    assert tiny.verdict == NO_FIT and tiny.max_ctx is None
    assert any("smaller" in s for s in tiny.suggestions)


def test_forced_gpu_layers():
    m = Machine(ram_free=8 * GiB, gpus=[GpuDevice("g", "cuda", 24 * GiB)])
    plan = plan_fit(model(), m, CTX, gpu_layers=3)
    assert plan.verdict == PARTIAL and plan.gpu_layers == 3
    assert plan.estimate.devices[1].layers == 2  # output layer + 2 repeating layers


def test_unused_gpu_costs_nothing():
    m = Machine(ram_free=8 * GiB, gpus=[GpuDevice("tiny", "cuda", 100 * MiB)])
    plan = plan_fit(model(), m, CTX)
    assert plan.verdict == CPU_ONLY
    assert plan.estimate.devices[1].total_bytes == 0


def test_unified_memory_shares_one_pool():
    spec = model()
    need = estimate(spec, Machine(0, gpus=[GpuDevice("m", "metal", 1 << 40)]), CTX, 9).total_bytes
    m = Machine(ram_free=need - 1, gpus=[GpuDevice("m", "metal", 64 * GiB)])
    est = estimate(spec, m, CTX, 9)
    assert all(d.fits for d in est.devices) and not est.fits  # each side fits, the shared pool does not
