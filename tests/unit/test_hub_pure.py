"""Pure parts of the Hub layer: paths, source resolution, file selection, GGUF quant names. No server."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.runtime import paths
from app.runtime.errors import HubNotFoundError, UnsupportedModelError
from app.runtime.hub.gguf_files import quant_type_from_name
from app.runtime.hub.selection import select_files
from app.runtime.sources import HubRepo, LocalFolder, LocalGGUF, resolve_source


def test_paths_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KOMPAKT_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("KOMPAKT_MODELS_DIR", raising=False)
    assert paths.data_dir() == tmp_path / "d" and paths.models_dir() == tmp_path / "d" / "models"
    monkeypatch.setenv("KOMPAKT_MODELS_DIR", str(tmp_path / "m"))
    assert paths.models_dir() == tmp_path / "m"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    assert paths.hf_hub_cache() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "c"))
    assert paths.hf_hub_cache() == tmp_path / "c"
    monkeypatch.delenv("KOMPAKT_CONFIG_DIR")
    assert paths.config_dir().name == "kompakt"  # platformdirs default


@pytest.mark.parametrize("name, quant", [
    ("Llama-3.2-1B-Instruct-Q4_K_M.gguf", "Q4_K_M"), ("qwen2.5-0.5b-instruct-q8_0.gguf", "Q8_0"),
    ("model.IQ2_XXS.gguf", "IQ2_XXS"), ("m-IQ4_NL.gguf", "IQ4_NL"), ("m.Q4_0_4_4.gguf", "Q4_0_4_4"),
    ("ggml-model-f16.gguf", "F16"), ("x-BF16-00001-of-00003.gguf", "BF16"), ("Q3_K_L/x-00001-of-00002.gguf", "Q3_K_L"),
    ("gpt-oss-20b-MXFP4.gguf", "MXFP4"), ("m-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"), ("m-TQ1_0.gguf", "TQ1_0"),
    ("Q4-not-a-quant.gguf", None), ("model.gguf", None),
])
def test_quant_type_from_file_name(name, quant):
    assert quant_type_from_name(name) == quant


REPO = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "README.md",
        "model.safetensors", "consolidated.safetensors", "pytorch_model.bin", "original/consolidated.00.pth",
        "special_tokens_map.json", "chat_template.jinja", "onnx/model.onnx"]


def test_selection_takes_only_what_the_converter_reads():
    assert select_files(REPO) == ["model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                                  "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"]
    assert select_files(REPO, include=["*.json"]) == ["config.json", "generation_config.json", "tokenizer.json",
                                                       "tokenizer_config.json", "special_tokens_map.json"]


def test_selection_uses_index_shards_and_refuses_pickles():
    names = ["config.json", "model.safetensors.index.json", "model-1.safetensors", "model-2.safetensors",
             "x.safetensors"]
    assert select_files(names, shards=["model-1.safetensors", "model-2.safetensors", "model-1.safetensors"]) == [
        "model-1.safetensors", "model-2.safetensors", "model.safetensors.index.json", "config.json"]
    with pytest.raises(HubNotFoundError, match="shards the repo does not have"):
        select_files(names, shards=["model-3.safetensors"])
    pickled = ["config.json", "pytorch_model.bin"]
    with pytest.raises(UnsupportedModelError, match="pickle"):
        select_files(pickled)
    with pytest.raises(UnsupportedModelError, match="--allow-pickle"):
        select_files(pickled, include=["*.bin"])
    assert select_files(pickled, allow_pickle=True) == ["pytorch_model.bin", "config.json"]
    with pytest.raises(HubNotFoundError, match="matches"):
        select_files(REPO, include=["*.gguf"])


def test_resolve_source(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    gguf = tmp_path / "m.bin"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert resolve_source(str(folder)) == LocalFolder(folder.resolve())
    assert resolve_source(str(folder / "config.json")) == LocalFolder(folder.resolve())
    assert resolve_source(f'"{gguf}"') == LocalGGUF(gguf.resolve())  # by magic, whatever the suffix
    assert resolve_source("HuggingFaceTB/SmolLM2-135M-Instruct") == HubRepo("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert resolve_source("acme/m@v1.0") == HubRepo("acme/m", "v1.0")
    assert resolve_source("https://huggingface.co/acme/m/tree/dev") == HubRepo("acme/m", "dev")
    assert resolve_source("hf://acme/m") == HubRepo("acme/m")
    for bad, msg in [("", "no model"), (str(tmp_path / "missing.gguf"), "no such file"),
                     ("just-a-name", "neither"), ("https://huggingface.co/datasets/x/y", "neither")]:
        with pytest.raises(ValueError, match=msg):
            resolve_source(bad)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a GGUF"):
        resolve_source(str(text))
    assert isinstance(resolve_source(str(Path(folder))), LocalFolder)


def test_support_check_asks_the_real_registry(smollm2_hf):
    import json

    from app.runtime.hub.support import support_problem

    config = json.loads((smollm2_hf / "config.json").read_text())
    assert support_problem(config) is None
    problem = support_problem({**config, "architectures": ["SurelyUnknownForCausalLM"], "model_type": "surely_unknown"})
    assert problem == "Kompakt's converter does not support the SurelyUnknownForCausalLM architecture"


def test_support_check_treats_an_unusable_config_as_unsupported(monkeypatch):
    import sys
    import types

    from app.runtime.hub.support import support_problem
    from converter.errors import CheckpointError

    registry = types.ModuleType("converter.archs")

    def get_architecture(config, path):
        raise CheckpointError("config.json lacks num_hidden_layers", path=path)

    registry.get_architecture = get_architecture  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "converter.archs", registry)
    assert support_problem({"architectures": ["LlamaForCausalLM"]}) == (
        "Kompakt's converter knows LlamaForCausalLM but cannot use this config.json: "
        "config.json lacks num_hidden_layers")


@pytest.mark.parametrize("repo, queries", [
    ("Qwen/Qwen3-30B-A3B-Instruct-2507", ["Qwen3-30B-A3B-Instruct-2507", "Qwen3-30B-A3B-Instruct", "Qwen3-30B-A3B"]),
    ("openai/gpt-oss-20b", ["gpt-oss-20b", "gpt-oss"]),
    ("acme/Fancy-7B", ["Fancy-7B"]),
    ("acme/phi", ["phi"]),
])
def test_family_queries_go_from_the_full_name_to_shorter_prefixes(repo, queries):
    from app.runtime.hub.alternatives import family_queries

    assert family_queries(repo) == queries
