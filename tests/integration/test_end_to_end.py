"""The whole path a user takes, against the local fake Hub: estimate from the Hub, download, convert + quantize
in one pass, and chat with the result — through the same CLI commands a person types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures.fake_hub import fake_hub  # noqa: F401 - pytest fixture

pytestmark = pytest.mark.integration
REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_hub_to_quantized_gguf_to_chat(fake_hub, kompakt, smollm2_hf, tmp_path):
    from gguf import GGUFReader

    fake_hub.add_repo(REPO, smollm2_hf, card_data={"license": "apache-2.0"})

    # 1. Will it fit? From the Hub's metadata alone (config + safetensors headers), nothing downloaded.
    fit = kompakt("fit", REPO, "--type", "Q4_K_M", "--ctx", "1024", "--json")
    assert fit.returncode == 0, fit.stderr
    estimate = json.loads(fit.stdout)
    assert fake_hub.served("model.safetensors") < 1 << 20  # headers only

    # 2. Download only what the conversion needs.
    dl = kompakt("download", REPO)
    assert dl.returncode == 0, dl.stderr
    snapshot = Path(dl.stdout.strip().splitlines()[-1])
    assert (snapshot / "model.safetensors").is_file() and not (snapshot / "README.md").exists()

    # 3. Convert + quantize in one pass.
    out = tmp_path / "smollm2-Q4_K_M.gguf"
    conv = kompakt("convert", str(snapshot), "-o", str(out), "--type", "Q4_K_M")
    assert conv.returncode == 0, conv.stderr
    reader = GGUFReader(out)
    types = {t.tensor_type.name for t in reader.tensors}
    assert "Q4_K" in types or "Q5_0" in types  # SmolLM2's 576-wide rows fall back from Q4_K to Q5_0

    # The estimate made before downloading knew the exact per-tensor types and sizes of the file we just wrote.
    fit_file = kompakt("fit", str(out), "--ctx", "1024", "--json")
    assert fit_file.returncode == 0, fit_file.stderr
    actual = json.loads(fit_file.stdout)
    for key in ("model_bytes", "kv_bytes", "compute_bytes", "output_bytes"):
        assert estimate[key] == actual[key], key

    # 4. Chat with it (the same estimator picks the context; the answer streams back).
    chat = kompakt("chat", str(out), "--threads", "2", "--ctx", "512", "--temp", "0", "--max-tokens", "16",
                   input="What is the capital of France?\n/quit\n")
    assert chat.returncode == 0, chat.stderr
    assert "tok/s" in chat.stdout + chat.stderr
