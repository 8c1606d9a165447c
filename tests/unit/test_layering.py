"""The layers only depend downwards: converter.core <- converter <- app.runtime <- app.cli / app.gui.

Two checks over EVERY module of ``converter`` and ``app`` (found by walking the folders): a static walk of each
module's import statements, those inside functions included, and a fresh interpreter importing every module of a
package and listing what got loaded. Each check first proves on planted modules that it can fail.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("app", "converter")
CONVERTER_MUST_NOT_LOAD = ("app", "PySide6", "shiboken6", "llama_cpp", "huggingface_hub", "requests", "httpx",
                           "urllib3")


def under(module: str, package: str) -> bool:
    """True when ``module`` is ``package`` or inside it."""
    return module == package or module.startswith(package + ".")


def _any_under(module: str, packages: tuple[str, ...]) -> bool:
    return any(under(module, p) for p in packages)


#: (modules the rule applies to, what they must not import, the rule in words)
RULES: list[tuple[Callable[[str], bool], Callable[[str], bool], str]] = [
    (lambda m: under(m, "converter"), lambda i: _any_under(i, CONVERTER_MUST_NOT_LOAD),
     "converter imports nothing of app, Qt, llama_cpp or a network client"),
    (lambda m: under(m, "converter.core"), lambda i: _any_under(i, OURS) and not under(i, "converter.core")
     and i != "converter", "converter.core imports nothing of ours outside converter.core"),
    (lambda m: under(m, "app.runtime"), lambda i: _any_under(i, ("app.gui", "app.cli")),
     "app.runtime never imports app.gui or app.cli"),
    (lambda m: _any_under(m, ("app.gui", "app.cli")), lambda i: under(i, "converter") and not under(i, "converter.core"),
     "app.gui and app.cli reach converter only through app.runtime (converter.core excepted)"),
    (lambda m: not under(m, "app.gui"), lambda i: _any_under(i, ("PySide6", "shiboken6")),
     "only app.gui imports PySide6"),
]

# a string that names a converter module outside the core: an import by name (importlib.import_module(NAME))
_MODULE_NAME = re.compile(r"^converter(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def modules_in(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    """(dotted name, file) of every module under ``root/package``, recursively, without importing anything."""
    for path in sorted((root / package.replace(".", "/")).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def imported_names(module: str, source: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement in ``source``, at any depth, relative ones resolved;
    ``from X import y`` yields X and X.y (y may be a submodule). String constants naming a converter module count
    too (they are imported by name, e.g. through importlib)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            yield base, node.lineno
            for alias in node.names:
                yield f"{base}.{alias.name}", node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_NAME.match(node.value):
            yield node.value, node.lineno


def violations(root: Path, packages: tuple[str, ...] = OURS) -> list[str]:
    """Every import that breaks a rule, as ``file:line: module imports X (rule)``."""
    found = []
    for package in packages:
        for module, path in modules_in(root, package):
            names = imported_names(module, path.read_text(encoding="utf-8"), path.name == "__init__.py")
            for name, line in names:
                for applies, forbidden, rule in RULES:
                    if applies(module) and forbidden(name):
                        found.append(f"{path.relative_to(root)}:{line}: {module} imports {name} ({rule})")
    return found


def _plant(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        for parent in path.relative_to(root).parents:
            if parent != Path("."):
                (root / parent / "__init__.py").touch()


def test_static_walk_finds_planted_imports(tmp_path):
    _plant(tmp_path, {
        "app/gui/views/deep.py": """
            from converter.core.progress import Progress   # allowed
            def later():
                from converter.quantize import quantize_ladder   # lazy, still forbidden
            """,
        "app/gui/warmer.py": 'MODULES = ("numpy", "converter.convert")\n',
        "app/cli/tool.py": "from converter import recipes\n",
        "app/runtime/x/svc.py": "from ...gui import widgets\n",
        "converter/core/bad.py": "from .. import quantize\nfrom .units import human_bytes\n",
        "converter/reader.py": "import huggingface_hub\n",
        "app/runtime/qt.py": "def f():\n    import PySide6.QtCore\n",
        "app/gui/ok.py": "import PySide6.QtWidgets\nfrom app.runtime import paths\n",
    })
    found = violations(tmp_path)
    expected = [
        "app/cli/tool.py:1: app.cli.tool imports converter.recipes",
        "app/gui/views/deep.py:4: app.gui.views.deep imports converter.quantize ",
        "app/gui/warmer.py:1: app.gui.warmer imports converter.convert ",
        "app/runtime/qt.py:2: app.runtime.qt imports PySide6.QtCore ",
        "app/runtime/x/svc.py:1: app.runtime.x.svc imports app.gui ",
        "converter/core/bad.py:1: converter.core.bad imports converter.quantize ",
        "converter/reader.py:1: converter.reader imports huggingface_hub ",
    ]
    for prefix in expected:
        assert any(f.startswith(prefix) for f in found), (prefix, found)
    assert not [f for f in found if "ok.py" in f or "units" in f or "core.progress" in f], found


def test_every_module_keeps_to_its_layer():
    assert sum(1 for _ in modules_in(ROOT, "app")) > 80  # the walk reaches nested packages
    found = violations(ROOT)
    assert not found, "\n".join(found)


# -- the same rules, as loaded modules in a fresh interpreter ---------------------------------------------------

def _loaded_modules(names: list[str], extra_path: str = "") -> set[str]:
    code = (f"import sys; sys.path.insert(0, {extra_path!r}); "
            + "".join(f"import {n}; " for n in names) + "print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT,
                         timeout=300).stdout
    return set(out.split())


def walked(package: str) -> list[str]:
    """Every module of ``package``, recursively (pkgutil.walk_packages with ``prefix=``)."""
    pkg = importlib.import_module(package)
    return [package] + [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]


def test_subprocess_check_sees_a_planted_import(tmp_path):
    _plant(tmp_path, {"planted_pkg/inner/mod.py": "import PySide6.QtCore\n"})
    assert "PySide6.QtCore" in _loaded_modules(["planted_pkg.inner.mod"], str(tmp_path))
    assert len(walked("converter")) == sum(1 for _ in modules_in(ROOT, "converter"))  # walk_packages recurses


@pytest.mark.parametrize("package, forbidden", [
    ("converter", CONVERTER_MUST_NOT_LOAD),
    ("app.runtime", ("PySide6", "shiboken6", "app.gui", "app.cli")),
    ("app.cli", ("PySide6", "shiboken6", "app.gui")),
])
def test_importing_every_module_loads_no_higher_layer(package, forbidden):
    loaded = _loaded_modules(walked(package))
    bad = sorted(m for m in loaded if _any_under(m, forbidden))
    assert not bad, f"importing all of {package} loads {bad[:8]}"


def test_core_loads_nothing_else_of_ours():
    loaded = _loaded_modules(walked("converter.core"))
    ours = sorted(m for m in loaded if _any_under(m, OURS) and m != "converter" and not under(m, "converter.core"))
    assert not ours, f"converter.core loads {ours}"
