"""Mistral 3, LFM2, LFM2-MoE and Qwen3.5 (dense and MoE): registry, what a multimodal checkpoint leaves out,
where the MTP block goes, and the config errors they can meet.

Byte-equality with llama.cpp's converter is tests/integration/test_archs_oracle.py; these check what digests
cannot explain: that the vision tower is dropped rather than misnamed, and that configs Kompakt cannot convert
fail with one line naming the problem.
"""

from __future__ import annotations

import json

import gguf
import pytest

from converter.archs import get_architecture, supported_architectures
from converter.errors import CheckpointError, UnsupportedArchitectureError
from converter.hf.checkpoint import open_checkpoint
from tests.fixtures.oracle_models import make_oracle_checkpoint

_TEXT = {"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 64, "vocab_size": 128}


@pytest.mark.parametrize("hf_name, gguf_name", [
    ("Mistral3ForConditionalGeneration", "mistral3"), ("Ministral3ForCausalLM", "mistral3"),
    ("MistralForCausalLM", "llama"), ("Lfm2ForCausalLM", "lfm2"), ("LFM2ForCausalLM", "lfm2"),
    ("Lfm2MoeForCausalLM", "lfm2moe"), ("Qwen3_5ForCausalLM", "qwen35"),
    ("Qwen3_5ForConditionalGeneration", "qwen35"), ("Qwen3_5MoeForCausalLM", "qwen35moe"),
    ("Qwen3_5MoeForConditionalGeneration", "qwen35moe")])
def test_registry_maps_new_architectures(hf_name, gguf_name):
    assert hf_name in supported_architectures()
    assert get_architecture({"architectures": [hf_name], **_TEXT}).name == gguf_name


def test_lfm2_feed_forward_length_of_the_released_1_2b():
    """LiquidAI's LFM2-1.2B GGUF (made by llama.cpp's converter) has lfm2.feed_forward_length 8192 for
    block_ff_dim 12288, and head_count_kv 0 on its convolution layers."""
    config = {"architectures": ["Lfm2ForCausalLM"], "num_hidden_layers": 3, "num_attention_heads": 32,
              "num_key_value_heads": 8, "hidden_size": 2048, "vocab_size": 65536, "intermediate_size": 12288,
              "block_ff_dim": 12288, "block_auto_adjust_ff_dim": True, "block_ffn_dim_multiplier": 1.0,
              "block_multiple_of": 256, "norm_eps": 1e-5, "conv_L_cache": 3,
              "layer_types": ["conv", "conv", "full_attention"]}
    writer = gguf.GGUFWriter(None, "lfm2")
    get_architecture(config).write_metadata(writer)
    meta = {key: value.value for key, value in writer.kv_data[0].items()}
    assert meta["lfm2.feed_forward_length"] == 8192
    assert list(meta["lfm2.attention.head_count_kv"]) == [0, 0, 8]
    assert meta["lfm2.shortconv.l_cache"] == 3


def test_mistral3_reads_text_config_and_drops_the_vision_tower(tmp_path, smollm2_hf):
    model = make_oracle_checkpoint("mistral3_small", tmp_path / "m", smollm2_dir=smollm2_hf)
    arch = get_architecture(json.loads((model / "config.json").read_text()), path=model)
    ckpt = open_checkpoint(model)
    assert any("vision_tower" in name for name in ckpt) and any("projector" in name for name in ckpt)
    plan = {t.name: t.sources for t in arch.tensor_plan(ckpt)}
    assert plan["output.weight"] == ("language_model.lm_head.weight",)
    assert plan["blk.1.attn_q.weight"] == ("language_model.model.layers.1.self_attn.q_proj.weight",)
    assert not any("vision" in src or "projector" in src for srcs in plan.values() for src in srcs)
    assert arch.block_count == 2 and arch.head_dim == 64


def test_mistral4_and_ministral3_without_yarn_are_one_line_errors():
    config = {"architectures": ["Mistral3ForConditionalGeneration"], "text_config": {**_TEXT,
                                                                                    "model_type": "mistral4"}}
    with pytest.raises(UnsupportedArchitectureError, match="mistral4") as err:
        get_architecture(config)
    assert "\n" not in str(err.value)
    config["text_config"] = {**_TEXT, "model_type": "ministral3", "rope_parameters": {"rope_theta": 1e6}}
    with pytest.raises(CheckpointError, match="ministral3 needs yarn rope_parameters"):
        get_architecture(config).write_metadata(gguf.GGUFWriter(None, "mistral3"))


def test_qwen35_mtp_block_follows_the_decoder_layers(tmp_path, smollm2_hf):
    model = make_oracle_checkpoint("qwen35", tmp_path / "q", smollm2_dir=smollm2_hf)
    arch = get_architecture(json.loads((model / "config.json").read_text()), path=model)
    plan = {t.name: t for t in arch.tensor_plan(open_checkpoint(model))}
    assert arch.block_count == 3
    assert plan["blk.2.nextn.eh_proj.weight"].sources == ("mtp.fc.weight",)
    assert plan["blk.2.nextn.enorm.weight"].sources == ("mtp.pre_fc_norm_embedding.weight",)
    assert plan["blk.2.attn_q.weight"].sources == ("mtp.layers.0.self_attn.q_proj.weight",)
    assert plan["blk.0.ssm_dt.bias"].sources == ("model.language_model.layers.0.linear_attn.dt_bias",)
    assert plan["blk.0.ssm_conv1d.weight"].shape == (512, 4)
    assert not any("visual" in src for t in plan.values() for src in t.sources)
