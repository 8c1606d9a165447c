"""The devices llama.cpp would place buffers on, with the allocation rules of their ggml backends.

Each GPU backend allocates weights with its own alignment and padding (``get_alignment``/``get_alloc_size`` of its
buffer type). Rules taken from the ggml sources llama-cpp-python 0.3.36 builds:

* CUDA / ROCm (ggml-cuda.cu): alignment 128 bytes; a quantized tensor whose row length is not a multiple of
  ``MATRIX_ROW_PADDING`` (512) gets one extra padding row-part of ``row_size(type, 512 - ne0 % 512)`` bytes.
  It has a pinned host buffer type (``CUDA_Host``): with mmap, llama.cpp then keeps CPU-side weights in plain
  mapped memory instead of the ``CPU_REPACK`` buffer (``create_tensor`` swaps the host buffer for the CPU one).
* Vulkan: alignment is the device's ``minStorageBufferOffsetAlignment`` (64-256; we use 256), no row padding,
  a ``Vulkan_Host`` host buffer type (so, like CUDA, no CPU repacking).
* Metal (Apple Silicon): unified memory; the default buffer type maps host memory, so with mmap the weights of
  offloaded layers are a mapped range of the file (``Metal_Mapped``) just like ``CPU_Mapped``; no host buffer
  type, so CPU-side weights are still repacked (ARM NEON variants).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from converter.core.quant_types import QType

#: Flash attention kernels of the GPU backends, as (head size K, head size V) pairs and K/V cache types:
#: ``ggml_cuda_get_best_fattn_kernel`` (ggml-cuda/fattn.cu; ROCm and MUSA build the same file) supports equal K/V
#: head sizes 64-256 and DeepSeek's 576/512 with K and V of one type among f32/f16/bf16/q4_0/q8_0 (other quantized
#: caches only with GGML_CUDA_FA_ALL_QUANTS, which release builds leave off). Metal's kernels cover more head sizes
#: and the legacy quantized caches. Vulkan follows CUDA's head sizes. Other backends (SYCL, ...) are taken as
#: unable: llama.cpp then falls back to attention without the fused kernel.
_FA_HEADS_CUDA = {(64, 64), (80, 80), (96, 96), (112, 112), (128, 128), (256, 256), (576, 512)}
_FA_HEADS_METAL = {(d, d) for d in (32, 40, 48, 64, 72, 80, 96, 112, 128, 192, 256)} | {(576, 512)}
_FA_TYPES_CUDA = {QType.F32, QType.F16, QType.BF16, QType.Q4_0, QType.Q8_0}
_FA_TYPES_METAL = {QType.F16, QType.BF16, QType.Q4_0, QType.Q4_1, QType.Q5_0, QType.Q5_1, QType.Q8_0}
FLASH_ATTN_RULES: dict[str, tuple[set[tuple[int, int]], set[QType], bool]] = {
    # kind: (head sizes, cache types, K and V must have one type)
    "cuda": (_FA_HEADS_CUDA, _FA_TYPES_CUDA, True),
    "rocm": (_FA_HEADS_CUDA, _FA_TYPES_CUDA, True),
    "musa": (_FA_HEADS_CUDA, _FA_TYPES_CUDA, True),
    "vulkan": (_FA_HEADS_CUDA, {QType.F16, QType.Q4_0, QType.Q8_0}, False),
    "metal": (_FA_HEADS_METAL, _FA_TYPES_METAL, False),
}


@dataclass(frozen=True)
class GpuDevice:
    """One accelerator as the estimator sees it: backend kind, memory budget, allocation rules."""

    name: str
    kind: str  # "cuda", "rocm", "vulkan", "metal", "sycl", ...
    free_bytes: int
    total_bytes: int = 0

    @property
    def alignment(self) -> int:
        """Buffer alignment of the backend's weight/KV buffer type."""
        return {"cuda": 128, "rocm": 128, "musa": 128, "metal": 32}.get(self.kind, 256)

    @property
    def row_padding(self) -> int:
        """MATRIX_ROW_PADDING of the backend (0 = none)."""
        return 512 if self.kind in ("cuda", "rocm", "musa") else 0

    @property
    def has_host_buffer(self) -> bool:
        """Whether the backend offers a pinned host buffer type (this disables CPU repacking with mmap)."""
        return self.kind in ("cuda", "rocm", "musa", "vulkan", "sycl")

    @property
    def unified_memory(self) -> bool:
        """True when device memory is system memory (Apple Silicon)."""
        return self.kind == "metal"

    def supports_flash_attn(self, head_dims: Sequence[tuple[int, int]], type_k: str, type_v: str) -> bool:
        """Whether this backend runs llama.cpp's fused attention (``GGML_OP_FLASH_ATTN_EXT``) for layers with
        these (K, V) head sizes and cache types (:data:`FLASH_ATTN_RULES`). The CPU backend runs every case."""
        rule = FLASH_ATTN_RULES.get(self.kind)
        if rule is None:
            return False
        heads, types, same_type = rule
        return (all(h in heads for h in head_dims) and QType.parse(type_k) in types and QType.parse(type_v) in types
                and (type_k.lower() == type_v.lower() or not same_type))


_ARM_REPACK = {QType.Q4_0: 4, QType.Q4_K: 8, QType.Q5_K: 8, QType.Q6_K: 8, QType.IQ4_NL: 4, QType.MXFP4: 4,
               QType.Q8_0: 4, QType.Q1_0: 4}  # the same with and without i8mm
#: Which weight types the CPU backend repacks into interleaved layouts, by instruction set (repack.cpp,
#: ggml_repack_get_optimal_repack_type), with the row-count multiple each needs (``ne[1] % n == 0``).
REPACK_RULES: dict[str, dict[QType, int]] = {
    "avx2": {QType.Q4_0: 8, QType.Q4_K: 8, QType.IQ4_NL: 8, QType.MXFP4: 8},
    "avx512": {QType.Q4_0: 8, QType.Q4_K: 8, QType.IQ4_NL: 8, QType.MXFP4: 8, QType.Q2_K: 8},
    "neon_i8mm": _ARM_REPACK,
    "neon_dotprod": _ARM_REPACK,
    "none": {},
}


@dataclass
class Machine:
    """What the estimate runs against: CPU repack capability, system RAM budget and the GPUs in use."""

    ram_free: int
    ram_total: int = 0
    cpu_isa: str = "none"  # key of REPACK_RULES
    gpus: list[GpuDevice] = field(default_factory=list)

    @property
    def repack_rules(self) -> dict[QType, int]:
        """Types this CPU repacks; empty when a GPU backend with a host buffer type is loaded (see module doc)."""
        if any(g.has_host_buffer for g in self.gpus):
            return {}
        return REPACK_RULES.get(self.cpu_isa, {})
