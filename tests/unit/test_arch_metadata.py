"""Architectures beyond Llama: registry, GGUF metadata keys, weight fixes, SentencePiece vocabularies.

No llama.cpp here: the tiny random checkpoints of tests/fixtures/tiny_models.py are read with the converter's own
pieces and the GGUF metadata is collected in a gguf.GGUFWriter that never touches the disk.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import gguf
import numpy as np
import pytest

from converter.archs import get_architecture, supported_architectures
from converter.errors import CheckpointError, TokenizerError, UnsupportedArchitectureError
from converter.hf.checkpoint import open_checkpoint
from converter.tokenizer import load_tokenizer
from converter.tokenizer.vocab import TokenType
from tests.fixtures.tiny_models import tiny_model, train_sentencepiece

SP_ARCHS = ("mistral", "gemma", "gemma2", "gemma3", "phi3")


def _metadata(arch) -> dict:
    writer = gguf.GGUFWriter(None, arch.name)
    arch.write_metadata(writer)
    return {key: value.value for key, value in writer.kv_data[0].items()}


def _arch(model_dir: Path):
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return get_architecture(config, path=model_dir), config


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """SentencePiece-tokenized tiny checkpoints by name (the BPE ones need the SmolLM2 fixture)."""
    root = tmp_path_factory.mktemp("tiny")
    return {name: tiny_model(name, root / name) for name in SP_ARCHS}


@pytest.mark.parametrize("hf_name, gguf_name", [
    ("Qwen2ForCausalLM", "qwen2"), ("Qwen3ForCausalLM", "qwen3"), ("GemmaForCausalLM", "gemma"),
    ("Gemma2ForCausalLM", "gemma2"), ("Gemma3ForCausalLM", "gemma3"), ("Gemma3ForConditionalGeneration", "gemma3"),
    ("Phi3ForCausalLM", "phi3"), ("MistralForCausalLM", "llama"), ("LlamaForCausalLM", "llama")])
def test_registry_maps_hf_names(hf_name, gguf_name):
    assert hf_name in supported_architectures()
    config = {"architectures": [hf_name], "num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 64}
    assert get_architecture(config).name == gguf_name


def test_unsupported_architecture_names_the_supported_ones():
    with pytest.raises(UnsupportedArchitectureError) as err:
        get_architecture({"architectures": ["MambaForCausalLM"], "num_hidden_layers": 2}, path="/models/m")
    assert isinstance(err.value, ValueError)
    message = str(err.value)
    assert "MambaForCausalLM" in message and "Qwen3ForCausalLM" in message and "Gemma2ForCausalLM" in message
    assert "\n" not in message


def test_gemma2_metadata(tiny):
    arch, config = _arch(tiny["gemma2"])
    meta = _metadata(arch)
    assert meta["gemma2.attn_logit_softcapping"] == pytest.approx(config["attn_logit_softcapping"])
    assert meta["gemma2.final_logit_softcapping"] == pytest.approx(config["final_logit_softcapping"])
    assert meta["gemma2.attention.sliding_window"] == config["sliding_window"]
    assert meta["gemma2.attention.key_length"] == meta["gemma2.attention.value_length"] == config["head_dim"]
    assert meta["gemma2.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-6)
    assert meta["gemma2.block_count"] == 2 and meta["gemma2.embedding_length"] == 64
    # even layers local, odd global: llama.cpp's own default for gemma2, so no pattern key
    assert "gemma2.attention.sliding_window_pattern" not in meta


def test_gemma3_metadata_writes_non_default_window_pattern_and_both_rope_bases(tiny):
    arch, config = _arch(tiny["gemma3"])
    meta = _metadata(arch)
    assert meta["gemma3.rope.freq_base"] == pytest.approx(1e6)
    assert meta["gemma3.rope.freq_base_swa"] == pytest.approx(1e4)
    assert meta["gemma3.rope.scaling.type"] == "linear" and meta["gemma3.rope.scaling.factor"] == pytest.approx(8)
    assert meta["gemma3.attention.sliding_window"] == 8
    assert list(meta["gemma3.attention.sliding_window_pattern"]) == [True, False]  # period 2, not llama.cpp's 6
    assert "gemma3.attn_logit_softcapping" not in meta and "gemma3.final_logit_softcapping" not in meta
    assert meta["gemma3.attention.head_count_kv"] == 2


def test_gemma3_multimodal_config_uses_text_config_and_defaults():
    config = {"architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3",
              "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 34,
                              "rope_scaling": {"rope_type": "linear", "factor": 8.0}, "sliding_window": 1024},
              "vision_config": {"hidden_size": 1152}}
    arch = get_architecture(config)
    meta = _metadata(arch)
    assert meta["gemma3.embedding_length"] == 2560 and meta["gemma3.block_count"] == 34
    assert meta["gemma3.context_length"] == 131072 and meta["gemma3.attention.key_length"] == 256
    assert meta["gemma3.attention.head_count"] == 8 and meta["gemma3.attention.head_count_kv"] == 4
    assert "gemma3.attention.sliding_window_pattern" not in meta  # 5 local : 1 global is llama.cpp's default
    assert arch.skip("vision_tower.vision_model.embeddings.patch_embedding.weight")
    assert arch.skip("multi_modal_projector.mm_input_projection_weight")
    assert arch.map_name("language_model.model.layers.3.self_attn.q_norm.weight") == "blk.3.attn_q_norm.weight"
    assert arch.map_name("model.language_model.layers.0.mlp.down_proj.weight") == "blk.0.ffn_down.weight"


def test_phi3_metadata_and_longrope_factor_tensors(tiny):
    arch, config = _arch(tiny["phi3"])
    meta = _metadata(arch)
    assert meta["phi3.context_length"] == 128 and meta["phi3.rope.scaling.original_context_length"] == 32
    assert meta["phi3.rope.dimension_count"] == 16 and meta["phi3.attention.sliding_window"] == 0
    assert meta["phi3.rope.scaling.attn_factor"] == pytest.approx(math.sqrt(1 + math.log(4) / math.log(32)))
    assert "phi3.attention.key_length" not in meta  # llama.cpp's Phi-3 converter writes no common keys
    names = [t.name for t in arch.tensor_plan(open_checkpoint(tiny["phi3"]))]
    assert names[:2] == ["rope_factors_long.weight", "rope_factors_short.weight"]
    assert "blk.0.attn_qkv.weight" in names and "blk.0.ffn_up.weight" in names and "output.weight" in names
    plan = {t.name: t for t in arch.tensor_plan(open_checkpoint(tiny["phi3"]))}
    np.testing.assert_array_equal(plan["rope_factors_long.weight"].load(),
                                  np.asarray(config["rope_scaling"]["long_factor"], dtype=np.float32))
    assert plan["blk.1.ffn_up.weight"].shape == (256, 64)  # gate and up stay fused: 2 * intermediate rows


def test_phi3_rejects_wrong_number_of_rope_factors(tiny):
    config = json.loads((tiny["phi3"] / "config.json").read_text())
    config["rope_scaling"]["long_factor"] = config["rope_scaling"]["long_factor"][:-1]
    arch = get_architecture(config, path=tiny["phi3"])
    with pytest.raises(CheckpointError, match="long_factor must list 8 factors"):
        list(arch.tensor_plan(open_checkpoint(tiny["phi3"])))


def test_gemma_weight_fixes(tiny):
    arch, _ = _arch(tiny["gemma"])
    ckpt = open_checkpoint(tiny["gemma"])
    plan = {t.name: t for t in arch.tensor_plan(ckpt)}
    assert "output.weight" not in plan  # the embedding is the output projection
    np.testing.assert_array_equal(plan["blk.0.attn_norm.weight"].load(),
                                  ckpt.load("model.layers.0.input_layernorm.weight") + np.float32(1))
    np.testing.assert_array_equal(plan["output_norm.weight"].load(), ckpt.load("model.norm.weight") + np.float32(1))
    np.testing.assert_array_equal(plan["blk.1.attn_q.weight"].load(), ckpt.load("model.layers.1.self_attn.q_proj.weight"))


def test_gemma3_norms_include_qk_norms(tiny):
    arch, _ = _arch(tiny["gemma3"])
    ckpt = open_checkpoint(tiny["gemma3"])
    plan = {t.name: t for t in arch.tensor_plan(ckpt)}
    for gguf_name, hf_name in (("blk.0.attn_q_norm.weight", "model.layers.0.self_attn.q_norm.weight"),
                               ("blk.0.post_ffw_norm.weight", "model.layers.0.post_feedforward_layernorm.weight"),
                               ("blk.0.post_attention_norm.weight", "model.layers.0.post_attention_layernorm.weight"),
                               ("blk.0.ffn_norm.weight", "model.layers.0.pre_feedforward_layernorm.weight")):
        np.testing.assert_array_equal(plan[gguf_name].load(), ckpt.load(hf_name) + np.float32(1))


def test_sentencepiece_token_types_phi3(tiny):
    config = json.loads((tiny["phi3"] / "config.json").read_text())
    vocab = load_tokenizer(tiny["phi3"], config, prefer="sentencepiece")
    assert vocab.model == "llama" and vocab.pre == "default"
    assert len(vocab) == len(vocab.scores) == len(vocab.token_types) == config["vocab_size"] == 352
    t = vocab.token_types
    # tokenizer_config marks <unk>/<s> special: control, like llama.cpp's converter; </s> is not special
    assert (vocab.tokens[0], t[0]) == ("<unk>", TokenType.CONTROL)
    assert (vocab.tokens[2], t[2]) == ("</s>", TokenType.USER_DEFINED)
    assert vocab.tokens[3] == "<0x00>" and t[3] == TokenType.BYTE and t[258] == TokenType.BYTE
    assert t[300] == TokenType.NORMAL and vocab.scores[300] < 0
    assert (vocab.tokens[320], t[320], vocab.scores[320]) == ("<|endoftext|>", TokenType.CONTROL, -1000.0)
    assert t[322] == TokenType.CONTROL  # not flagged special, but <|...|> looks special
    assert (vocab.tokens[330], t[330], vocab.scores[330]) == ("[PAD330]", TokenType.UNUSED, -10000.0)
    assert vocab.special_ids["bos"] == 1 and vocab.special_ids["eos"] == 320 and vocab.special_ids["unk"] == 0
    assert vocab.add_special == {"bos": False, "eos": False}
    assert "<|assistant|>" in vocab.chat_template


def test_sentencepiece_gemma_vocab(tiny):
    config = json.loads((tiny["gemma"] / "config.json").read_text())
    arch = get_architecture(config, path=tiny["gemma"])
    vocab = load_tokenizer(tiny["gemma"], config, prefer=arch.tokenizer_kind)
    arch.adjust_vocab(vocab)
    assert vocab.tokens[:6] == ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    assert vocab.token_types[3] == TokenType.CONTROL  # marked special in added_tokens_decoder
    assert vocab.special_ids == {"bos": 2, "eos": 1, "pad": 0, "unk": 3, "eot": 5}
    assert vocab.add_space_prefix is False and vocab.add_special["bos"] is True


def test_sentencepiece_plain_model_types(tmp_path):
    """Without side files every type comes from the model itself, including an UNKNOWN and user-defined pieces."""
    (tmp_path / "tokenizer.model").write_bytes(train_sentencepiece(vocab_size=300, user_defined=("<tool>",)))
    vocab = load_tokenizer(tmp_path, {}, prefer="sentencepiece")
    assert len(vocab) == 300
    assert vocab.token_types[:4] == [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL, TokenType.NORMAL]
    assert vocab.tokens[3] == "<tool>"
    assert vocab.special_ids == {"unk": 0}


def test_sentencepiece_broken_model_is_a_tokenizer_error(tmp_path):
    (tmp_path / "tokenizer.model").write_bytes(b"\x00not a sentencepiece model" * 10)
    with pytest.raises(TokenizerError, match="tokenizer.model"):
        load_tokenizer(tmp_path, {}, prefer="sentencepiece")


def test_convert_refuses_unsupported_architecture_and_writes_nothing(tiny, tmp_path):
    from converter.convert import convert

    model_dir = tmp_path / "mamba"
    model_dir.mkdir()
    for f in tiny["mistral"].iterdir():
        (model_dir / f.name).write_bytes(f.read_bytes())
    config = json.loads((model_dir / "config.json").read_text())
    config.update(architectures=["MambaForCausalLM"], model_type="mamba")
    (model_dir / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out" / "m.gguf"
    out.parent.mkdir()
    with pytest.raises(UnsupportedArchitectureError, match="MambaForCausalLM"):
        convert(model_dir, out, "f16")
    assert list(out.parent.iterdir()) == []


def test_phi3_without_long_context_needs_no_rope_tables(tiny):
    config = json.loads((tiny["phi3"] / "config.json").read_text())
    del config["original_max_position_embeddings"]
    config["rope_scaling"] = None
    arch = get_architecture(config, path=tiny["phi3"])
    meta = _metadata(arch)
    assert meta["phi3.rope.scaling.original_context_length"] == meta["phi3.context_length"] == 128
    assert "phi3.rope.scaling.attn_factor" not in meta
    assert not any(t.name.startswith("rope_factors") for t in arch.tensor_plan(open_checkpoint(tiny["phi3"])))
    config["rope_scaling"] = {"type": "longrope", "long_factor": [1.0] * 8, "short_factor": [1.0] * 8}
    with pytest.raises(CheckpointError, match="original_max_position_embeddings"):
        _metadata(get_architecture(config, path=tiny["phi3"]))
