"""Compute (graph) buffers and the output buffer.

llama.cpp reserves the compute buffer by allocating its worst-case graph: one micro-batch of
``T = min(n_ctx, n_ubatch)`` tokens against a full KV cache (``sched_reserve``/``graph_reserve`` in
llama-context.cpp). ggml-alloc reuses the memory of tensors once their last consumer has run, so the buffer is the
largest set of tensors alive at one time. For a decoder-only transformer three moments compete:

* attention of a layer, without flash attention: the ``kq`` scores ``[n_kv, T, n_head]`` f32 (the soft-max runs
  in place) + the KQ mask ``[n_kv, T]`` f32 + roughly two copies each of the residual stream, Q, K and V
  (``T * (2 n_embd + 2 n_head d_k + 2 n_kv_embd_k + 2 n_kv_embd_v) * 4``);
* attention with flash attention: no scores matrix; the mask is f16 and the fused kernel's output
  ``[d_v, n_head, T]`` f32 comes on top of the same residual/Q/K/V copies;
* the output layer: logits ``[n_vocab, T]`` f32 + up to three ``[n_embd, T]`` f32 tensors (normed hidden state,
  its input, allocator slack). Masks are dead by then.

The FFN (gate, up and their SwiGLU product: ``3 n_ff + 4 n_embd`` floats per token, plus the live masks; for
mixtures of experts ``n_ff`` is the expert width times ``n_expert_used``, see :func:`ffn_streams`) wins for
models with a small vocabulary and a wide FFN. iSWA models keep two masks alive, one per cache. Measured on
SmolLM2 and tiny MoE models these peaks land within about 1 % of llama.cpp's CPU compute buffer (see
bench/fit_accuracy.py).

On a GPU the same graph is split by where the layers live: each device's buffer is the largest peak of the
layers it runs (the output peak belongs to the device of the output layer); the CPU side of a fully offloaded
model holds only the inputs (``[n_embd, T]`` token embeddings, since ``token_embd`` stays on the CPU, plus the
masks) in a pinned host buffer. This GPU split is derived from the sources, not measured (no GPU was available).
"""

from __future__ import annotations

from .context import ContextParams
from .kv_cache import layer_cells
from .model import ModelSpec

F32 = 4


def output_bytes(spec: ModelSpec, ctx: ContextParams) -> int:
    """The output buffer llama_context reserves at start: one row of f32 logits per sequence."""
    return spec.n_vocab * max(1, ctx.n_seq_max) * F32


def mask_bytes(spec: ModelSpec, ctx: ContextParams) -> int:
    """Bytes of the KQ mask inputs: one per KV cache (two in iSWA models), f16 with flash attention."""
    t = ctx.ubatch
    elt = 2 if ctx.flash_attn else F32
    cells = layer_cells(spec, ctx)
    if spec.is_swa:
        swa = min(c for c, s in zip(cells, spec.swa_layers) if s)
        return (ctx.kv_size * ctx.n_seq_max + swa) * t * elt
    return cells[0] * t * elt


def layer_peak(spec: ModelSpec, ctx: ContextParams, il: int, *, cells: list[int] | None = None,
               masks: int | None = None) -> int:
    """Largest live set while layer ``il`` runs (attention or FFN), masks included.

    ``cells`` (layer_cells) and ``masks`` (mask_bytes) may be passed in when computing many layers.
    """
    t = ctx.ubatch
    n_kv = (cells or layer_cells(spec, ctx))[il]
    n_head, kv = spec.n_head[il], spec.n_head_kv[il]
    dk, dv = spec.head_dim_k[il], spec.head_dim_v[il]
    masks = mask_bytes(spec, ctx) if masks is None else masks
    streams = (2 * spec.n_embd + 2 * n_head * dk + 2 * kv * dk + 2 * kv * dv) * t * F32
    if ctx.flash_attn:
        attn = masks + streams + n_head * dv * t * F32
    else:
        attn = masks + streams + n_kv * t * n_head * F32
    return max(attn, masks + ffn_streams(spec, il) * t * F32)


def ffn_streams(spec: ModelSpec, il: int) -> int:
    """f32 values per token alive at the FFN peak of layer ``il`` (masks not included).

    Dense: gate, up and their SwiGLU product (``3 n_ff``) beside the residual stream and its normed copy, plus
    allocator slack (``4 n_embd``). MoE (``build_moe_ffn``): the routed experts' up, gate and product are
    ``[n_ff_exp, n_expert_used, T]`` each (``mul_mat_id``), so ``3 n_ff_exp n_expert_used``; the router's
    ``[n_expert, T]`` logits/probabilities are freed before them and do not count (measured: the buffer does not
    grow with ``n_expert``). A shared expert runs afterwards as a dense FFN of ``n_ff_shexp`` while the routed
    output (one more ``[n_embd, T]``) waits to be added.
    """
    n_embd = spec.n_embd
    n_ff_exp, n_ff_shexp = spec.expert_widths()[il]
    if not (n_ff_exp and spec.n_expert_used):
        return 4 * n_embd + 3 * spec.n_ff[il]
    routed = 4 * n_embd + 3 * n_ff_exp * spec.n_expert_used
    return max(routed, 5 * n_embd + 3 * n_ff_shexp) if n_ff_shexp else routed


def output_peak(spec: ModelSpec, ctx: ContextParams) -> int:
    """Live set while the logits are computed."""
    t = ctx.ubatch
    return (spec.n_vocab + 3 * spec.n_embd) * t * F32


def input_staging(spec: ModelSpec, ctx: ContextParams) -> int:
    """Host-side compute buffer when every layer is offloaded: token embeddings and masks."""
    return spec.n_embd * ctx.ubatch * F32 + mask_bytes(spec, ctx)


def compute_buffers(spec: ModelSpec, ctx: ContextParams, devs: list[int], n_gpus: int) -> tuple[int, list[int]]:
    """(CPU compute bytes, per-GPU compute bytes) for layer placement ``devs`` (see weights.layer_devices)."""
    cpu = 0
    gpu = [0] * n_gpus
    cells, masks = layer_cells(spec, ctx), mask_bytes(spec, ctx)
    for il in range(spec.n_layer):
        peak = layer_peak(spec, ctx, il, cells=cells, masks=masks)
        d = devs[il]
        if d < 0:
            cpu = max(cpu, peak)
        else:
            gpu[d] = max(gpu[d], peak)
    out = output_peak(spec, ctx)
    if devs[spec.n_layer] < 0:
        cpu = max(cpu, out)
    else:
        gpu[devs[spec.n_layer]] = max(gpu[devs[spec.n_layer]], out)
        cpu = max(cpu, input_staging(spec, ctx))
    return cpu, gpu
