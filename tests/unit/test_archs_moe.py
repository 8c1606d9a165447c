"""Qwen3-MoE, Mixtral, SmolLM3, OLMo 2/3: registry, expert stacking and the checkpoint errors they can meet.

Byte-equality with llama.cpp's converter is tests/integration/test_archs_oracle.py; these check the pieces that
digests cannot explain: which checkpoint tensor goes where in a stacked ``ffn_*_exps`` tensor, and that a broken
checkpoint fails with one line naming the problem.
"""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest

from converter.archs import get_architecture, supported_architectures
from converter.errors import CheckpointError
from converter.hf.checkpoint import open_checkpoint
from tests.fixtures.oracle_models import EXPERTS, HIDDEN, MOE_FF, make_oracle_checkpoint


def _arch(model_dir):
    return get_architecture(json.loads((model_dir / "config.json").read_text()), path=model_dir)


@pytest.fixture(scope="module")
def mixtral(tmp_path_factory):
    return make_oracle_checkpoint("mixtral", tmp_path_factory.mktemp("mixtral"))


@pytest.mark.parametrize("hf_name, gguf_name", [
    ("Qwen3MoeForCausalLM", "qwen3moe"), ("MixtralForCausalLM", "llama"), ("SmolLM3ForCausalLM", "smollm3"),
    ("Olmo2ForCausalLM", "olmo2"), ("Olmo3ForCausalLM", "olmo2")])
def test_registry_maps_new_architectures(hf_name, gguf_name):
    assert hf_name in supported_architectures()
    config = {"architectures": [hf_name], "num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 64}
    assert get_architecture(config).name == gguf_name


def test_mixtral_experts_stack_in_expert_order(mixtral):
    arch, ckpt = _arch(mixtral), open_checkpoint(mixtral)
    plan = {t.name: t for t in arch.tensor_plan(ckpt)}
    for gguf_part, hf_part, shape in (("ffn_gate_exps", "w1", (MOE_FF, HIDDEN)),
                                      ("ffn_down_exps", "w2", (HIDDEN, MOE_FF)),
                                      ("ffn_up_exps", "w3", (MOE_FF, HIDDEN))):
        tensor = plan[f"blk.1.{gguf_part}.weight"]
        assert tensor.shape == (EXPERTS, *shape)
        data = tensor.load()
        for x in range(EXPERTS):
            expert = ckpt.load(f"model.layers.1.block_sparse_moe.experts.{x}.{hf_part}.weight")
            np.testing.assert_array_equal(data[x], expert)
    assert not any(".experts." in name for name in plan)
    router = plan["blk.0.ffn_gate_inp.weight"]
    assert router.shape == (EXPERTS, HIDDEN) and arch.keeps_f32(router.name, router.shape)
    assert not arch.keeps_f32("blk.0.ffn_up_exps.weight", (EXPERTS, MOE_FF, HIDDEN))


def test_missing_expert_tensor_is_one_line_error(mixtral, tmp_path):
    from tests.fixtures.safetensors_writer import write_safetensors

    ckpt = open_checkpoint(mixtral)
    weights = {name: ckpt.load(name) for name in ckpt if name != "model.layers.0.block_sparse_moe.experts.2.w3.weight"}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((mixtral / "config.json").read_text())
    write_safetensors(broken / "model.safetensors", weights)
    with pytest.raises(CheckpointError, match="layer 0 has 11 of its 12 expert tensors") as err:
        list(_arch(broken).tensor_plan(open_checkpoint(broken)))
    assert "\n" not in str(err.value)


def test_unknown_gating_function_and_bad_window_are_errors():
    writer = gguf.GGUFWriter(None, "qwen3moe")
    config = {"architectures": ["Qwen3MoeForCausalLM"], "num_hidden_layers": 2, "num_attention_heads": 4,
              "hidden_size": 64, "num_experts": 4, "scoring_func": "relu"}
    with pytest.raises(CheckpointError, match="unsupported expert gating function 'relu'"):
        get_architecture(config).write_metadata(writer)
    config = {"architectures": ["Olmo3ForCausalLM"], "num_hidden_layers": 2, "num_attention_heads": 4,
              "hidden_size": 64, "sliding_window": None}
    with pytest.raises(CheckpointError, match="sliding_window must be a number of tokens"):
        get_architecture(config).write_metadata(gguf.GGUFWriter(None, "olmo2"))


def test_olmo3_default_window_pattern_every_fourth_layer_global():
    config = {"architectures": ["Olmo3ForCausalLM"], "num_hidden_layers": 8, "num_attention_heads": 4,
              "hidden_size": 64, "sliding_window": 4096}
    writer = gguf.GGUFWriter(None, "olmo2")
    get_architecture(config).write_metadata(writer)
    meta = {key: value.value for key, value in writer.kv_data[0].items()}
    assert meta["olmo2.attention.sliding_window"] == 4096
    assert list(meta["olmo2.attention.sliding_window_pattern"]) == [True, True, True, False] * 2


def test_fused_gate_up_with_odd_rows_is_one_line_error(tmp_path):
    from tests.fixtures.safetensors_writer import write_safetensors

    config = {"architectures": ["Qwen3MoeForCausalLM"], "num_hidden_layers": 1, "num_attention_heads": 4,
              "hidden_size": 64, "num_experts": 2}
    (tmp_path / "config.json").write_text(json.dumps(config))
    write_safetensors(tmp_path / "model.safetensors",
                      {"model.layers.0.mlp.experts.gate_up_proj": np.zeros((2, 33, 64), np.float32)})
    with pytest.raises(CheckpointError, match=r"has shape \(2, 33, 64\), expected \(experts, 2 \* n_ff, n_embd\)"):
        list(_arch(tmp_path).tensor_plan(open_checkpoint(tmp_path)))


def _template(single: str, pair: str) -> dict:
    def items(text: str) -> list[dict]:
        return [{"Sequence": {"id": t[1], "type_id": 0}} if t.startswith("$") else
                {"SpecialToken": {"id": t, "type_id": 0}} for t in text.split()]

    return {"type": "TemplateProcessing", "single": items(single), "pair": items(pair)}


@pytest.mark.parametrize("post", [
    _template("<s> $A", "<s> $A <s> $B"),  # Llama 2 / Mistral / Mixtral
    _template("[CLS] $A", "[CLS] $A [SEP] $B"),  # a separator between the pair
    _template("<s> $A </s>", "<s> $A </s> </s> $B </s>"),  # RoBERTa-like templates
    _template("<s> $A", "<s> $A </s> $B"),
    _template("$A </s>", "$A </s> $B </s>"),
])
def test_template_add_flags_match_gguf_py(post, tmp_path):
    """add_bos/eos/sep from a TemplateProcessing post-processor, and their order, as gguf-py's SpecialVocab."""
    from converter.tokenizer.special import read_special_tokens

    names = ["<unk>", "<s>", "</s>", "[CLS]", "[SEP]"]
    added = [{"id": i, "content": t, "special": True} for i, t in enumerate(names)]
    (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": added, "post_processor": post}))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "[SEP]", "cls_token": "[CLS]"}))
    expected = gguf.SpecialVocab(tmp_path, load_merges=False).add_special_token
    ours = read_special_tokens(tmp_path, {}, token_to_id={}, added_tokens={t: i for i, t in enumerate(names)},
                               n_vocab=len(names), post_processor=post).add
    assert list(ours.items()) == list(expected.items())
