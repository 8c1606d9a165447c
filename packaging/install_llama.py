#!/usr/bin/env python3
"""Build and install the llama-cpp-python that suits this machine, once, into the running Python environment.

The README's first command and ``tests/run.sh`` call this before ``pip install -e .``: pip would otherwise build
llama-cpp-python with its defaults, which is not always a build that runs here. Today it decides one thing:

- **x86-64 CPUs that advertise AMX** (Xeon Sapphire Rapids and later): ``-march=native`` turns on llama.cpp's AMX
  matrix kernels, and those die with an illegal instruction wherever the kernel or hypervisor does not grant the
  AMX tile state (seen on cloud VMs). The build turns AMX off (``-mno-amx-*``); every other instruction set of
  the CPU stays on. Consumer CPUs have no AMX, so nothing changes for them.

The wheel is built once per (version, build flags, Python, platform) into a cache outside the checkout
(``$KOMPAKT_WHEEL_CACHE``, default ``~/.cache/kompakt/wheels``), so a fresh clone or a new venv installs it in
seconds; pip's own wheel cache is bypassed because it does not key wheels by build flags. The version is the pin
in ``pyproject.toml``. Prints what it built and why. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "llama-cpp-python"
MARKER = Path(sys.prefix) / "kompakt-llama-build.json"
AMX_FLAGS = ("-mno-amx-tile", "-mno-amx-int8", "-mno-amx-bf16")


def pinned_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The exact llama-cpp-python version ``pyproject.toml`` pins."""
    match = re.search(r'"llama-cpp-python==([^"]+)"', pyproject.read_text(encoding="utf-8"))
    if not match:
        raise SystemExit(f"{pyproject}: no 'llama-cpp-python==VERSION' pin found")
    return match.group(1)


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def build_choice(flags: set[str] | None = None, machine: str | None = None) -> tuple[list[str], str]:
    """(CMake arguments, the reason in one line) for building llama.cpp on this machine."""
    flags = cpu_flags() if flags is None else flags
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64") and any(f.startswith("amx") for f in flags):
        opts = " ".join(AMX_FLAGS)
        return ([f"-DCMAKE_C_FLAGS={opts}", f"-DCMAKE_CXX_FLAGS={opts}"],
                "CPU build, native instructions without AMX (llama.cpp's AMX kernels crash where the OS or "
                "hypervisor does not enable AMX tile state)")
    if sys.platform == "darwin" and machine == "arm64":
        return [], "Metal build (llama-cpp-python's default on Apple Silicon)"
    return [], "CPU build with this CPU's native instructions (llama-cpp-python's default)"


def build_key(version: str, cmake_args: list[str]) -> str:
    """A short key naming one build: version, flags, Python tag and platform."""
    blob = json.dumps([version, cmake_args, sys.implementation.cache_tag, sysconfig.get_platform()])
    return f"{version}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def wheel_cache() -> Path:
    """Where built llama-cpp-python wheels are kept between checkouts."""
    env = os.environ.get("KOMPAKT_WHEEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "kompakt" / "wheels"


def installed_key() -> str | None:
    """The build key recorded when this environment's llama-cpp-python was installed by this script."""
    try:
        return json.loads(MARKER.read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError):
        return None


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    """Run this Python's pip; exit with its status when it fails."""
    cmd = [sys.executable, "-m", "pip", *args]
    if subprocess.run(cmd, env=env).returncode != 0:
        raise SystemExit(f"install_llama: '{' '.join(cmd)}' failed")


def main() -> int:
    """Install the right llama-cpp-python build here unless it is already installed."""
    version = pinned_version()
    cmake_args, reason = build_choice()
    key = build_key(version, cmake_args)
    if installed_key() == key:
        print(f"llama.cpp: {PACKAGE} {version} already installed ({reason})")
        return 0
    folder = wheel_cache() / key
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if not wheels:
        print(f"llama.cpp: building {PACKAGE} {version}: {reason}; this takes a few minutes", flush=True)
        env = dict(os.environ)
        if cmake_args:
            env["CMAKE_ARGS"] = " ".join(shlex.quote(a) for a in cmake_args) + " " + env.get("CMAKE_ARGS", "")
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        pip("wheel", "-q", "--no-deps", "--no-cache-dir", "--no-binary", PACKAGE, "-w", str(tmp),
            f"{PACKAGE}=={version}", env=env)
        shutil.rmtree(folder, ignore_errors=True)  # an earlier, interrupted build
        tmp.rename(folder)
        wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    pip("install", "-q", "--force-reinstall", "--no-deps", str(wheels[-1]))
    MARKER.write_text(json.dumps({"key": key, "version": version, "cmake_args": cmake_args}), encoding="utf-8")
    print(f"llama.cpp: installed {PACKAGE} {version}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
