"""Where llama.cpp puts each weight tensor and how many bytes each buffer takes.

Placement (llama-model.cpp ``load_tensors`` of the pinned llama.cpp): with ``n_gpu_layers = N`` the offloaded
"layers" are counted from the end, the output layer first: ``i_gpu_start = max(n_layer + 1 - N, 0)`` and layer
``il`` (``n_layer`` meaning the output layer) is offloaded when ``il >= i_gpu_start``. So ``N = 1`` offloads only
``output.weight``/``output_norm``, ``N = n_layer + 1`` everything. Input tensors (``token_embd``) always stay on
the CPU. A tied output (no ``output.weight``) is a second tensor reading ``token_embd``'s data: it goes where the
output layer goes; a GPU (or the CPU_REPACK buffer) then gets a full copy of the embedding matrix, while in the
same CPU buffer type llama.cpp reuses the tensor (``create_tensor`` with ``TENSOR_DUPLICATED``).

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

from converter.core.quant_types import QType, pad

from .devices import GpuDevice, Machine
from .model import ModelSpec, WeightTensor

CPU_ALIGNMENT = 32
_NOT_MATMUL = ("norm", "rope_freqs", "conv1d", "ssm_a", "ssm_d")


@dataclass
class WeightBuffers:
    """Weight bytes per buffer: ``cpu_mapped``, ``cpu`` (not mapped), ``cpu_repack`` and per-GPU totals."""

    cpu_mapped: int = 0
    cpu: int = 0
    cpu_repack: int = 0
    gpu: list[int] = field(default_factory=list)

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


def is_matmul_weight(t: WeightTensor) -> bool:
    """True for tensors llama.cpp multiplies with (MUL_MAT / MUL_MAT_ID): 2-D or 3-D weights, not norms."""
    return len(t.shape) in (2, 3) and not any(s in t.name for s in _NOT_MATMUL) and t.role != "input"


def repacked(t: WeightTensor, rules: dict[QType, int]) -> bool:
    """Whether the CPU backend would move this tensor into the CPU_REPACK buffer."""
    need = rules.get(QType(t.type))
    return bool(need) and is_matmul_weight(t) and len(t.shape) >= 2 and t.shape[1] % need == 0


def gpu_alloc_size(t: WeightTensor, gpu: GpuDevice) -> int:
    """Bytes a GPU backend allocates for ``t`` (``get_alloc_size``), before alignment."""
    size = t.nbytes
    rp = gpu.row_padding
    if rp and QType(t.type).is_quantized and t.shape[0] % rp:
        size += QType(t.type).row_bytes(rp - t.shape[0] % rp)
    return size


def _with_offsets(tensors: list[WeightTensor]) -> list[WeightTensor]:
    """Give tensors without a file offset the offsets a GGUF writer would (in order, 32-byte aligned)."""
    if all(t.offset is not None for t in tensors):
        return tensors
    out, off = [], 0
    for t in tensors:
        out.append(WeightTensor(t.name, t.type, t.shape, off))
        off = pad(off + t.nbytes, CPU_ALIGNMENT)
    return out


@dataclass
class _Group:
    """The tensors of one placement unit (the input layer, one repeating layer, the output layer)."""

    tensors: list[WeightTensor] = field(default_factory=list)
    tied_copy: WeightTensor | None = None  # output.weight reading token_embd's data
    repack: int = 0  # CPU_REPACK bytes when the group is on the CPU
    plain: int = 0  # CPU buffer bytes (no mmap) of the other tensors
    first: int = -1  # mapped file range of the non-repacked tensors
    last: int = -1
    placement: dict[str, str] = field(default_factory=dict)
    gpu_bytes: dict[tuple[int, int], int] = field(default_factory=dict)  # (alignment, row padding) -> bytes

    def extend_range(self, t: WeightTensor) -> None:
        end = t.offset + t.nbytes
        self.first = t.offset if self.first < 0 else min(self.first, t.offset)
        self.last = max(self.last, end)

    def on_gpu(self, gpu: GpuDevice) -> int:
        key = (gpu.alignment, gpu.row_padding)
        if key not in self.gpu_bytes:
            ts = self.tensors + ([self.tied_copy] if self.tied_copy else [])
            self.gpu_bytes[key] = sum(pad(gpu_alloc_size(t, gpu), gpu.alignment) for t in ts)
        return self.gpu_bytes[key]

    def file_range(self) -> tuple[int, int]:
        ts = self.tensors + ([self.tied_copy] if self.tied_copy else [])
        return min(t.offset for t in ts), max(t.offset + t.nbytes for t in ts)


def _groups(spec: ModelSpec, rules: dict[QType, int]) -> list[_Group]:
    """Per-unit summaries (index n_layer = output layer, n_layer + 1 = input layer), cached on the spec."""
    key = ("weight-groups", id(spec.tensors), len(spec.tensors), tuple(sorted(rules.items())))
    cached = spec.cache.get(key)
    if cached is not None:
        return cached
    groups = [_Group() for _ in range(spec.n_layer + 2)]
    tied = spec.tied_output()
    for t in _with_offsets(spec.tensors):
        if t.role == "input":
            g = groups[spec.n_layer + 1]
            if tied and t.name == "token_embd.weight":
                copy = WeightTensor("output.weight", t.type, t.shape, t.offset)
                out = groups[spec.n_layer]
                out.tied_copy = copy
                if repacked(copy, rules):
                    out.repack += pad(copy.nbytes, CPU_ALIGNMENT)
                    out.placement[copy.name] = "CPU_REPACK"
                else:  # same buffer type as token_embd: llama.cpp reuses the tensor, no copy
                    out.placement[copy.name] = "CPU (shared with token_embd)"
        elif t.role == "output":
            g = groups[spec.n_layer]
        else:
            g = groups[t.layer if t.layer is not None and t.layer < spec.n_layer else 0]
        g.tensors.append(t)
        if repacked(t, rules):
            g.repack += pad(t.nbytes, CPU_ALIGNMENT)
            g.placement[t.name] = "CPU_REPACK"
        else:
            g.plain += pad(t.nbytes, CPU_ALIGNMENT)
            g.extend_range(t)
            g.placement[t.name] = "CPU"
    spec.cache[key] = groups
    return groups


def weight_buffers(spec: ModelSpec, machine: Machine, n_gpu_layers: int, *, use_mmap: bool = True) -> WeightBuffers:
    """Bytes of every weight buffer llama.cpp allocates for ``spec`` with ``n_gpu_layers`` offloaded."""
    devs = layer_devices(spec.n_layer, n_gpu_layers, machine.gpus) + [-1]  # + the input layer
    groups = _groups(spec, machine.repack_rules)
    out = WeightBuffers(gpu=[0] * len(machine.gpus))
    first, last = -1, -1
    gpu_ranges: dict[int, tuple[int, int]] = {}
    for g, dev in zip(groups, devs):
        if not g.tensors and g.tied_copy is None:
            continue
        if dev < 0:
            out.cpu_repack += g.repack
            if g.last < 0:
                continue
            if use_mmap:
                first = g.first if first < 0 else min(first, g.first)
                last = max(last, g.last)
            else:
                out.cpu += g.plain
            continue
        gpu = machine.gpus[dev]
        if gpu.unified_memory and use_mmap:
            lo, hi = g.file_range()
            plo, phi = gpu_ranges.get(dev, (lo, hi))
            gpu_ranges[dev] = (min(lo, plo), max(hi, phi))
        else:
            out.gpu[dev] += g.on_gpu(gpu)
    out.cpu_mapped = last - first if last >= 0 else 0
    for dev, (lo, hi) in gpu_ranges.items():
        out.gpu[dev] += hi - lo
    return out


def tensor_placement(spec: ModelSpec, machine: Machine, n_gpu_layers: int, *, use_mmap: bool = True) -> dict[str, str]:
    """Buffer of every tensor (``CPU_Mapped``, ``CPU_REPACK``, ``CPU``, ``cuda0``, ...), for display and tests."""
    devs = layer_devices(spec.n_layer, n_gpu_layers, machine.gpus) + [-1]
    out: dict[str, str] = {}
    for g, dev in zip(_groups(spec, machine.repack_rules), devs):
        for name, where in g.placement.items():
            if dev >= 0:
                where = f"{machine.gpus[dev].kind}{dev}"
            elif where == "CPU" and use_mmap:
                where = "CPU_Mapped"
            out[name] = where
    return out
