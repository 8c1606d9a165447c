"""Time reading a GGUF header: ours (converter.gguf_in.read_gguf) against gguf-py's GGUFReader.

    python bench/gguf_header.py [FILE.gguf] [--repeat 5]

Default file: the SmolLM2-135M F32 fixture (tests/.cache, built by the test suite; 49k-token vocabulary and 49k
merges). Both run in this process on the same file. Prints the best wall time of each, the ratio ours/gguf-py
(< 1 = ours faster), and ours again with the vocabulary and merges decoded (they are decoded lazily, on first
access).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gguf import GGUFReader  # noqa: E402

from converter.gguf_in import read_gguf  # noqa: E402


def best_of(repeat: int, fn) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=ROOT / "tests/.cache/SmolLM2-135M-Instruct-F32-v1.gguf")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if not args.file.is_file():
        print(f"{args.file}: not found (run the test suite once to build the fixtures)", file=sys.stderr)
        return 1

    def decoded() -> None:
        gf = read_gguf(args.file)
        for key in gf.metadata:
            gf.metadata[key]

    ours = best_of(args.repeat, lambda: read_gguf(args.file))
    ours_decoded = best_of(args.repeat, decoded)
    theirs = best_of(1, lambda: GGUFReader(args.file))
    print(f"{args.file.name}")
    print(f"  ours (read_gguf)          {ours * 1000:9.1f} ms")
    print(f"  ours, every value decoded {ours_decoded * 1000:9.1f} ms")
    print(f"  gguf-py GGUFReader        {theirs * 1000:9.1f} ms")
    print(f"  ratio ours/gguf-py        {ours / theirs:9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
