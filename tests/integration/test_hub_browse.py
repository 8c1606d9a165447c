"""Search, model info, GGUF listings and remote safetensors headers against the local fake Hub."""

from __future__ import annotations

import json

import pytest

from app.runtime.errors import HubAuthError, HubNotFoundError
from app.runtime.hub import list_gguf_files, model_info, remote_checkpoint_meta, search_models, support_report
from tests.fixtures.fake_hub import fake_hub  # noqa: F401 - pytest fixture
from tests.fixtures.hub_repos import tiny_repo


@pytest.fixture
def catalogue(fake_hub):
    fake_hub.add_repo("acme/llama-tiny", tiny_repo(), downloads=500, trending_score=1.0,
                      card_data={"license": "apache-2.0"})
    fake_hub.add_repo("acme/fancy-tiny", tiny_repo(config={"architectures": ["FancyForCausalLM"]}),
                      downloads=100, trending_score=9.0, card_data={"license": "mit"})
    fake_hub.add_repo("meta/llama-tiny-gated", tiny_repo(), downloads=50, gated="manual", token="hf_ok",
                      card_data={"license": "llama3.2"})
    fake_hub.add_repo("acme/tiny-vision", tiny_repo(), pipeline_tag="image-text-to-text", downloads=10_000)
    fake_hub.add_repo("bart/llama-tiny-GGUF", {
        "llama-tiny-Q4_K_M.gguf": b"GGUF" + bytes(3000),
        "llama-tiny.Q8_0.gguf": b"GGUF" + bytes(6000),
        "BF16/llama-tiny-BF16-00001-of-00002.gguf": b"GGUF" + bytes(5000),
        "BF16/llama-tiny-BF16-00002-of-00002.gguf": b"GGUF" + bytes(5000),
        "mmproj-llama-tiny-f16.gguf": b"GGUF" + bytes(100),
        "README.md": b"hi",
    }, downloads=300, library_name="gguf", tags=["gguf"], card_data={"license": "apache-2.0"})
    return fake_hub


def test_search_parses_and_sorts_text_generation_models(catalogue):
    results = search_models("tiny", sort="downloads", limit=10)
    assert [r.repo_id for r in results] == ["acme/llama-tiny", "bart/llama-tiny-GGUF", "acme/fancy-tiny",
                                            "meta/llama-tiny-gated"]  # the vision model is filtered out
    llama, gguf, fancy, gated = results
    assert (llama.parameters, llama.license, llama.gated, llama.pipeline_tag) == (
        1024 * 64 + 64, "apache-2.0", False, "text-generation")
    assert (llama.architecture, llama.supported) == ("LlamaForCausalLM", True)
    assert (fancy.architecture, fancy.supported) == ("FancyForCausalLM", False)
    assert gated.gated and gated.supported is None and gated.license == "llama3.2"  # config.json is gated too
    assert gguf.is_gguf and gguf.supported is None
    by_trend = search_models("tiny", sort="trending", limit=2, check_support=False)
    assert [r.repo_id for r in by_trend] == ["acme/fancy-tiny", "acme/llama-tiny"]
    q = [p for (_, p, _, _) in catalogue.requests if p.startswith("/api/models?")][-1]
    assert "sort=trendingScore" in q and "pipeline_tag=text-generation" in q and "limit=2" in q
    assert [r.repo_id for r in search_models("tiny", gguf=True)] == ["bart/llama-tiny-GGUF"]
    with pytest.raises(ValueError, match="unknown sort"):
        search_models("tiny", sort="best")  # type: ignore[arg-type]


def test_model_info_lists_files_with_sizes(catalogue):
    d = model_info("acme/llama-tiny")
    sizes = {f.name: f.size for f in d.files}
    files = tiny_repo()
    assert sizes["config.json"] == len(files["config.json"])
    assert sizes["model.safetensors"] == len(files["model.safetensors"])
    assert d.architecture == "LlamaForCausalLM" and d.supported is True and d.license == "apache-2.0"
    assert d.parameters == 1024 * 64 + 64 and not d.gated and d.sha and len(d.sha) == 40
    assert d.safetensors_bytes == sizes["model.safetensors"]
    gated = model_info("meta/llama-tiny-gated")
    assert gated.gated and gated.supported is None
    with pytest.raises(HubNotFoundError):
        model_info("acme/missing")


def test_support_report_before_download(catalogue):
    fancy = support_report("acme/fancy-tiny")
    assert (fancy.supported, fancy.architecture) == (False, "FancyForCausalLM")
    assert [a.repo_id for a in fancy.alternatives] == []  # no GGUF repo's name holds "fancy-tiny"
    assert fancy.lines()[1] == "No ready-made GGUF of this model was found on the Hub."
    assert "LlamaForCausalLM" in fancy.supported_architectures
    gated = support_report("meta/llama-tiny-gated")
    assert gated.supported is None and gated.lines() == [
        "Whether Kompakt can convert it is unknown: the repo is gated (request access, then `kompakt login`)."]
    gguf = support_report("bart/llama-tiny-GGUF")
    assert gguf.supported is None and not gguf.alternatives
    assert gguf.verdict == "The repo holds ready-made GGUF files: nothing to convert, download one of them."
    llama = support_report("acme/llama-tiny")
    assert llama.lines() == ["Kompakt can convert acme/llama-tiny (LlamaForCausalLM)."] and not llama.alternatives


def test_gguf_listing_reads_quant_types_and_groups_shards(catalogue):
    listing = list_gguf_files("bart/llama-tiny-GGUF")
    assert [(g.quant, g.size, g.is_split, g.projector) for g in listing] == [
        ("Q4_K_M", 3004, False, False), ("Q8_0", 6004, False, False), ("BF16", 10008, True, False),
        ("F16", 104, False, True)]
    assert listing[2].files == ("BF16/llama-tiny-BF16-00001-of-00002.gguf", "BF16/llama-tiny-BF16-00002-of-00002.gguf")


def test_remote_checkpoint_meta_reads_only_headers(fake_hub, smollm2_hf):
    fake_hub.add_repo("acme/smol", smollm2_hf)
    config, tensors = remote_checkpoint_meta("acme/smol")
    assert config == json.loads((smollm2_hf / "config.json").read_text())
    assert len(tensors) == 272 and ("model.embed_tokens.weight", "BF16", (49152, 576)) in tensors
    weights = (smollm2_hf / "model.safetensors").stat().st_size
    assert fake_hub.served("model.safetensors") < 64 * 1024 < weights // 1000  # header only, not the weights
    ranges = [r for (m, p, r, _) in fake_hub.requests if m == "GET" and "safetensors" in p and "/cdn/" in p]
    assert ranges[0] == "bytes=0-7" and ranges[1].startswith("bytes=8-") and len(ranges) == 2


def test_remote_checkpoint_meta_follows_the_shard_index(fake_hub):
    fake_hub.add_repo("acme/sharded", tiny_repo(sharded=True))
    config, tensors = remote_checkpoint_meta("acme/sharded")
    assert config["model_type"] == "llama"
    assert tensors == [("a.weight", "F32", (1024, 64)), ("b.weight", "F32", (64,))]


def test_remote_checkpoint_meta_on_gated_repo(fake_hub):
    fake_hub.add_repo("meta/gated", tiny_repo(), gated="auto", token="hf_ok")
    with pytest.raises(HubAuthError, match="gated"):
        remote_checkpoint_meta("meta/gated")
    config, tensors = remote_checkpoint_meta("meta/gated", token="hf_ok")
    assert len(tensors) == 2
