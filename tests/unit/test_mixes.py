"""Quantization mixes: what llama.cpp's dry run cannot decide (no llama.cpp needed).

Which type each tensor gets for each mix is checked against llama.cpp itself: on SmolLM2
(tests/integration/test_quantize_llama.py) and on synthetic MoE, 70B, fused-QKV, GQA and odd-width models
(tests/integration/test_mix_rules_llama.py). Here: helpers, order independence, errors, pure mode, names.
"""

import pytest
from converter.core.quant_types import QType as T
from converter.core.quant_types import UnknownTypeError, get_mix
from converter.errors import QuantizationError
from converter.mix_rules import use_more_bits
from converter.mixes import MixModelParams, MixTensor, Override, plan_types, tensor_order_key


def llama_tensors(n_layer, n_embd=256, n_ff=512):
    t = [("token_embd.weight", (n_embd, 1000)), ("output_norm.weight", (n_embd,)), ("rope_freqs.weight", (32,))]
    for i in range(n_layer):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", (n_embd,)), (p + "attn_q.weight", (n_embd, n_embd)),
              (p + "attn_k.weight", (n_embd, n_embd)), (p + "attn_v.weight", (n_embd, n_embd)),
              (p + "attn_output.weight", (n_embd, n_embd)), (p + "ffn_norm.weight", (n_embd,)),
              (p + "ffn_gate.weight", (n_embd, n_ff)), (p + "ffn_up.weight", (n_embd, n_ff)),
              (p + "ffn_down.weight", (n_ff, n_embd))]
    return [MixTensor(name, shape, T.F32) for name, shape in t]


def test_use_more_bits_layers():
    assert [i for i in range(8) if use_more_bits(i, 8)] == [0, 3, 6, 7]
    assert [i for i in range(30) if use_more_bits(i, 30)] == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]


def test_moe_layer_comes_from_the_name():
    tensors = [MixTensor("blk.3.ffn_down_exps.weight", (512, 256, 4), T.F32),
               MixTensor("blk.0.ffn_down_exps.weight", (512, 256, 4), T.F32)]
    types = plan_types(tensors, "Q4_K_M", MixModelParams("qwen2moe", 8, 8, 8, n_expert=4))
    assert types["blk.3.ffn_down_exps.weight"] == T.Q6_K  # layer 3 of 8 gets more bits, whatever the order
    with pytest.raises(QuantizationError, match="layer"):
        plan_types([MixTensor("extra.ffn_down_exps.weight", (512, 256, 4), T.F32)], "Q4_K_M",
                   MixModelParams("qwen2moe", 8, 8, 8, n_expert=4))


def test_pure_skips_the_mix_rules():
    pure = plan_types(llama_tensors(8), "Q4_K_M", MixModelParams("llama", 8, 8, 8), pure=True)
    assert {t for n, t in pure.items() if "norm" not in n and "rope" not in n} == {T.Q4_K}


def test_never_quantized_tensors():
    tensors = [MixTensor("blk.0.attn_q.weight", (256, 1), T.F32),  # effectively 1-D
               MixTensor("position_embd.weight", (256, 512), T.F32),
               MixTensor("blk.0.ssm_conv1d.weight", (4, 256), T.F32),
               MixTensor("blk.0.attn_q.bias", (256, 256), T.F16)]
    types = plan_types(tensors, "Q4_K_M", MixModelParams("llama", 1, 8, 8))
    assert types == {t.name: t.type for t in tensors}


def test_order_and_names():
    names = ["blk.10.a.weight", "blk.9.b.weight", "token_embd.weight", "blk.1.z.weight", "output.weight"]
    assert sorted(names, key=tensor_order_key) == ["output.weight", "token_embd.weight", "blk.1.z.weight",
                                                   "blk.9.b.weight", "blk.10.a.weight"]
    assert get_mix("q4_k_m").name == "Q4_K_M" and get_mix("Q5_K").name == "Q5_K_M"
    with pytest.raises(UnknownTypeError, match="unknown quantization type"):
        get_mix("Q7_K")
    for bad in ("attn_v", "=q8_0", "(=q8_0"):
        with pytest.raises(QuantizationError):
            Override.parse(bad)
    with pytest.raises(UnknownTypeError, match="unknown ggml type 'q9_9'"):
        Override.parse("attn_v=q9_9")


def test_model_info_from_metadata():
    meta = {"general.architecture": "llama", "llama.block_count": 30, "llama.attention.head_count": 9,
            "llama.attention.head_count_kv": [3] * 30}
    info = MixModelParams.from_metadata(meta)
    assert (info.n_layer, info.n_gqa, info.n_expert) == (30, 3, 0)
    with pytest.raises(QuantizationError, match="block_count"):
        MixModelParams.from_metadata({"general.architecture": "llama"})
