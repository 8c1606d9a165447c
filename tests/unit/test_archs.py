"""Architecture registry and the Llama family's metadata and weight fixes."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from converter.archs import get_architecture, supported_architectures
from converter.archs.llama import Llama, llama3_rope_factors, permute_qk
from converter.errors import CheckpointError, UnsupportedArchitectureError
from tests.fixtures.smollm2 import _unpermute
from tests.fixtures.tiny_models import tiny_config


def test_registry_and_aliases():
    assert isinstance(get_architecture(tiny_config("llama-tied", )), Llama)
    assert isinstance(get_architecture(tiny_config("llama-tied", architectures=["MistralForCausalLM"])), Llama)
    assert {"LlamaForCausalLM", "MistralForCausalLM"} <= set(supported_architectures())


def test_unsupported_architecture_lists_supported(tmp_path):
    with pytest.raises(UnsupportedArchitectureError) as err:
        get_architecture({"architectures": ["FancyNetForCausalLM"]}, tmp_path)
    msg = str(err.value)
    assert "FancyNetForCausalLM" in msg and "LlamaForCausalLM" in msg and str(tmp_path) in msg
    with pytest.raises(UnsupportedArchitectureError, match="without 'architectures'"):
        get_architecture({"model_type": "llama"})


def test_missing_hyperparameter_names_config(tmp_path):
    config = tiny_config("llama-tied", )
    del config["num_hidden_layers"]
    with pytest.raises(CheckpointError, match="lacks num_hidden_layers") as err:
        get_architecture(config, tmp_path)
    assert str(tmp_path / "config.json") in str(err.value)


def test_permute_inverts_the_fixtures_unpermute():
    w = np.arange(8 * 3 * 2 * 5, dtype=np.float32).reshape(8 * 3 * 2, 5)  # 8 heads of 6 rows
    np.testing.assert_array_equal(permute_qk(_unpermute(w, 8), 8), w)
    b = np.arange(24, dtype=np.float32)  # biases permute the same way
    np.testing.assert_array_equal(permute_qk(b, 4)[:6], [0, 3, 1, 4, 2, 5])


def test_name_mapping_and_f32_rules():
    arch = get_architecture(tiny_config("llama"))
    assert arch.map_name("model.layers.1.self_attn.o_proj.weight") == "blk.1.attn_output.weight"
    assert arch.map_name("lm_head.weight") == "output.weight"
    assert arch.skip("model.layers.0.self_attn.rotary_emb.inv_freq") and not arch.skip("lm_head.weight")
    assert get_architecture(tiny_config("llama-tied", )).skip("lm_head.weight")  # tied
    with pytest.raises(CheckpointError, match="no GGUF name"):
        arch.map_name("model.layers.0.mystery.weight")
    assert arch.keeps_f32("blk.0.attn_norm.weight", (64,)) and arch.keeps_f32("blk.0.attn_q.bias", (64,))
    assert arch.keeps_f32("blk.3.ffn_gate_inp.weight", (8, 64)) and not arch.keeps_f32("blk.0.ffn_up.weight", (8, 64))


def test_metadata_keys_llama_cpp_reads():
    arch = get_architecture(tiny_config("llama-tied", rope_scaling={"type": "linear", "factor": 2.0}))
    w = gguf.GGUFWriter(None, arch.name)
    arch.write_metadata(w)
    kv = {k: v.value for k, v in w.kv_data[0].items()}
    assert kv["llama.rope.scaling.type"] == "linear" and kv["llama.rope.scaling.factor"] == 2.0
    assert kv["llama.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-5)
    assert kv["llama.rope.dimension_count"] == 16 and kv["llama.block_count"] == 2


def test_llama3_rope_freqs():
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 8192}
    arch = get_architecture(tiny_config("llama-tied", rope_scaling=rope, rope_theta=500000.0, hidden=128))
    (planned,) = list(arch.extra_tensors(None))
    assert planned.name == "rope_freqs.weight" and planned.shape == (16,)
    f = planned.load()
    assert f[0] == 1.0 and f[-1] == pytest.approx(8.0) and np.all(np.diff(f) >= 0)
    np.testing.assert_array_equal(f, llama3_rope_factors(base=500000.0, dim=32, factor=8.0, low_freq_factor=1.0,
                                                         high_freq_factor=4.0, old_context_len=8192))
