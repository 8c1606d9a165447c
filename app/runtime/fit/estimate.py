"""Memory use of one configuration (model, machine, context, GPU layers), per device and in total."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .compute import compute_buffers, output_bytes
from .context import ContextParams
from .devices import Machine
from .kv_cache import layer_cells, layer_kv_bytes
from .model import ModelSpec
from .weights import layer_devices, weight_buffers

MiB = 1 << 20
#: Resident memory of the Python process with llama-cpp-python, NumPy and ggml loaded, before any model buffer.
CPU_RUNTIME_BYTES = 200 * MiB
#: Memory a GPU backend takes before any buffer: CUDA/ROCm context, cuBLAS/hipBLAS workspaces, Vulkan pipelines.
GPU_RUNTIME_BYTES = {"cuda": 400 * MiB, "rocm": 400 * MiB, "musa": 400 * MiB, "vulkan": 256 * MiB, "metal": 0}
#: Fraction added to every device's buffers for allocator slack and estimate error.
SAFETY_FRACTION = 0.05


@dataclass
class DeviceUsage:
    """Bytes one device needs, by component, against what it has free."""

    name: str
    kind: str
    model_bytes: int = 0
    repack_bytes: int = 0
    kv_bytes: int = 0
    compute_bytes: int = 0
    output_bytes: int = 0
    overhead_bytes: int = 0
    budget_bytes: int | None = None
    layers: int = 0

    @property
    def buffers_bytes(self) -> int:
        """llama.cpp's own buffers (weights incl. repacked copies, KV, compute, output)."""
        return self.model_bytes + self.kv_bytes + self.compute_bytes + self.output_bytes

    @property
    def total_bytes(self) -> int:
        """Buffers plus runtime overhead and safety margin."""
        return self.buffers_bytes + self.overhead_bytes

    @property
    def fits(self) -> bool:
        """True when the device's total is within its budget (no budget = unknown = fits)."""
        return self.budget_bytes is None or self.total_bytes <= self.budget_bytes

    def to_dict(self) -> dict:
        """JSON-ready view."""
        d = asdict(self)
        d.update(total_bytes=self.total_bytes, fits=self.fits)
        return d


@dataclass
class MemoryEstimate:
    """One configuration's memory use."""

    ctx: ContextParams
    gpu_layers: int
    devices: list[DeviceUsage] = field(default_factory=list)
    shared_budget: int | None = None  # unified memory (Apple): CPU + GPU totals must fit in this

    def _sum(self, attr: str) -> int:
        return sum(getattr(d, attr) for d in self.devices)

    model_bytes = property(lambda self: self._sum("model_bytes"), doc="Weights on all devices.")
    kv_bytes = property(lambda self: self._sum("kv_bytes"), doc="KV cache on all devices.")
    compute_bytes = property(lambda self: self._sum("compute_bytes"), doc="Compute buffers on all devices.")
    output_bytes = property(lambda self: self._sum("output_bytes"), doc="Output (logits) buffer.")
    overhead_bytes = property(lambda self: self._sum("overhead_bytes"), doc="Runtime overhead + safety margin.")
    total_bytes = property(lambda self: self._sum("total_bytes"), doc="Everything on every device.")

    @property
    def fits(self) -> bool:
        """True when every device, and a shared unified-memory pool if any, holds its part."""
        if not all(d.fits for d in self.devices):
            return False
        return self.shared_budget is None or self.total_bytes <= self.shared_budget


def estimate(spec: ModelSpec, machine: Machine, ctx: ContextParams, n_gpu_layers: int) -> MemoryEstimate:
    """Estimate every buffer llama.cpp allocates for ``spec`` on ``machine`` with ``n_gpu_layers`` offloaded.

    ``n_gpu_layers`` counts like llama.cpp's (the output layer is the first one offloaded; ``n_layer + 1`` or a
    negative value offloads everything). Without GPUs it is ignored.
    """
    if not machine.gpus:
        n_gpu_layers = 0
    elif n_gpu_layers < 0 or n_gpu_layers > spec.n_layer + 1:
        n_gpu_layers = spec.n_layer + 1
    devs = layer_devices(spec.n_layer, n_gpu_layers, machine.gpus)
    wb = weight_buffers(spec, machine, n_gpu_layers, use_mmap=ctx.use_mmap)

    cpu = DeviceUsage("CPU", "cpu", model_bytes=wb.cpu_total, repack_bytes=wb.cpu_repack,
                      budget_bytes=machine.ram_free or None)
    gpus = [DeviceUsage(f"{g.kind.upper()}{i} {g.name}".strip(), g.kind, model_bytes=wb.gpu[i],
                        budget_bytes=g.free_bytes or None) for i, g in enumerate(machine.gpus)]
    cells = layer_cells(spec, ctx)
    for il in range(spec.n_layer):
        d = devs[il]
        if d < 0:
            cpu.kv_bytes += layer_kv_bytes(spec, ctx, il, 32, cells=cells)
            cpu.layers += 1
        else:
            gpus[d].kv_bytes += layer_kv_bytes(spec, ctx, il, machine.gpus[d].alignment, cells=cells)
            gpus[d].layers += 1
    cpu_compute, gpu_compute = compute_buffers(spec, ctx, devs, len(gpus))
    cpu.compute_bytes = cpu_compute
    for g, c in zip(gpus, gpu_compute):
        g.compute_bytes = c
    cpu.output_bytes = output_bytes(spec, ctx)

    # llama-cpp-python keeps its own float32 logits array of n_batch rows (Llama.scores).
    scores = ctx.batch * spec.n_vocab * 4
    cpu.overhead_bytes = CPU_RUNTIME_BYTES + scores + int(SAFETY_FRACTION * cpu.buffers_bytes)
    for g, dev in zip(gpus, machine.gpus):
        if g.buffers_bytes:  # an unused GPU can be hidden from llama.cpp, so its runtime cost is optional
            g.overhead_bytes = GPU_RUNTIME_BYTES.get(dev.kind, 256 * MiB) + int(SAFETY_FRACTION * g.buffers_bytes)
    shared = machine.ram_free if any(g.unified_memory for g in machine.gpus) and machine.ram_free else None
    return MemoryEstimate(ctx=ctx, gpu_layers=n_gpu_layers, devices=[cpu, *gpus], shared_budget=shared)
