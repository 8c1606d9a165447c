"""Hardware detection: every probe that fails (missing library, tool, driver) means "not found", never a crash."""

from __future__ import annotations

import builtins
import subprocess
import sys
import types

import pytest

from app.runtime import hardware
from app.runtime.hardware import GiB, cpu_isa, metal_working_set


@pytest.fixture
def no_imports(monkeypatch):
    """Make ``import <name>`` fail for the given module names."""
    real_import = builtins.__import__
    blocked: set[str] = set()

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in blocked:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    return blocked


def test_ram_from_psutil_and_failure(monkeypatch, no_imports):
    total, avail = hardware.detect_ram()
    assert total > 0 and 0 < avail <= total
    no_imports.add("psutil")
    monkeypatch.delitem(sys.modules, "psutil", raising=False)
    assert hardware.detect_ram() == (0, 0)


def test_nvml_missing_or_failing(monkeypatch, no_imports):
    broken = types.ModuleType("pynvml")

    def fail():
        raise RuntimeError("NVML Shared Library Not Found")

    broken.nvmlInit = fail
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    assert hardware.detect_nvml() == []
    monkeypatch.delitem(sys.modules, "pynvml")
    no_imports.add("pynvml")
    assert hardware.detect_nvml() == []


def test_nvml_reports_gpus(monkeypatch):
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None
    fake.nvmlShutdown = lambda: None
    fake.nvmlDeviceGetCount = lambda: 1
    fake.nvmlDeviceGetHandleByIndex = lambda i: i
    fake.nvmlDeviceGetName = lambda h: b"NVIDIA Test 24GB"
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=24 * GiB, free=20 * GiB)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    (gpu,) = hardware.detect_nvml()
    assert (gpu.kind, gpu.name, gpu.total_bytes, gpu.free_bytes) == ("cuda", "NVIDIA Test 24GB", 24 * GiB, 20 * GiB)


def test_nvidia_smi(monkeypatch):
    monkeypatch.setattr(hardware.shutil, "which", lambda name: None)
    assert hardware.detect_nvidia_smi() == []
    monkeypatch.setattr(hardware.shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    def ok(*a, **k):
        return subprocess.CompletedProcess(a, 0, stdout="NVIDIA A, 8192, 6000\ngarbage line\n", stderr="")

    monkeypatch.setattr(hardware.subprocess, "run", ok)
    (gpu,) = hardware.detect_nvidia_smi()
    assert gpu.total_bytes == 8192 << 20 and gpu.free_bytes == 6000 << 20 and gpu.source == "nvidia-smi"

    def broken(*a, **k):
        raise subprocess.CalledProcessError(9, "nvidia-smi", stderr="driver mismatch")

    monkeypatch.setattr(hardware.subprocess, "run", broken)
    assert hardware.detect_nvidia_smi() == []


def test_apple_working_set(monkeypatch):
    assert metal_working_set(16 * GiB) == 16 * GiB * 2 // 3
    assert metal_working_set(64 * GiB) == 48 * GiB
    monkeypatch.setattr(hardware.platform, "system", lambda: "Linux")
    assert hardware.detect_apple() == []
    monkeypatch.setattr(hardware.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(hardware.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(hardware.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=f"{32 * GiB}\n", stderr=""))
    (gpu,) = hardware.detect_apple()
    assert gpu.kind == "metal" and gpu.total_bytes == 32 * GiB * 2 // 3

    def missing(*a, **k):
        raise FileNotFoundError("sysctl")

    monkeypatch.setattr(hardware.subprocess, "run", missing)
    assert hardware.detect_apple() == []


def test_cpu_isa_from_system_info():
    assert cpu_isa("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | REPACK = 1 |") == "avx2"
    assert cpu_isa("CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 |") == "avx512"
    assert cpu_isa("CPU : NEON = 1 | DOTPROD = 1 | MATMUL_INT8 = 1 |") == "neon_i8mm"
    assert cpu_isa("CPU : NEON = 1 | DOTPROD = 1 |") == "neon_dotprod"
    assert cpu_isa("CPU : AVX2 = 1 | REPACK = 0 |") == "none"
    assert cpu_isa("") == "none"


def test_detect_with_everything_missing(monkeypatch, no_imports):
    for name in ("psutil", "pynvml", "llama_cpp"):
        no_imports.add(name)
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(hardware.shutil, "which", lambda name: None)
    monkeypatch.setattr(hardware.platform, "system", lambda: "Linux")
    hw = hardware.detect()
    assert hw.gpus == [] and hw.ram_total == 0 and not hw.gpu_offload and hw.cpu_isa == "none"
    assert "no GPU found" in hw.notes


def test_gpu_without_offload_build_is_not_usable(monkeypatch):
    monkeypatch.setattr(hardware, "detect_llama_devices", lambda: (False, "CPU : AVX2 = 1 |", []))
    monkeypatch.setattr(hardware, "detect_nvml", lambda: [hardware.GpuInfo("cuda", "X", 8 * GiB, 8 * GiB, "nvml")])
    hw = hardware.detect()
    assert len(hw.gpus) == 1 and hw.usable_gpus == []
    assert any("CPU-only build" in n for n in hw.notes)


def test_real_detection_does_not_crash():
    hw = hardware.detect()
    assert hw.ram_total > 0
    assert isinstance(hw.system_info, str)
