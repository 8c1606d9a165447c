"""The layers only depend downwards: converter <- app.runtime <- app.gui. Only app.gui may import PySide6."""

import subprocess
import sys

import pytest


def _loaded_modules(import_stmt: str) -> set[str]:
    code = f"import sys; {import_stmt}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(out.split())


@pytest.mark.parametrize("package", ["converter", "app.runtime", "app.cli"])
def test_core_packages_do_not_load_qt(package):
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    names = [package] + [f"{package}.{m.name}" for m in pkgutil.walk_packages(pkg.__path__)]
    loaded = _loaded_modules("; ".join(f"import {n}" for n in names))
    assert not any(m.startswith("PySide6") for m in loaded), f"{package} pulled in Qt"


def test_converter_is_standalone():
    import pkgutil

    import converter

    names = ["converter"] + [f"converter.{m.name}" for m in pkgutil.walk_packages(converter.__path__, )]
    loaded = _loaded_modules("; ".join(f"import {n}" for n in names))
    forbidden = [m for m in loaded if m.split(".")[0] in {"app", "PySide6", "llama_cpp", "huggingface_hub",
                                                          "requests", "httpx", "urllib3"}]
    assert not forbidden, f"converter imports {sorted(forbidden)[:5]}"
