"""app.runtime.workflows.model_scan: GGUFs in the models folder and checkpoints in a Hugging Face cache layout."""

from __future__ import annotations

import shutil

from app.runtime.workflows.model_scan import file_type_name, scan_models


def test_scan_finds_gguf_and_cached_checkpoint(tmp_path, smollm2_gguf):
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    shutil.copy(smollm2_gguf, models / "sub" / "a.gguf")
    (models / ".a.gguf.99.tmp").write_bytes(b"x")
    snap = tmp_path / "hub" / "models--org--tiny" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (snap / "model.safetensors").write_bytes(b"\0" * 100)
    (tmp_path / "hub" / "models--org--empty" / "snapshots" / "def").mkdir(parents=True)
    entries = scan_models(models, tmp_path / "hub")
    assert [(e.name, e.kind) for e in entries] == [("a", "gguf"), ("org/tiny", "checkpoint")]
    gguf, ckpt = entries
    assert gguf.quant == "Q4_1" and gguf.architecture == "llama" and gguf.type_label == "GGUF Q4_1"
    assert ckpt.size == 102 and ckpt.type_label == "HF checkpoint"
    assert file_type_name(15) == "Q4_K_M" and file_type_name("x") == ""
    assert scan_models(tmp_path / "missing") == []
