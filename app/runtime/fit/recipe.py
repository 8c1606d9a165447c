"""Which ggml type each tensor of a not-yet-converted model gets, decided exactly as ``converter.convert`` does.

``f32``/``f16``/``bf16``/``q8_0`` are the converter's direct output types (``converter.convert.tensor_type``);
every other name is a quantization mix (Q4_K_M, ...) whose types come from ``converter.recipes.plan_types``
applied to the F32 tensors the converter hands to the quantizer.
"""

from __future__ import annotations

from typing import Sequence

from gguf.constants import GGMLQuantizationType as T

from converter.archs import Architecture, PlannedTensor


def tensor_types(arch: Architecture, planned: Sequence[PlannedTensor], quant: str) -> dict[str, T]:
    """GGUF tensor name -> ggml type in a ``quant`` conversion of ``planned`` (the architecture's tensor plan).

    Raises ``converter.errors.QuantizationError`` (a ``ValueError``) for an unknown quantization name.
    """
    from converter.convert import OUT_TYPES, tensor_type

    key = quant.lower()
    if key in OUT_TYPES:
        default = OUT_TYPES[key][1]
        return {p.name: tensor_type(arch, p, default) for p in planned}
    from converter import recipes

    mix = recipes.get_mix(quant)
    n_expert = int(arch.config.get("num_local_experts") or arch.config.get("num_experts") or 0)
    model = recipes.ModelInfo(arch=arch.name, n_layer=arch.block_count, n_head=arch.n_head,
                              n_head_kv=arch.n_head_kv, n_expert=n_expert)
    infos = [recipes.TensorInfo(p.name, tuple(reversed(p.shape)), T.F32) for p in planned]
    return recipes.plan_types(infos, mix, model)
