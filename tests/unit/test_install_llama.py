"""packaging/install_llama.py: which llama.cpp build flags a machine gets, and the cache key that names a build."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installer():
    spec = importlib.util.spec_from_file_location("install_llama", ROOT / "packaging" / "install_llama.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_amx_cpu_builds_without_amx(installer):
    args, reason = installer.build_choice({"avx2", "avx512f", "amx_tile", "amx_int8"}, "x86_64")
    assert args == ["-DCMAKE_C_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16",
                    "-DCMAKE_CXX_FLAGS=-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"]
    assert "AMX" in reason


@pytest.mark.parametrize("flags, machine", [({"avx2", "avx512f"}, "x86_64"), ({"amx_tile"}, "aarch64"),
                                            (set(), "x86_64")])
def test_other_machines_keep_the_default_build(installer, flags, machine):
    assert installer.build_choice(flags, machine)[0] == []


def test_the_pin_comes_from_pyproject_and_flags_change_the_key(installer):
    version = installer.pinned_version()
    assert f'"llama-cpp-python=={version}"' in (ROOT / "pyproject.toml").read_text()
    plain = installer.build_key(version, [])
    assert plain.startswith(version + "-")
    assert installer.build_key(version, ["-DX=1"]) != plain
    assert installer.build_key(version, []) == plain
