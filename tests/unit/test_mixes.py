"""Quantization mixes: hand-checked tensor type maps for small synthetic models (no llama.cpp needed).

The expected types were worked out by hand from llama.cpp's rules (src/llama-quant.cpp); the integration tests
check the same function against llama.cpp itself on SmolLM2.
"""

import pytest
from converter.core.quant_types import QType as T
from converter.core.quant_types import UnknownTypeError, get_mix
from converter.errors import QuantizationError
from converter.mix_rules import use_more_bits
from converter.mixes import MixModelParams, MixTensor, Override, plan_types, tensor_order_key


def llama_tensors(n_layer, n_embd=256, n_ff=512, n_head=8, n_head_kv=8, vocab=1000, tied=True, n_expert=0):
    kv_dim = n_embd * n_head_kv // n_head
    t = [("token_embd.weight", (n_embd, vocab)), ("output_norm.weight", (n_embd,)), ("rope_freqs.weight", (32,))]
    if not tied:
        t.append(("output.weight", (n_embd, vocab)))
    for i in range(n_layer):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", (n_embd,)), (p + "attn_q.weight", (n_embd, n_embd)),
              (p + "attn_k.weight", (n_embd, kv_dim)), (p + "attn_v.weight", (n_embd, kv_dim)),
              (p + "attn_output.weight", (n_embd, n_embd)), (p + "ffn_norm.weight", (n_embd,))]
        if n_expert:
            t += [(p + "ffn_gate_inp.weight", (n_embd, n_expert)),
                  (p + "ffn_gate_exps.weight", (n_embd, n_ff, n_expert)),
                  (p + "ffn_up_exps.weight", (n_embd, n_ff, n_expert)),
                  (p + "ffn_down_exps.weight", (n_ff, n_embd, n_expert))]
        else:
            t += [(p + "ffn_gate.weight", (n_embd, n_ff)), (p + "ffn_up.weight", (n_embd, n_ff)),
                  (p + "ffn_down.weight", (n_ff, n_embd))]
    return [MixTensor(name, shape, T.F32) for name, shape in t]


def plan(mix, n_layer=8, arch="llama", n_head=8, n_head_kv=8, n_expert=0, overrides=(), has_imatrix=False, **kw):
    tensors = llama_tensors(n_layer, n_head=n_head, n_head_kv=n_head_kv, n_expert=n_expert, **kw)
    model = MixModelParams(arch, n_layer, n_head, n_head_kv, n_expert)
    return plan_types(tensors, mix, model, overrides=[Override.parse(o) for o in overrides],
                      has_imatrix=has_imatrix)


def per_layer(types, kind, n_layer=8):
    return [types[f"blk.{i}.{kind}.weight"] for i in range(n_layer)]


def test_use_more_bits_layers():
    assert [i for i in range(8) if use_more_bits(i, 8)] == [0, 3, 6, 7]
    assert [i for i in range(30) if use_more_bits(i, 30)] == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]


def test_q4_k_m_tied_embeddings():
    types = plan("Q4_K_M")
    assert types["token_embd.weight"] == T.Q6_K  # tied: treated as the output matrix
    assert types["output_norm.weight"] == T.F32 and types["rope_freqs.weight"] == T.F32
    more = [T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K, T.Q6_K]
    assert per_layer(types, "attn_v") == more
    assert per_layer(types, "ffn_down") == more
    for kind in ("attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"):
        assert set(per_layer(types, kind)) == {T.Q4_K}, kind
    assert set(per_layer(types, "attn_norm")) == {T.F32}


def test_untied_output_gets_q6_k_and_embeddings_the_default():
    types = plan("Q4_K_M", tied=False)
    assert types["output.weight"] == T.Q6_K
    assert types["token_embd.weight"] == T.Q4_K


@pytest.mark.parametrize("mix, attn_q, attn_v, ffn_down, embd", [
    ("Q4_K_M", T.Q5_0, [T.Q8_0, T.Q5_0], [T.Q6_K, T.Q4_K], T.Q8_0),  # attn_v Q6_K -> Q8_0 on 576 columns
    ("Q4_K_S", T.Q5_0, [T.Q5_1, T.Q5_1], [T.Q5_K, T.Q4_K], T.Q8_0),  # first 4 attn_v Q5_K -> Q5_1
    ("Q5_K_S", T.Q5_1, [T.Q5_1, T.Q5_1], [T.Q5_K, T.Q5_K], T.Q8_0),
    ("Q6_K", T.Q8_0, [T.Q8_0, T.Q8_0], [T.Q6_K, T.Q6_K], T.Q8_0),
    ("Q2_K", T.Q4_0, [T.Q4_0, T.Q4_0], [T.Q3_K, T.Q3_K], T.Q8_0),  # attn_v Q3_K (gqa 3) -> Q4_0
    ("Q3_K_S", T.Q4_0, [T.Q4_0, T.Q4_0], [T.Q3_K, T.Q3_K], T.Q8_0),
    ("Q4_0", T.Q4_0, [T.Q4_0, T.Q4_0], [T.Q4_0, T.Q4_0], T.Q6_K),  # 576 % 256 != 0 but the rule checks Q4_0
])
def test_fallbacks_when_rows_are_not_whole_k_blocks(mix, attn_q, attn_v, ffn_down, embd):
    # SmolLM2-like: 576 columns (not a multiple of 256); ffn_down rows are 1536 wide (a multiple of 256)
    types = plan(mix, n_layer=8, n_embd=576, n_ff=1536, n_head=9, n_head_kv=3)
    assert types["blk.1.attn_q.weight"] == attn_q
    assert [types["blk.0.attn_v.weight"], types["blk.1.attn_v.weight"]] == attn_v
    assert [types["blk.0.ffn_down.weight"], types["blk.1.ffn_down.weight"]] == ffn_down
    if mix == "Q4_0":  # the tied embeddings' Q6_K then falls back to Q8_0
        embd = T.Q8_0
    assert types["token_embd.weight"] == embd


@pytest.mark.parametrize("mix", ["Q4_K_M", "Q8_0", "Q4_0"])
def test_rows_that_fit_no_block_fall_back_to_f16(mix):
    types = plan(mix, n_layer=2, n_embd=100, n_ff=256, n_head=4, n_head_kv=4)
    assert types["blk.0.attn_q.weight"] == T.F16
    assert types["token_embd.weight"] == T.F16
    assert types["blk.0.ffn_down.weight"] != T.F16  # rows of 256 fit


def test_q2_k_attn_v_depends_on_gqa():
    assert set(per_layer(plan("Q2_K", n_head=32, n_head_kv=8, n_embd=512), "attn_v")) == {T.Q4_K}
    low = plan("Q2_K", n_head=8, n_head_kv=8)
    assert set(per_layer(low, "attn_v")) == {T.Q3_K}
    assert set(per_layer(low, "ffn_down")) == {T.Q3_K}
    assert set(per_layer(low, "attn_output")) == {T.Q3_K}
    assert set(per_layer(low, "attn_q")) == {T.Q2_K}


def test_q3_k_variants():
    m = plan("Q3_K_M", n_layer=16)
    assert per_layer(m, "attn_v", 16) == [T.Q5_K, T.Q5_K] + [T.Q4_K] * 14
    assert per_layer(m, "ffn_down", 16) == [T.Q5_K] + [T.Q4_K] * 15
    assert set(per_layer(m, "attn_output", 16)) == {T.Q4_K}
    assert set(per_layer(m, "attn_q", 16)) == {T.Q3_K}
    big = plan("Q3_K_L")
    for kind in ("attn_v", "ffn_down", "attn_output"):
        assert set(per_layer(big, kind)) == {T.Q5_K}
    small = plan("Q3_K_S")
    assert {t for n, t in small.items() if n.startswith("blk.") and "norm" not in n} == {T.Q3_K}


def test_q4_k_s_and_q5_k_m():
    s = plan("Q4_K_S", n_layer=16)
    assert per_layer(s, "attn_v", 16) == [T.Q5_K] * 4 + [T.Q4_K] * 12
    assert per_layer(s, "ffn_down", 16) == [T.Q5_K] * 2 + [T.Q4_K] * 14
    m = plan("Q5_K_M")
    assert per_layer(m, "attn_v") == [T.Q6_K, T.Q5_K, T.Q5_K, T.Q6_K, T.Q5_K, T.Q5_K, T.Q6_K, T.Q6_K]


def test_q4_0_ffn_down_guard_only_with_imatrix():
    assert per_layer(plan("Q4_0", n_layer=16), "ffn_down", 16) == [T.Q4_0] * 16
    assert per_layer(plan("Q4_0", n_layer=16, has_imatrix=True), "ffn_down", 16) == [T.Q4_1] * 2 + [T.Q4_0] * 14
    assert per_layer(plan("Q5_0", n_layer=16, has_imatrix=True), "ffn_down", 16) == [T.Q5_1] * 2 + [T.Q5_0] * 14


def test_eight_expert_moe():
    types = plan("Q4_K_M", n_expert=8)
    assert set(per_layer(types, "attn_v")) == {T.Q8_0}
    assert set(per_layer(types, "attn_k")) == {T.Q8_0}
    assert set(per_layer(types, "attn_output")) == {T.Q5_K}
    assert per_layer(types, "ffn_down_exps") == [T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K, T.Q6_K]
    assert set(per_layer(types, "ffn_gate_inp")) == {T.F32}  # expert router: never quantized


def test_moe_layer_comes_from_the_name():
    tensors = [MixTensor("blk.3.ffn_down_exps.weight", (512, 256, 4), T.F32),
               MixTensor("blk.0.ffn_down_exps.weight", (512, 256, 4), T.F32)]
    types = plan_types(tensors, "Q4_K_M", MixModelParams("qwen2moe", 8, 8, 8, n_expert=4))
    assert types["blk.3.ffn_down_exps.weight"] == T.Q6_K  # layer 3 of 8 gets more bits, whatever the order
    with pytest.raises(QuantizationError, match="layer"):
        plan_types([MixTensor("extra.ffn_down_exps.weight", (512, 256, 4), T.F32)], "Q4_K_M",
                   MixModelParams("qwen2moe", 8, 8, 8, n_expert=4))


def test_70b_and_falcon_rules():
    model = MixModelParams("llama", 80, 64, 8)
    assert model.is_70b and not MixModelParams("llama", 80, 64, 64).is_70b
    v = plan_types([MixTensor("blk.5.attn_v.weight", (8192, 1024), T.F32)], "Q3_K_S", model)
    assert v["blk.5.attn_v.weight"] == T.Q5_K
    falcon = plan("Q4_K_M", arch="falcon", n_layer=32, tied=False)
    assert falcon["output.weight"] == T.Q8_0
    downs = per_layer(falcon, "ffn_down", 32)
    assert downs[:5] == [T.Q6_K, T.Q6_K, T.Q5_K, T.Q5_K, T.Q4_K]  # < n/16, then < n/8 (more bits)


def test_fused_qkv_counts_like_attn_v():
    tensors = [MixTensor(f"blk.{i}.attn_qkv.weight", (256, 768), T.F32) for i in range(8)]
    types = plan_types(tensors, "Q4_K_M", MixModelParams("phi3", 8, 8, 8))
    assert [types[f"blk.{i}.attn_qkv.weight"] for i in range(8)] == \
        [T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K, T.Q6_K]


def test_overrides():
    types = plan("Q4_K_M", overrides=["attn_q=q8_0", "output=q5_k"], tied=False)
    assert set(per_layer(types, "attn_q")) == {T.Q8_0}
    assert types["output.weight"] == T.Q5_K  # an override replaces the mix rule
    # an overridden attn_v is not counted, so the mix's "more bits" pattern shifts (as in llama.cpp)
    shifted = plan("Q4_K_M", overrides=[r"blk\.0\.attn_v=q8_0"])
    assert per_layer(shifted, "attn_v") == [T.Q8_0, T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K, T.Q4_K, T.Q4_K, T.Q6_K]
    # overrides still go through the block-size fallback, and do not apply to float mixes
    assert plan("Q4_K_M", overrides=["attn_q=q6_k"], n_embd=576, n_ff=1536)["blk.0.attn_q.weight"] == T.Q8_0
    assert set(per_layer(plan("F16", overrides=["attn_q=q8_0"]), "attn_q")) == {T.F16}
    assert plan("Q4_K_M", overrides=["norm=q8_0"])["output_norm.weight"] == T.F32  # never-quantized stays


def test_float_mixes_and_pure():
    f16 = plan("F16")
    assert f16["token_embd.weight"] == T.F16 and f16["output_norm.weight"] == T.F32
    assert set(per_layer(f16, "attn_v")) == {T.F16}
    tensors = llama_tensors(8)
    pure = plan_types(tensors, "Q4_K_M", MixModelParams("llama", 8, 8, 8), pure=True)
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
