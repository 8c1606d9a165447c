"""Where llama.cpp puts each weight tensor and how many bytes each buffer takes.

Placement (llama-model.cpp ``load_tensors`` of the pinned llama.cpp): with ``n_gpu_layers = N`` the offloaded
"layers" are counted from the end, the output layer first: ``i_gpu_start = max(n_layer + 1 - N, 0)`` and layer
``il`` (``n_layer`` meaning the output layer) is offloaded when ``il >= i_gpu_start``. So ``N = 1`` offloads only
``output.weight``/``output_norm``, ``N = n_layer + 1`` everything. Input tensors (``token_embd``) always stay on
the CPU. A tied output (no ``output.weight``) is a second tensor reading ``token_embd``'s data: it goes where the
output layer goes, so a GPU gets a full copy of the embedding matrix.

CPU buffers:

* ``CPU_Mapped`` (mmap, the default): a view of the file from the first to the last byte of the CPU tensors
  (``get_mapping_range``), gaps included. Without mmap: ``CPU`` = sum of each tensor padded to 32 bytes.
* ``CPU_REPACK``: matrix weights (used by MUL_MAT, 2-D, or 3-D expert stacks) of a type the CPU repacks into an
  interleaved layout (repack.cpp). They are allocated in their own buffer (``ggml_nbytes`` each, padded to 32),
  *instead of* the mapped copy in the accounting of llama.cpp's log, but the file range they came from is still
  inside the mapped view when other CPU tensors surround it, so the repacked bytes come on top of the mapping.

GPU buffers: each tensor's allocation size (CUDA adds row padding to quantized tensors) padded to the backend's
alignment; Metal with mmap maps the file range instead (like ``CPU_Mapped``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .devices import GpuDevice, Machine
from .ggml_types import is_quantized, pad, row_size
from .model import ModelSpec, TensorInfo

CPU_ALIGNMENT = 32
_NOT_MATMUL = ("norm", "rope_freqs", "conv1d", "ssm_a", "ssm_d")


@dataclass
class WeightBuffers:
    """Weight bytes per buffer: ``cpu_mapped``, ``cpu`` (not mapped), ``cpu_repack`` and per-GPU totals."""

    cpu_mapped: int = 0
    cpu: int = 0
    cpu_repack: int = 0
    gpu: list[int] = field(default_factory=list)
    placement: dict[str, str] = field(default_factory=dict)

    @property
    def cpu_total(self) -> int:
        """All weight bytes held in system memory."""
        return self.cpu_mapped + self.cpu + self.cpu_repack


def layer_devices(n_layer: int, n_gpu_layers: int, gpus: list[GpuDevice]) -> list[int]:
    """Device of each layer ``0..n_layer`` (the last entry is the output layer): -1 for CPU, else a GPU index.

    Layers are split over several GPUs in proportion to their free memory, like llama.cpp's default split.
    """
    if n_gpu_layers < 0:
        n_gpu_layers = n_layer + 1
    if not gpus:
        return [-1] * (n_layer + 1)
    i_gpu_start = max(n_layer + 1 - n_gpu_layers, 0)
    act = min(n_gpu_layers, n_layer + 1)
    total = sum(max(g.free_bytes, 1) for g in gpus)
    splits, acc = [], 0.0
    for g in gpus:
        acc += max(g.free_bytes, 1)
        splits.append(acc / total)
    out = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or il - i_gpu_start >= act:
            out.append(-1)
            continue
        frac = (il - i_gpu_start) / act
        out.append(min(next(i for i, s in enumerate(splits + [2.0]) if s > frac), len(gpus) - 1))
    return out


def is_matmul_weight(t: TensorInfo) -> bool:
    """True for tensors llama.cpp multiplies with (MUL_MAT / MUL_MAT_ID): 2-D or 3-D weights, not norms."""
    return len(t.shape) in (2, 3) and not any(s in t.name for s in _NOT_MATMUL) and t.role != "input"


def repacked(t: TensorInfo, rules: dict[str, int]) -> bool:
    """Whether the CPU backend would move this tensor into the CPU_REPACK buffer."""
    need = rules.get(t.type.name)
    return bool(need) and is_matmul_weight(t) and len(t.shape) >= 2 and t.shape[1] % need == 0


def gpu_alloc_size(t: TensorInfo, gpu: GpuDevice) -> int:
    """Bytes a GPU backend allocates for ``t`` (``get_alloc_size``), before alignment."""
    size = t.nbytes
    rp = gpu.row_padding
    if rp and is_quantized(t.type) and t.shape[0] % rp:
        size += row_size(t.type, rp - t.shape[0] % rp)
    return size


def _with_offsets(tensors: list[TensorInfo]) -> list[TensorInfo]:
    """Give tensors without a file offset the offsets a GGUF writer would (in order, 32-byte aligned)."""
    if all(t.offset is not None for t in tensors):
        return tensors
    out, off = [], 0
    for t in tensors:
        out.append(TensorInfo(t.name, t.type, t.shape, off))
        off = pad(off + t.nbytes, CPU_ALIGNMENT)
    return out


def _mapped_range(tensors: list[TensorInfo]) -> int:
    if not tensors:
        return 0
    first = min(t.offset for t in tensors)
    last = max(t.offset + t.nbytes for t in tensors)
    return last - first


def weight_buffers(spec: ModelSpec, machine: Machine, n_gpu_layers: int, *, use_mmap: bool = True) -> WeightBuffers:
    """Bytes of every weight buffer llama.cpp allocates for ``spec`` with ``n_gpu_layers`` offloaded."""
    devs = layer_devices(spec.n_layer, n_gpu_layers, machine.gpus)
    rules = machine.repack_rules
    tensors = _with_offsets(spec.tensors)
    entries: list[tuple[TensorInfo, int]] = []  # (tensor, device)
    for t in tensors:
        if t.role == "input":
            entries.append((t, -1))
            if t.name == "token_embd.weight" and spec.tied_output():
                entries.append((TensorInfo("output.weight", t.type, t.shape, t.offset), devs[spec.n_layer]))
        elif t.role == "output":
            entries.append((t, devs[spec.n_layer]))
        else:
            entries.append((t, devs[t.layer if t.layer is not None else 0]))

    out = WeightBuffers(gpu=[0] * len(machine.gpus))
    mapped: list[TensorInfo] = []
    gpu_mapped: dict[int, list[TensorInfo]] = {}
    for t, dev in entries:
        if dev < 0:
            if repacked(t, rules):
                out.cpu_repack += pad(t.nbytes, CPU_ALIGNMENT)
                out.placement[t.name] = "CPU_REPACK"
            elif use_mmap:
                mapped.append(t)
                out.placement[t.name] = "CPU_Mapped"
            else:
                out.cpu += pad(t.nbytes, CPU_ALIGNMENT)
                out.placement[t.name] = "CPU"
        else:
            gpu = machine.gpus[dev]
            out.placement[t.name] = f"{gpu.kind}{dev}"
            if gpu.unified_memory and use_mmap:
                gpu_mapped.setdefault(dev, []).append(t)
            else:
                out.gpu[dev] += pad(gpu_alloc_size(t, gpu), gpu.alignment)
    out.cpu_mapped = _mapped_range(mapped)
    for dev, ts in gpu_mapped.items():
        out.gpu[dev] += _mapped_range(ts)
    return out

