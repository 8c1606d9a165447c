"""The load policy: one function turns (model, the user's settings, this machine) into load parameters and a fit
plan; chat loading goes through it, shrinks a preferred context to fit and refuses what cannot fit."""

from __future__ import annotations

import dataclasses

import pytest

from app.runtime import load_policy
from app.runtime.chat.settings import LoadSettings, SamplingSettings
from app.runtime.errors import InsufficientMemoryError, SettingsError
from app.runtime.fit import CPU_ONLY, FITS_GPU, NO_FIT, PARTIAL, GpuDevice, Machine, load_spec, plan_fit
from app.runtime.settings import GPU_LAYERS_ALL, GPU_LAYERS_AUTO, Settings, default_threads

GiB = 1 << 30
MiB = 1 << 20


def cpu(ram: int) -> Machine:
    return Machine(ram_free=ram, ram_total=ram, cpu_isa="avx2")


def with_gpu(vram: int, kind: str = "cuda") -> Machine:
    return Machine(ram_free=8 * GiB, ram_total=16 * GiB, cpu_isa="avx2", gpus=[GpuDevice("GPU0", kind, vram, vram)])


@pytest.fixture
def machine(monkeypatch):
    """Point the policy's view of this computer at a chosen Machine."""
    def use(m: Machine) -> None:
        monkeypatch.setattr(load_policy, "this_machine", lambda **_: m)
    return use


def test_plenty_of_memory_keeps_the_settings_context(machine, smollm2_gguf):
    machine(cpu(8 * GiB))
    plan = load_policy.plan_load(smollm2_gguf)
    p = plan.params
    assert p.n_ctx == Settings().context_length == 4096  # SmolLM2 was trained on 8192 tokens
    assert (p.n_gpu_layers, plan.verdict, p.flash_attn) == (0, CPU_ONLY, "on")  # the CPU runs flash attention
    assert plan.context.flash_attn and plan.context.n_ctx == 4096
    plan.ensure_fits()


def test_a_context_from_the_settings_is_capped_at_the_trained_length(machine, smollm2_gguf):
    machine(cpu(8 * GiB))
    plan = load_policy.plan_load(smollm2_gguf, Settings(context_length=65536))
    assert plan.params.n_ctx == 8192 and "trained" in plan.notes[0]
    assert load_policy.plan_load(smollm2_gguf, n_ctx=65536).params.n_ctx == 65536  # explicit: kept


def test_tight_memory_lowers_a_preferred_context_but_keeps_an_explicit_one(machine, smollm2_gguf):
    machine(cpu(560 * MiB))
    plan = load_policy.plan_load(smollm2_gguf)
    assert 256 <= plan.params.n_ctx < 4096 and plan.params.n_ctx % 256 == 0
    assert plan.verdict == CPU_ONLY and "lowered" in plan.notes[-1]
    plan.ensure_fits()
    bigger = load_policy.plan_load(smollm2_gguf, n_ctx=4096)
    assert bigger.params.n_ctx == 4096 and bigger.verdict == NO_FIT
    with pytest.raises(InsufficientMemoryError) as info:
        bigger.ensure_fits()
    assert f"a context of {plan.params.n_ctx} tokens fits" in str(info.value)


def test_impossible_load_is_refused_before_llama_cpp_sees_it(monkeypatch, machine, smollm2_gguf):
    machine(cpu(100 * MiB))
    from app.runtime.chat import session as session_mod

    def _no_load(*a, **k):
        raise AssertionError("llama.cpp must not be asked to load a model that cannot fit")

    monkeypatch.setattr(session_mod, "LlamaBackend", _no_load)
    with pytest.raises(InsufficientMemoryError) as info:
        session_mod.ChatSession(smollm2_gguf, LoadSettings(n_ctx=512, n_threads=1))
    err = info.value
    assert err.needed > err.available == 100 * MiB
    text = str(err)
    assert "needs about" in text and "GiB" in text and "\n" not in text


class _Reached(Exception):
    pass


@pytest.fixture
def backend_spy(monkeypatch):
    """Replace llama.cpp loading in ChatSession by a spy that records the settings it would get, then stops."""
    from app.runtime.chat import session as session_mod

    seen: dict = {}

    def spy(path, settings, **_):
        seen["path"], seen["settings"] = path, settings
        raise _Reached()

    monkeypatch.setattr(session_mod, "LlamaBackend", spy)
    return session_mod.ChatSession, seen


def test_estimator_failure_never_blocks_loading(monkeypatch, backend_spy, tmp_path, smollm2_gguf):
    def broken(**_):
        raise RuntimeError("no hardware info")

    monkeypatch.setattr(load_policy, "this_machine", broken)
    session, seen = backend_spy
    with pytest.raises(RuntimeError, match="no hardware info"):
        load_policy.plan_load(smollm2_gguf)  # a strict caller (kompakt fit) sees the failure ...
    for model in (smollm2_gguf, tmp_path / "unknown.gguf"):  # ... chat loading goes ahead unchecked
        if model.suffix and not model.exists():
            model.write_bytes(b"GGUF")  # unreadable for the estimator; llama.cpp gets to say why
        with pytest.raises(_Reached):
            session(model, LoadSettings(n_ctx=512, n_threads=1))
        s = seen["settings"]
        assert seen["path"] == model and (s.n_ctx, s.n_gpu_layers, s.flash_attn) == (512, 0, "auto")


def test_a_failing_estimate_never_blocks_loading(monkeypatch, machine, backend_spy, smollm2_gguf):
    machine(cpu(8 * GiB))

    def broken(*_a, **_k):
        raise ValueError("the estimator does not model this")

    monkeypatch.setattr(load_policy, "plan_fit", broken)
    session, seen = backend_spy
    with pytest.raises(_Reached):
        session(smollm2_gguf, LoadSettings(n_ctx=512, n_threads=1, n_gpu_layers=-1))
    assert (seen["settings"].n_ctx, seen["settings"].n_gpu_layers) == (512, 0)


def test_chat_loads_exactly_what_the_policy_planned(machine, backend_spy, smollm2_gguf):
    machine(with_gpu(24 * GiB))
    session, seen = backend_spy
    with pytest.raises(_Reached):
        session(smollm2_gguf)  # no settings: the policy's defaults
    plan = load_policy.plan_load(smollm2_gguf)
    assert seen["settings"] == plan.params
    assert plan.params.n_gpu_layers == 31 and plan.verdict == FITS_GPU and plan.params.flash_attn == "on"


def test_minus_one_means_auto_everywhere(machine, smollm2_gguf):
    assert Settings().gpu_layers == LoadSettings().n_gpu_layers == GPU_LAYERS_AUTO == -1
    spec = load_spec(smollm2_gguf)
    for m in (with_gpu(24 * GiB), with_gpu(600 * MiB), cpu(8 * GiB)):
        machine(m)
        plan = load_policy.plan_load(smollm2_gguf, n_gpu_layers=-1)
        best = plan_fit(spec, m, plan.context, None)  # the estimator's own search: as many as fit
        assert plan.params.n_gpu_layers == best.gpu_layers == plan.fit.gpu_layers
        assert load_policy.plan_load(smollm2_gguf, Settings(gpu_layers=-1)).params == plan.params
    machine(with_gpu(600 * MiB))
    assert 0 < load_policy.plan_load(smollm2_gguf).params.n_gpu_layers < 31
    assert load_policy.plan_load(smollm2_gguf).verdict == PARTIAL
    machine(with_gpu(24 * GiB))
    assert load_policy.plan_load(smollm2_gguf, n_gpu_layers=GPU_LAYERS_ALL).params.n_gpu_layers == 31  # all
    assert load_policy.plan_load(smollm2_gguf, n_gpu_layers=5).params.n_gpu_layers == 5


def test_flash_attention_auto_follows_the_device(smollm2_gguf):
    spec = load_spec(smollm2_gguf)  # head size 64
    n = spec.n_layer
    odd = dataclasses.replace(spec, head_dim_k=[32] * n, head_dim_v=[32] * n)  # no CUDA kernel for 32
    plan = load_policy.plan_load(spec=odd, machine=with_gpu(24 * GiB))
    assert plan.params.n_gpu_layers == n + 1 and plan.params.flash_attn == "off" and not plan.context.flash_attn
    assert load_policy.plan_load(spec=odd, machine=with_gpu(24 * GiB), n_gpu_layers=0).params.flash_attn == "on"
    assert load_policy.plan_load(spec=odd, machine=with_gpu(24 * GiB, "sycl")).params.flash_attn == "off"
    assert load_policy.plan_load(spec=spec, machine=with_gpu(24 * GiB)).params.flash_attn == "on"
    assert load_policy.plan_load(spec=odd, machine=with_gpu(24 * GiB), flash_attn="on").params.flash_attn == "on"
    forced = load_policy.plan_load(spec=odd, machine=with_gpu(24 * GiB), type_k="q8_0", type_v="q8_0")
    assert forced.params.flash_attn == "on"  # llama.cpp forces it on for a quantized V cache
    with pytest.raises(SettingsError, match="needs flash attention"):
        load_policy.plan_load(spec=spec, machine=with_gpu(24 * GiB), type_v="q8_0", flash_attn="off")


def test_one_thread_default_and_one_set_of_limits():
    assert Settings().threads == LoadSettings().n_threads == default_threads() >= 1
    assert SamplingSettings().to_dict() == dataclasses.asdict(SamplingSettings.from_prefs(Settings()))
    for bad in ({"temperature": 2.5}, {"top_p": 0.0}, {"max_tokens": 0}):
        with pytest.raises(SettingsError):
            Settings(**bad).validate()
        with pytest.raises(SettingsError):
            SamplingSettings(**bad).validate()
    for good in ({"temperature": 2.0}, {"top_p": 1.0}):
        Settings(**good).validate()
        SamplingSettings(**good).validate()
    with pytest.raises(SettingsError):
        Settings(context_length=255).validate()
    with pytest.raises(SettingsError):
        LoadSettings(n_ctx=255).validate()
    with pytest.raises(SettingsError, match="GPU layers"):
        LoadSettings(n_gpu_layers=-2).validate()
    with pytest.raises(TypeError):
        load_policy.plan_load("m.gguf", n_layers=3)  # a misspelt setting is not silently ignored
