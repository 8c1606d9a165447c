"""KV cache size per layer, as llama_kv_cache allocates it.

Per layer ``il``: K is ``[n_embd_k_gqa(il), cells]`` of ``type_k`` and V ``[n_embd_v_gqa(il), cells]`` of
``type_v`` (``n_embd_k_gqa = head_dim_k * n_head_kv``). Without flash attention V is stored transposed and, when
head sizes vary by layer, every layer uses the largest V width. ``cells`` is the padded context; in iSWA models
(Gemma 2/3, Cohere 2) sliding-window layers live in a second cache of
``GGML_PAD(min(kv_size, n_swa + n_ubatch), 256)`` cells unless ``swa_full`` is on. Each tensor is padded to the
buffer alignment of the device that holds the layer (32 bytes on the CPU).
"""

from __future__ import annotations

from converter.core.quant_types import pad

from .context import CTX_PAD, ContextParams
from .model import ModelSpec


def layer_cells(spec: ModelSpec, ctx: ContextParams) -> list[int]:
    """KV cells of each layer (smaller for sliding-window layers of an iSWA model unless ``swa_full``)."""
    full = ctx.kv_size * ctx.n_seq_max
    if not spec.is_swa or ctx.swa_full:
        return [full] * spec.n_layer
    swa = pad(min(ctx.kv_size, spec.n_swa * ctx.n_seq_max + ctx.ubatch), CTX_PAD) * ctx.n_seq_max
    return [swa if s else full for s in spec.swa_layers]


def layer_kv_bytes(spec: ModelSpec, ctx: ContextParams, il: int, alignment: int = 32, *,
                   cells: list[int] | None = None) -> int:
    """Bytes of layer ``il``'s K and V cache tensors (``cells``: layer_cells, when computing many layers)."""
    cells = (cells or layer_cells(spec, ctx))[il]
    k_width = spec.head_dim_k[il] * spec.n_head_kv[il]
    if ctx.flash_attn:
        v_width = spec.head_dim_v[il] * spec.n_head_kv[il]
    else:
        v_width = spec.max_v_width
    k = pad(ctx.k_type.row_bytes(k_width) * cells, alignment)
    v = pad(ctx.v_type.row_bytes(v_width) * cells, alignment)
    return k + v


def kv_bytes(spec: ModelSpec, ctx: ContextParams) -> int:
    """KV cache bytes of all layers on the CPU."""
    cells = layer_cells(spec, ctx)
    return sum(layer_kv_bytes(spec, ctx, il, cells=cells) for il in range(spec.n_layer))
