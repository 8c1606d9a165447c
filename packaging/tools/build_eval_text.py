"""Build resources/eval/python-docs.txt: the default evaluation text, taken from Python's own documentation.

CPython ships the plain-text "topics" of its Language Reference as ``pydoc_data/topics.py`` (PSF License v2).
We join five non-overlapping topics in reference order and normalise line ends; nothing else is changed.
Run with the Python whose documentation you want (the committed file came from CPython 3.11.7):

    python packaging/tools/build_eval_text.py
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

#: Language Reference sections: 3.2 standard type hierarchy, 3.3 special method names, 4 execution model,
#: 5 the import system, 8 compound statements. None of them contains another.
TOPICS = ("types", "specialnames", "execmodel", "import", "compound")
OUT = Path(__file__).resolve().parents[2] / "resources" / "eval"


def build() -> str:
    """The evaluation text."""
    from pydoc_data.topics import topics

    parts = [topics[name].replace("\r\n", "\n").strip() + "\n" for name in TOPICS]
    return "\n\n".join(parts)


def main() -> int:
    text = build()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "python-docs.txt").write_text(text, encoding="utf-8", newline="\n")
    license_txt = Path(sys.prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}",
                       "LICENSE.txt").read_text(encoding="utf-8")
    start = license_txt.index("PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2")
    end = license_txt.index("BEOPEN.COM LICENSE AGREEMENT")
    zero = license_txt.index("ZERO-CLAUSE BSD LICENSE FOR CODE IN THE PYTHON DOCUMENTATION")
    (OUT / "LICENSE-PSF.txt").write_text(license_txt[start:end].rstrip() + "\n\n\n" + license_txt[zero:].strip()
                                         + "\n", encoding="utf-8", newline="\n")
    digest = hashlib.sha256(text.encode()).hexdigest()
    print(f"python-docs.txt: {len(text)} characters, sha256 {digest}, Python {sys.version.split()[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
