"""app.runtime.settings: defaults, round trip, migrations, corrupt files, token masking."""

import json

import pytest

from app.runtime import settings as st


def test_defaults_when_missing_and_round_trip(tmp_path):
    path = tmp_path / "s.json"
    s = st.load(path)
    assert s == st.Settings()
    s.threads, s.default_quant, s.kv_type = 3, "Q5_K_M", "q8_0"
    st.save(s, path)
    doc = json.loads(path.read_text())
    assert doc["version"] == st.SCHEMA_VERSION
    assert st.load(path) == s
    assert not list(tmp_path.glob(".*tmp"))


def test_location_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("KOMPAKT_CONFIG_DIR", str(tmp_path / "cfg"))
    assert st.settings_path() == tmp_path / "cfg" / "settings.json"
    monkeypatch.setenv("KOMPAKT_MODELS_DIR", str(tmp_path / "m"))
    assert st.Settings().resolved_models_dir() == tmp_path / "m"
    assert st.Settings(models_dir=str(tmp_path / "x")).resolved_models_dir() == tmp_path / "x"


def test_migrates_version_0_and_1(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"output_dir": "/models", "n_ctx": 2048, "cache_type": "Q8_0", "threads": 2}))
    s = st.load(path)
    assert (s.models_dir, s.context_length, s.kv_type, s.threads, s.gpu_layers) == ("/models", 2048, "q8_0", 2, -1)


def test_newer_or_corrupt_file_is_set_aside(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    assert st.load(path) == st.Settings()
    assert (tmp_path / "s.json.bad").exists() and not path.exists()
    path.write_text(json.dumps({"version": st.SCHEMA_VERSION + 1}))
    assert st.load(path) == st.Settings()


def test_bad_values_fall_back(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"version": st.SCHEMA_VERSION, "threads": "many", "kv_type": "q9", "x": 1}))
    s = st.load(path)
    assert s.kv_type == "f16" and s.threads == st.Settings().threads
    with pytest.raises(ValueError):
        st.save(st.Settings(default_quant="Q9_Z"), path)


def test_masked_token_never_shows_the_secret():
    token = "hf_abcdefghijklmnopqrstuvwxyz1234"
    masked = st.masked_token(token)
    assert masked == "hf_…1234" and "abcdefghijkl" not in masked
    assert st.masked_token(None) == "" and st.masked_token("short") == "•••••"


def _chat_args(*argv: str):
    import argparse

    from app.cli import chat

    parser = argparse.ArgumentParser(prog="kompakt")
    chat.add_parser(parser.add_subparsers())
    return parser.parse_args(["chat", *argv])


def test_kompakt_chat_reads_the_saved_settings(smollm2_gguf):
    from app.cli import chat

    st.save(st.Settings(context_length=1024, kv_type="q8_0", threads=1, temperature=0.2, top_p=0.5,
                        max_tokens=33, system_prompt="Be terse."))
    prefs = st.load()  # from the temporary KOMPAKT_CONFIG_DIR of conftest
    plan, sampling, system = chat._settings(_chat_args(str(smollm2_gguf)), prefs)
    p = plan.params
    assert (p.n_ctx, p.type_k, p.type_v, p.n_threads) == (1024, "q8_0", "q8_0", 1)
    assert (sampling.temperature, sampling.top_p, sampling.max_tokens, system) == (0.2, 0.5, 33, "Be terse.")
    plan, sampling, system = chat._settings(_chat_args(str(smollm2_gguf), "--ctx", "512", "--kv-type", "f16",
                                                       "--temp", "0", "--system", "", "--gpu-layers", "auto"),
                                            prefs)  # explicit flags win
    assert (plan.params.n_ctx, plan.params.type_k, sampling.temperature, system) == (512, "f16", 0.0, "")


@pytest.mark.integration
def test_kompakt_chat_command_uses_the_saved_context(smollm2_gguf, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    st.save(st.Settings(context_length=768, threads=1))
    r = subprocess.run([sys.executable, "-m", "app", "chat", str(smollm2_gguf)], input="/quit\n",
                       capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2],
                       env={**os.environ, "KOMPAKT_DATA_DIR": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert "context 768 tokens" in r.stderr  # llama.cpp's own n_ctx of the loaded context
