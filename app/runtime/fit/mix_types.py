"""Which ggml type each tensor of a not-yet-converted model gets, decided exactly as ``converter.convert`` does.

The mixes the converter writes directly (``direct`` in :data:`converter.core.quant_types.MIXES`: F32, F16, BF16,
Q8_0) type each tensor with ``converter.convert.tensor_type``; every other mix (Q4_K_M, ...) gets its types from
``converter.mixes.plan_types`` applied to the F32 tensors the converter hands to the quantizer.
"""

from __future__ import annotations

from typing import Sequence

from converter.archs import Architecture, PlannedTensor
from converter.core.quant_types import QType, get_mix


def tensor_types(arch: Architecture, planned: Sequence[PlannedTensor], mix_name: str) -> dict[str, QType]:
    """GGUF tensor name -> ggml type in a ``mix_name`` conversion of ``planned`` (the architecture's tensor plan).

    Raises ``converter.core.quant_types.UnknownTypeError`` (a ``ValueError``) for an unknown mix name.
    """
    mix = get_mix(mix_name)
    if mix.direct:
        from converter.convert import tensor_type

        return {p.name: tensor_type(arch, p, mix.default) for p in planned}
    from converter.mixes import MixModelParams, MixTensor, plan_types

    n_expert = int(arch.config.get("num_local_experts") or arch.config.get("num_experts") or 0)
    model = MixModelParams(arch=arch.name, n_layer=arch.block_count, n_head=arch.n_head,
                           n_head_kv=arch.n_head_kv, n_expert=n_expert)
    infos = [MixTensor(p.name, tuple(reversed(p.shape)), QType.F32) for p in planned]
    return plan_types(infos, mix, model)
