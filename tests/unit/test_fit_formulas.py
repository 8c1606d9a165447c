"""Each estimator formula against figures computed by hand (and, where noted, llama.cpp's logged sizes)."""

from __future__ import annotations

import pytest

from app.runtime.fit.compute import compute_buffers, layer_peak, mask_bytes, output_bytes, output_peak
from app.runtime.fit.context import ContextParams
from app.runtime.fit.devices import GpuDevice, Machine
from app.runtime.fit.kv_cache import kv_bytes, layer_cells
from app.runtime.fit.model import ModelSpec, WeightTensor, swa_layers_from_pattern
from app.runtime.fit.weights import gpu_alloc_size, layer_devices, repacked, tensor_placement, weight_buffers
from converter.core.quant_types import QType as T
from converter.core.quant_types import pad

MiB = 1 << 20


def smollm2_like(tensors=None) -> ModelSpec:
    """SmolLM2-135M's hyper-parameters: 30 layers, n_embd 576, 9 heads (3 KV heads) of 64, vocab 49152."""
    n = 30
    return ModelSpec(arch="llama", n_layer=n, n_embd=576, n_vocab=49152, n_head=[9] * n, n_head_kv=[3] * n,
                     head_dim_k=[64] * n, head_dim_v=[64] * n, n_ff=[1536] * n, tensors=tensors or [])


def gemma3_like(n_swa=512) -> ModelSpec:
    """6 layers, pattern 6 (layers 0-4 slide, 5 is global), one KV head of 128."""
    n = 6
    return ModelSpec(arch="gemma3", n_layer=n, n_embd=256, n_vocab=1024, n_head=[4] * n, n_head_kv=[1] * n,
                     head_dim_k=[128] * n, head_dim_v=[128] * n, n_ff=[512] * n, tensors=[], n_swa=n_swa,
                     swa_layers=swa_layers_from_pattern(6, n))


def test_type_sizes():
    assert T.Q8_0.row_bytes(576) == 18 * 34
    assert T.Q4_K.nbytes((512, 3)) == 2 * 144 * 3
    assert T.F16.nbytes((7, 5)) == 70
    assert T.F32.nbytes((576,)) == 2304
    assert pad(1000, 256) == 1024 and pad(1024, 256) == 1024
    with pytest.raises(ValueError):
        T.Q4_K.row_bytes(576)


def test_context_padding_and_batches():
    c = ContextParams(n_ctx=1000)
    assert c.kv_size == 1024 and c.batch == 512 and c.ubatch == 512
    small = ContextParams(n_ctx=300)  # llama-cpp-python caps n_batch at the requested context
    assert small.kv_size == 512 and small.batch == 300 and small.ubatch == 300
    assert ContextParams(n_ctx=4096, n_ubatch=128).ubatch == 128


def test_quantized_v_needs_flash_attention():
    with pytest.raises(ValueError, match="flash attention"):
        ContextParams(type_k="q8_0", type_v="q8_0", flash_attn=False)
    ContextParams(type_k="q8_0", type_v="f16", flash_attn=False)  # quantized K alone is fine


def test_kv_cache_sizes_match_hand_computation():
    spec = smollm2_like()
    # 30 layers x (K + V) x 192 values x 2 bytes x 1024 cells = 22.50 MiB, what llama.cpp logs at n_ctx=1000
    assert kv_bytes(spec, ContextParams(n_ctx=1000)) == 30 * 2 * 192 * 2 * 1024
    # q8_0: 192 values = 6 blocks of 34 bytes
    assert kv_bytes(spec, ContextParams(n_ctx=1000, type_k="q8_0", type_v="q8_0", flash_attn=True)) \
        == 30 * 2 * 204 * 1024
    # q4_0 K (18-byte blocks), f16 V
    assert kv_bytes(spec, ContextParams(n_ctx=512, type_k="q4_0")) == 30 * (6 * 18 + 192 * 2) * 512


def test_iswa_cache_cells():
    spec = gemma3_like()
    full = ContextParams(n_ctx=4096)  # swa_full (llama.cpp's default): every layer has the full cache
    assert layer_cells(spec, full) == [4096] * 6
    win = ContextParams(n_ctx=4096, swa_full=False)  # window 512 + ubatch 512, padded to 256
    assert layer_cells(spec, win) == [1024] * 5 + [4096]
    # 128-wide K and V rows in f16 = 512 bytes per cell: 4.5 MiB, as llama.cpp logs for this model
    assert kv_bytes(spec, win) == (5 * 1024 + 4096) * 512
    # a window larger than the context is capped at the context
    assert layer_cells(spec, ContextParams(n_ctx=512, swa_full=False)) == [512] * 6


def test_v_cache_without_flash_attention_uses_widest_layer():
    spec = smollm2_like()
    spec.head_dim_v = [64] * 29 + [128]
    no_fa = kv_bytes(spec, ContextParams(n_ctx=256))
    fa = kv_bytes(spec, ContextParams(n_ctx=256, flash_attn=True))
    assert no_fa == 30 * 256 * (192 * 2 + 384 * 2)
    assert fa == 30 * 256 * 192 * 2 + 29 * 256 * 192 * 2 + 256 * 384 * 2


def test_compute_peaks_hand_computed():
    spec = smollm2_like()
    t = 512
    streams = (2 * 576 + 2 * 576 + 2 * 192 + 2 * 192) * t * 4
    c = ContextParams(n_ctx=16384)
    # scores 16384 x 512 x 9 heads f32 + f32 mask + residual/Q/K/V copies = 326 MiB (llama.cpp: 326.38)
    assert layer_peak(spec, c, 0) == 16384 * t * 9 * 4 + 16384 * t * 4 + streams
    assert compute_buffers(spec, c, [-1] * 31, 0)[0] == 326 * MiB
    fa = ContextParams(n_ctx=16384, flash_attn=True)
    assert mask_bytes(spec, fa) == 16384 * t * 2
    # with flash attention the logits win: 49152 x 512 f32 + 3 x 576 x 512 f32 (llama.cpp: 98.25-99.38 MiB)
    assert output_peak(spec, fa) == (49152 + 3 * 576) * t * 4
    assert compute_buffers(spec, fa, [-1] * 31, 0)[0] == output_peak(spec, fa)
    assert output_bytes(spec, c) == 49152 * 4


def test_ffn_peak_wins_for_wide_ffn_small_vocab():
    spec = ModelSpec(arch="llama", n_layer=2, n_embd=256, n_vocab=512, n_head=[4, 4], n_head_kv=[2, 2],
                     head_dim_k=[64, 64], head_dim_v=[64, 64], n_ff=[8192, 8192], tensors=[])
    c = ContextParams(n_ctx=512, flash_attn=True)
    # gate, up and SwiGLU product (3 x 8192) + 4 x 256 residual-stream floats per token, + the f16 mask
    assert layer_peak(spec, c, 0) == (3 * 8192 + 4 * 256) * 512 * 4 + 512 * 512 * 2


def _moe_spec(n_expert: int, used: int, n_ff_exp: int, n_ff_shexp: int = 0, dense_ff: int = 2048) -> ModelSpec:
    """The qwen3moe-gguf tiny model's shape: 2 layers of n_embd 256; layer 1 is dense (no expert tensors)."""
    h = 256
    tensors = [WeightTensor("blk.0.ffn_down_exps.weight", T.F16, (n_ff_exp, h, n_expert)),
               WeightTensor("blk.0.ffn_up_exps.weight", T.F16, (h, n_ff_exp, n_expert)),
               WeightTensor("blk.1.ffn_down.weight", T.F16, (dense_ff, h))]
    if n_ff_shexp:
        tensors.append(WeightTensor("blk.0.ffn_down_shexp.weight", T.F16, (n_ff_shexp, h)))
    return ModelSpec(arch="qwen3moe", n_layer=2, n_embd=h, n_vocab=512, n_head=[4, 4], n_head_kv=[2, 2],
                     head_dim_k=[64, 64], head_dim_v=[64, 64], n_ff=[dense_ff, dense_ff], tensors=tensors,
                     n_expert=n_expert, n_expert_used=used)


def test_moe_ffn_peak_from_the_experts_width():
    c = ContextParams(n_ctx=512, flash_attn=True)
    mask = 512 * 512 * 2
    spec = _moe_spec(8, 2, 512)
    assert spec.expert_widths() == [(512, 0), (0, 0)]
    # routed: up, gate and product [512, 2, T] each + 4 x 256; not feed_forward_length (2048), not n_expert
    # (llama.cpp logs 8.51 MiB for the qwen3moe-gguf model; the old n_ff * used + n_expert gave 27.05 MiB)
    assert layer_peak(spec, c, 0) == (3 * 512 * 2 + 4 * 256) * 512 * 4 + mask == int(8.5 * MiB)
    assert layer_peak(_moe_spec(32, 2, 512), c, 0) == layer_peak(spec, c, 0)
    assert layer_peak(spec, c, 1) == (3 * 2048 + 4 * 256) * 512 * 4 + mask  # the dense layer
    # a shared expert wider than the routed ones: a dense FFN of 4096 beside one more [n_embd, T]
    # (llama.cpp logs 27.04 MiB for the Qwen2-MoE variant)
    assert layer_peak(_moe_spec(8, 2, 512, 4096), c, 0) == (3 * 4096 + 5 * 256) * 512 * 4 + mask


def test_iswa_keeps_two_masks():
    spec = gemma3_like()
    c = ContextParams(n_ctx=4096, swa_full=False)
    assert mask_bytes(spec, c) == (4096 + 1024) * 512 * 4


def test_layer_devices_output_first():
    gpu = [GpuDevice("g", "cuda", 8 << 30)]
    assert layer_devices(4, 0, gpu) == [-1] * 5
    assert layer_devices(4, 1, gpu) == [-1, -1, -1, -1, 0]  # only the output layer
    assert layer_devices(4, 3, gpu) == [-1, -1, 0, 0, 0]
    assert layer_devices(4, 5, gpu) == [0] * 5
    assert layer_devices(4, -1, gpu) == [0] * 5
    assert layer_devices(4, 5, []) == [-1] * 5
    two = [GpuDevice("a", "cuda", 3 << 30), GpuDevice("b", "cuda", 1 << 30)]  # split 3:1 by free memory
    assert layer_devices(7, 8, two) == [0, 0, 0, 0, 0, 0, 1, 1]


def _t(name, typ, shape, offset=None):
    return WeightTensor(name, typ, shape, offset)


def test_repack_rules():
    avx2 = Machine(ram_free=0, cpu_isa="avx2").repack_rules
    assert repacked(_t("blk.0.attn_q.weight", T.Q4_0, (576, 576)), avx2)
    assert repacked(_t("blk.0.ffn_down.weight", T.Q4_K, (1536, 576)), avx2)
    assert not repacked(_t("blk.0.attn_k.weight", T.Q4_0, (576, 196)), avx2)  # rows not a multiple of 8
    assert not repacked(_t("blk.0.attn_q.weight", T.Q8_0, (576, 576)), avx2)  # no x86 Q8_0 repack
    assert not repacked(_t("token_embd.weight", T.Q4_0, (576, 1024)), avx2)  # GET_ROWS, not a matmul
    assert not repacked(_t("blk.0.attn_norm.weight", T.F32, (576,)), avx2)
    assert repacked(_t("blk.0.attn_q.weight", T.Q8_0, (576, 576)), Machine(0, cpu_isa="neon_i8mm").repack_rules)
    # a GPU backend with a pinned host buffer type (CUDA) disables CPU repacking
    assert Machine(0, cpu_isa="avx2", gpus=[GpuDevice("g", "cuda", 1)]).repack_rules == {}
    assert Machine(0, cpu_isa="neon_i8mm", gpus=[GpuDevice("g", "metal", 1)]).repack_rules


def test_weight_buffers_mapped_range_and_repack():
    q = T.Q4_0.nbytes((256, 256))
    tensors = [
        _t("token_embd.weight", T.Q8_0, (256, 1024), 0),
        _t("blk.0.attn_norm.weight", T.F32, (256,), 278528),
        _t("blk.0.attn_q.weight", T.Q4_0, (256, 256), 279552),
        _t("output_norm.weight", T.F32, (256,), 279552 + q),
    ]
    spec = ModelSpec(arch="llama", n_layer=1, n_embd=256, n_vocab=1024, n_head=[4], n_head_kv=[4],
                     head_dim_k=[64], head_dim_v=[64], n_ff=[256], tensors=tensors)
    wb = weight_buffers(spec, Machine(0, cpu_isa="avx2"), 0)
    assert wb.cpu_repack == q  # the Q4_0 matrix and...
    where = tensor_placement(spec, Machine(0, cpu_isa="avx2"), 0)
    assert where["blk.0.attn_q.weight"] == "CPU_REPACK" and where["token_embd.weight"] == "CPU_Mapped"
    assert where["output.weight"].startswith("CPU (shared")  # ...the tied Q8_0 output is not repacked on x86
    assert wb.cpu_mapped == 279552 + q + 1024  # the mapping spans the repacked tensor's bytes too
    none = weight_buffers(spec, Machine(0, cpu_isa="none"), 0, use_mmap=False)
    assert none.cpu_repack == 0 and none.cpu == 278528 + 1024 + q + 1024  # tied output reuses token_embd


def test_gpu_weights_padding_and_tied_output_copy():
    emb = _t("token_embd.weight", T.Q8_0, (576, 1000), 0)
    spec = ModelSpec(arch="llama", n_layer=1, n_embd=576, n_vocab=1000, n_head=[9], n_head_kv=[3],
                     head_dim_k=[64], head_dim_v=[64], n_ff=[64], tensors=[emb])
    cuda = GpuDevice("g", "cuda", 1 << 30)
    # 576 % 512 = 64: CUDA adds row_size(Q8_0, 448) = 14 blocks x 34 bytes, then aligns to 128
    assert gpu_alloc_size(emb, cuda) == T.Q8_0.nbytes((576, 1000)) + 14 * 34
    wb = weight_buffers(spec, Machine(0, cpu_isa="avx2", gpus=[cuda]), 1)
    assert wb.gpu == [pad(T.Q8_0.nbytes((576, 1000)) + 14 * 34, 128)]  # the tied output's own copy
    assert wb.cpu_mapped == emb.nbytes  # token_embd stays on the CPU
    assert gpu_alloc_size(emb, GpuDevice("v", "vulkan", 1)) == emb.nbytes
