"""What this machine offers for running a model: RAM, GPUs and their free memory, and what the installed
llama-cpp-python build can use.

Every probe is optional: a missing library, tool or driver means "not found", never an exception. Sources, in
order of trust:

* llama.cpp itself (``ggml_backend_dev_*`` through the loaded library): the devices this build would really use,
  with the free/total memory its backends report (CUDA: ``cudaMemGetInfo``; Metal: the device's
  ``recommendedMaxWorkingSetSize``; Vulkan: heap budgets).
* NVIDIA's NVML (``pynvml`` from nvidia-ml-py), else ``nvidia-smi``: NVIDIA GPUs present in the machine, even when
  this llama-cpp-python build has no CUDA support (then we say so rather than offload).
* Apple Silicon without a Metal-enabled build: ``sysctl hw.memsize`` and macOS's default GPU working-set limit,
  which we take as 2/3 of the RAM up to 36 GiB and 3/4 above. (macOS reports ``recommendedMaxWorkingSetSize``
  at about 65-67 % of memory on 8-32 GB Macs and about 75 % on 64 GB+ Macs; llama.cpp's Metal backend uses that
  figure as the device's memory.)
"""

from __future__ import annotations

import ctypes
import logging
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

GiB = 1 << 30


@dataclass(frozen=True)
class GpuInfo:
    """One GPU: backend kind (cuda, metal, vulkan, rocm, sycl), name, memory, and where we learned about it."""

    kind: str
    name: str
    total_bytes: int
    free_bytes: int
    source: str  # "llama.cpp", "nvml", "nvidia-smi", "sysctl"
    usable: bool = True  # False when this llama-cpp-python build cannot offload to it


@dataclass
class HardwareInfo:
    """A snapshot of the machine."""

    ram_total: int = 0
    ram_available: int = 0
    cpu_isa: str = "none"
    gpus: list[GpuInfo] = field(default_factory=list)
    gpu_offload: bool = False  # llama_supports_gpu_offload() of the installed build
    system_info: str = ""  # llama_print_system_info()
    notes: list[str] = field(default_factory=list)

    @property
    def usable_gpus(self) -> list[GpuInfo]:
        """GPUs the installed llama-cpp-python build can offload to."""
        return [g for g in self.gpus if g.usable]


def detect_ram() -> tuple[int, int]:
    """(total, available) system memory in bytes; (0, 0) when psutil cannot tell."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.total), int(vm.available)
    except Exception as exc:  # noqa: BLE001 - any failure means "unknown"
        log.debug("psutil failed: %s", exc)
        return 0, 0


def detect_nvml() -> list[GpuInfo]:
    """NVIDIA GPUs via NVML; empty when the library or driver is missing."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001
        log.debug("NVML unavailable: %s", exc)
        return []
    gpus = []
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            gpus.append(GpuInfo("cuda", name, int(mem.total), int(mem.free), "nvml"))
    except Exception as exc:  # noqa: BLE001
        log.debug("NVML query failed: %s", exc)
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
    return gpus


def detect_nvidia_smi() -> list[GpuInfo]:
    """NVIDIA GPUs via ``nvidia-smi``; empty when the tool is missing or fails."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return []
    gpus = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            gpus.append(GpuInfo("cuda", parts[0], int(parts[1]) << 20, int(parts[2]) << 20, "nvidia-smi"))
    return gpus


def metal_working_set(memsize: int) -> int:
    """macOS's default GPU working-set limit for ``memsize`` bytes of unified memory (see module doc)."""
    return memsize * 2 // 3 if memsize <= 36 * GiB else memsize * 3 // 4


def detect_apple() -> list[GpuInfo]:
    """The Apple Silicon GPU with its working-set limit; empty elsewhere or when sysctl fails."""
    if platform.system() != "Darwin" or platform.machine() not in ("arm64", "aarch64"):
        return []
    try:
        out = subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True, timeout=5, check=True)
        memsize = int(out.stdout.strip())
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.debug("sysctl hw.memsize failed: %s", exc)
        return []
    limit = metal_working_set(memsize)
    return [GpuInfo("metal", "Apple Silicon GPU", limit, limit, "sysctl")]


_KINDS = (("cuda", "cuda"), ("rocm", "rocm"), ("hip", "rocm"), ("metal", "metal"), ("mtl", "metal"),
          ("vulkan", "vulkan"), ("sycl", "sycl"), ("musa", "musa"), ("cann", "cann"), ("opencl", "opencl"))


def _kind(name: str) -> str:
    low = name.lower()
    return next((k for prefix, k in _KINDS if low.startswith(prefix)), "gpu")


def detect_llama_devices() -> tuple[bool, str, list[GpuInfo]]:
    """(gpu offload supported, system info line, GPU devices) as the installed llama.cpp build sees them."""
    try:
        import llama_cpp

        offload = bool(llama_cpp.llama_supports_gpu_offload())
        info = llama_cpp.llama_print_system_info()
        info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
    except Exception as exc:  # noqa: BLE001 - no llama-cpp-python, or a broken build
        log.debug("llama_cpp unavailable: %s", exc)
        return False, "", []
    gpus: list[GpuInfo] = []
    try:
        lib = ctypes.CDLL(llama_cpp.llama_cpp._lib._name)  # own handle: our argtypes don't touch llama_cpp's
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        for fn in (lib.ggml_backend_dev_name, lib.ggml_backend_dev_description):
            fn.restype = ctypes.c_char_p
            fn.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_memory.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                                ctypes.POINTER(ctypes.c_size_t)]
        for i in range(lib.ggml_backend_dev_count()):
            dev = lib.ggml_backend_dev_get(i)
            if lib.ggml_backend_dev_type(dev) not in (1, 2):  # GPU, IGPU
                continue
            free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
            lib.ggml_backend_dev_memory(dev, ctypes.byref(free), ctypes.byref(total))
            name = (lib.ggml_backend_dev_name(dev) or b"").decode()
            desc = (lib.ggml_backend_dev_description(dev) or b"").decode() or name
            gpus.append(GpuInfo(_kind(name), desc, int(total.value), int(free.value), "llama.cpp"))
    except Exception as exc:  # noqa: BLE001
        log.debug("ggml device enumeration failed: %s", exc)
    return offload, info, gpus


def cpu_isa(system_info: str) -> str:
    """Which CPU repack rule set applies, from llama_print_system_info() (e.g. ``AVX2 = 1``)."""
    flags = {m.group(1).upper() for m in re.finditer(r"(\w+) = 1", system_info)}
    if "REPACK = 0" in system_info:
        return "none"
    if "AVX512" in flags:
        return "avx512"
    if "AVX2" in flags:
        return "avx2"
    if "NEON" in flags and "MATMUL_INT8" in flags:
        return "neon_i8mm"
    if "NEON" in flags and "DOTPROD" in flags:
        return "neon_dotprod"
    return "none"


def detect() -> HardwareInfo:
    """Probe everything; never raises."""
    hw = HardwareInfo()
    hw.ram_total, hw.ram_available = detect_ram()
    hw.gpu_offload, hw.system_info, llama_gpus = detect_llama_devices()
    hw.cpu_isa = cpu_isa(hw.system_info)
    if llama_gpus:
        hw.gpus = llama_gpus
        return hw
    hardware = detect_nvml() or detect_nvidia_smi() or detect_apple()
    if hardware and not hw.gpu_offload:
        hw.notes.append("a GPU was found but this llama-cpp-python build cannot offload to it (CPU-only build)")
        hardware = [GpuInfo(g.kind, g.name, g.total_bytes, g.free_bytes, g.source, usable=False) for g in hardware]
    hw.gpus = hardware
    if not hw.gpus:
        hw.notes.append("no GPU found")
    return hw
