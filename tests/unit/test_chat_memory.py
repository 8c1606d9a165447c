"""Chat loading asks the memory-fit estimator first: defaults shrink to fit, impossible loads are refused."""

import pytest

import app.runtime.hardware as hardware
from app.runtime.chat import memory
from app.runtime.chat.settings import LoadSettings
from app.runtime.errors import InsufficientMemoryError


def _machine_with_ram(monkeypatch, ram: int) -> None:
    monkeypatch.setattr(hardware, "detect",
                        lambda: hardware.HardwareInfo(ram_total=ram, ram_available=ram, cpu_isa="avx2"))


def test_plenty_of_memory_keeps_the_default_context(monkeypatch, smollm2_gguf):
    _machine_with_ram(monkeypatch, 8 << 30)
    settings = LoadSettings.defaults_for(smollm2_gguf)
    assert settings.n_ctx == memory.DEFAULT_CTX  # SmolLM2 was trained on 8192 tokens; we cap at 4096
    assert settings.n_gpu_layers == 0  # no GPU
    memory.ensure_fits(smollm2_gguf, settings)


def test_tight_memory_lowers_the_context_until_it_fits(monkeypatch, smollm2_gguf):
    _machine_with_ram(monkeypatch, 560 << 20)
    settings = LoadSettings.defaults_for(smollm2_gguf)
    assert 256 <= settings.n_ctx < memory.DEFAULT_CTX
    memory.ensure_fits(smollm2_gguf, settings)  # the chosen context fits
    bigger = LoadSettings.defaults_for(smollm2_gguf, n_ctx=memory.DEFAULT_CTX)
    assert bigger.n_ctx == memory.DEFAULT_CTX  # a context the user asked for is kept ...
    with pytest.raises(InsufficientMemoryError):  # ... and refused if it cannot fit
        memory.ensure_fits(smollm2_gguf, bigger)


def test_impossible_load_is_refused_before_llama_cpp_sees_it(monkeypatch, smollm2_gguf):
    _machine_with_ram(monkeypatch, 100 << 20)
    from app.runtime.chat import session as session_mod

    def _no_load(*a, **k):
        raise AssertionError("llama.cpp must not be asked to load a model that cannot fit")

    monkeypatch.setattr(session_mod, "LlamaBackend", _no_load)
    settings = LoadSettings(n_ctx=512, n_threads=1)
    with pytest.raises(InsufficientMemoryError) as info:
        session_mod.ChatSession(smollm2_gguf, settings)
    err = info.value
    assert err.needed > err.available == 100 << 20
    text = str(err)
    assert "needs about" in text and "GiB" in text and "\n" not in text


def test_estimator_failure_never_blocks_loading(monkeypatch, tmp_path):
    def broken():
        raise RuntimeError("no hardware info")

    monkeypatch.setattr(hardware, "detect", broken)
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF")
    settings = LoadSettings(n_ctx=512, n_threads=1)
    memory.ensure_fits(fake, settings)  # advisory check: logs and returns
