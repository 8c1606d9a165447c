#!/usr/bin/env bash
# Build the one-folder Kompakt bundle with PyInstaller: dist/kompakt/kompakt (run it with no arguments for the GUI).
# Usage: packaging/build.sh [python]   (default: python3; PyInstaller comes from the `package` extra:
#        pip install -e '.[package]'  or  pip install 'pyinstaller>=6')
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-python3}"
"$PY" -m PyInstaller --version >/dev/null 2>&1 || { echo "PyInstaller missing: $PY -m pip install 'pyinstaller>=6'" >&2; exit 1; }
"$PY" -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/kompakt.spec
# Smoke test: the bundle starts, finds its resources and loads llama.cpp's libraries.
./dist/kompakt/kompakt --version
ls dist/kompakt/_internal/llama_cpp/lib/ | grep -q libllama || { echo "llama.cpp libraries missing from the bundle" >&2; exit 1; }
echo "built: dist/kompakt/ ($(du -sh dist/kompakt | cut -f1))"
