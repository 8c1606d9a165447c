"""A mixture-of-experts repo on the (local, fake) Hub, through the ``kompakt`` command as a user runs it:
info -> fit from the headers alone -> download -> one-pass Q4_K_M -> a one-line chat answer. And a repo Kompakt
cannot convert: ``kompakt info`` names the ready-made GGUF of the same model that the Hub also serves.

The checkpoint is the tiny Qwen3-MoE whose conversion tests/integration/test_archs_oracle.py checks against
llama.cpp's own converter; here the one-pass Q4_K_M made from the downloaded copy is compared, byte for byte,
with what ``llama_model_quantize`` makes of the F32 conversion of the same copy.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from tests.fixtures.fake_hub import fake_hub  # noqa: F401 - pytest fixture
from tests.fixtures.hub_repos import sha256, tiny_repo
from tests.fixtures.oracle_models import make_oracle_checkpoint

pytestmark = pytest.mark.integration

MOE = "acme/Qwen3-MoE-Tiny"


@pytest.fixture
def moe_repo(fake_hub, smollm2_hf, tmp_path_factory) -> Path:
    checkpoint = make_oracle_checkpoint("qwen3moe", tmp_path_factory.mktemp("qwen3moe"), smollm2_dir=smollm2_hf)
    fake_hub.add_repo(MOE, checkpoint, downloads=10, card_data={"license": "apache-2.0"})
    return checkpoint


def _ok(result) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_moe_repo_info_fit_download_convert_chat(moe_repo, fake_hub, kompakt, tmp_path):
    from converter.gguf_in import read_gguf
    from tests.fixtures.llama import quantize_with_llama_cpp

    out = _ok(kompakt("info", MOE)).splitlines()
    assert "architecture: Qwen3MoeForCausalLM" in out[1] and out[1].endswith("converts: yes"), out
    assert out[2] == f"Kompakt can convert {MOE} (Qwen3MoeForCausalLM).", out

    weights = moe_repo / "model.safetensors"
    header = 8 + struct.unpack("<Q", weights.read_bytes()[:8])[0]
    before = len(fake_hub.requests)
    fit = json.loads(_ok(kompakt("fit", MOE, "--type", "q4_k_m", "--ctx", "512", "--json")))
    assert fit["verdict"] in ("cpu_only", "fits", "partial") and fit["ctx"] == 512 and fit["n_layer"] == 2
    weight_gets = [rng for (method, path, rng, _) in fake_hub.requests[before:]
                   if method == "GET" and ("/cdn/" in path or path.endswith(".safetensors"))]
    assert weight_gets and all(rng is not None for rng in weight_gets), weight_gets  # ranges only
    assert fake_hub.served("model.safetensors") <= header < weights.stat().st_size // 10  # the header, no weights

    snapshot = Path(_ok(kompakt("download", MOE)).strip().splitlines()[-1])
    assert sha256(snapshot / "model.safetensors") == sha256(weights)

    ours, f32, ref = tmp_path / "moe-Q4_K_M.gguf", tmp_path / "moe-F32.gguf", tmp_path / "ref-Q4_K_M.gguf"
    _ok(kompakt("convert", snapshot, "-o", ours, "-t", "q4_k_m", "-q"))
    _ok(kompakt("convert", snapshot, "-o", f32, "-t", "f32", "-q"))
    quantize_with_llama_cpp(f32, ref, "Q4_K_M", threads=2)
    mine, theirs = read_gguf(ours), read_gguf(ref)
    assert [(t.name, t.qtype.name) for t in mine.tensors] == [(t.name, t.qtype.name) for t in theirs.tensors]
    assert ours.read_bytes() == ref.read_bytes()
    tensor_bytes = sum(t.nbytes for t in theirs.tensors)
    assert abs(fit["model_bytes"] - tensor_bytes) <= max(0.03 * tensor_bytes, 16 << 20)  # issue 13's fit bound

    chat = kompakt("chat", ours, "--max-tokens", "4", "--temp", "0", "--ctx", "256", input="Hello\n")
    assert chat.returncode == 0, chat.stderr
    assert "answer 4 tok" in chat.stdout + chat.stderr, (chat.stdout, chat.stderr)


def test_unsupported_repo_names_the_gguf_of_the_same_model(fake_hub, kompakt):
    fancy = "acme/Fancy-MoE-7B-Instruct"
    fake_hub.add_repo(fancy, tiny_repo(config={"architectures": ["FancyMoeForCausalLM"], "model_type": "fancy"}),
                      downloads=5000)
    gguf = {"Fancy-MoE-7B-Q4_K_M.gguf": b"GGUF" + bytes(60), "README.md": b"# gguf\n"}
    fake_hub.add_repo("bart/Fancy-MoE-7B-GGUF", gguf, downloads=900, library_name="gguf", tags=["gguf"])
    fake_hub.add_repo("acme/Fancy-MoE-7B-GGUF", gguf, downloads=5, library_name="gguf", tags=["gguf"])
    fake_hub.add_repo("zed/Fancy-MoE-GGUF", gguf, downloads=99_000, library_name="gguf", tags=["gguf"])  # other size
    fake_hub.add_repo("bart/Other-7B-GGUF", gguf, downloads=99_000, library_name="gguf", tags=["gguf"])

    out = _ok(kompakt("info", fancy)).splitlines()
    assert "architecture: FancyMoeForCausalLM" in out[1] and out[1].endswith("converts: no"), out
    assert out[2] == "Kompakt's converter does not support the FancyMoeForCausalLM architecture.", out
    # the same owner's upload first, then by downloads; the 7B's name prefix, not the family's shorter one
    assert out[3] == "Ready-made GGUF of this model: acme/Fancy-MoE-7B-GGUF (5 downloads), " \
                     "bart/Fancy-MoE-7B-GGUF (900 downloads)", out
    supported = out[4].removeprefix("Supported architectures: ").split(", ")
    assert out[4].startswith("Supported architectures: ") and {"LlamaForCausalLM", "Qwen3MoeForCausalLM"} <= set(
        supported), out

    r = kompakt("download", fancy)
    assert r.returncode == 1 and f"`kompakt info {fancy}` names ready-made GGUF alternatives" in r.stderr, r.stderr
    assert set(fake_hub.bytes_by_file) == {"config.json"}  # refused before any weight
