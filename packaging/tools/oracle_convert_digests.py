"""Regenerate tests/data/oracle/<arch>.json: what llama.cpp's own ``convert_hf_to_gguf.py`` writes for each tiny
checkpoint of tests/fixtures/oracle_models.py, as the whole file's SHA-256, per-tensor SHA-256/type/shape and
metadata.

The tests compare Kompakt's F32 and BF16 output against these files, so the expected values come from llama.cpp's
converter, never from ours. That converter needs torch and transformers, which the test environment lacks, so it
runs here in a separate virtual environment:

    python3 -m venv /tmp/oracle-venv
    /tmp/oracle-venv/bin/pip install torch==2.13.0 "numpy~=2.2.6" "sentencepiece>=0.1.98,<0.3.0" \
        transformers==4.57.6 "protobuf>=4.21.0,<5.0.0" pyyaml tqdm requests
    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d /tmp/sdist   # then unpack it
    PYTHONPATH=$PWD .venv/bin/python packaging/tools/oracle_convert_digests.py \
        --oracle-python /tmp/oracle-venv/bin/python \
        --llama-cpp /tmp/sdist/llama_cpp_python-0.3.36/vendor/llama.cpp

The checkpoints are built by this (Kompakt's) Python; only the conversion runs in the oracle environment, with the
converter's own gguf-py from the sdist. The SHA-256 of every checkpoint file is recorded so that a test can tell a
changed fixture (regenerate) from a changed converter (a bug).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.fixtures.gguf_digest import file_sha256, gguf_digest  # noqa: E402
from tests.fixtures.oracle_models import BPE_ARCHS, ORACLE_ARCHS, make_oracle_checkpoint  # noqa: E402

log = logging.getLogger("oracle_convert_digests")

OUT_TYPES = ("f32", "bf16")


def _version(python: str, module: str) -> str:
    out = subprocess.run([python, "-c", f"import {module}; print({module}.__version__)"], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip()


def oracle_convert(python: str, llama_cpp: Path, model_dir: Path, out_type: str, out: Path) -> None:
    """Run llama.cpp's convert_hf_to_gguf.py on ``model_dir``; raise with its last output lines on failure."""
    cmd = [python, str(llama_cpp / "convert_hf_to_gguf.py"), str(model_dir), "--outtype", out_type,
           "--outfile", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise RuntimeError(f"llama.cpp's converter failed on {model_dir.name} ({out_type}):\n{tail}")


def digests_for(arch: str, python: str, llama_cpp: Path, smollm2_dir: Path, work: Path) -> dict:
    """The oracle record of one architecture: checkpoint file hashes and, per output type, the GGUF digest."""
    model_dir = make_oracle_checkpoint(arch, work / arch, smollm2_dir=smollm2_dir if arch in BPE_ARCHS else None)
    record: dict = {"inputs": {p.name: file_sha256(p) for p in sorted(model_dir.iterdir())}}
    for out_type in OUT_TYPES:
        out = work / f"{arch}-{out_type}.gguf"
        oracle_convert(python, llama_cpp, model_dir, out_type, out)
        record[out_type] = {"file_sha256": file_sha256(out), **gguf_digest(out)}
        out.unlink()
        log.info("%s %s: %d tensors, %d keys", arch, out_type, len(record[out_type]["tensors"]),
                 len(record[out_type]["metadata"]))
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--oracle-python", required=True, help="python of the venv with torch and transformers")
    parser.add_argument("--llama-cpp", required=True, type=Path, help="vendor/llama.cpp of the pinned sdist")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "oracle")
    parser.add_argument("--arch", action="append", choices=ORACLE_ARCHS, help="only these (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from tests.fixtures.smollm2 import hf_checkpoint

    smollm2_dir = hf_checkpoint()
    source = {"converter": "convert_hf_to_gguf.py of llama-cpp-python 0.3.36's vendored llama.cpp",
              "torch": _version(args.oracle_python, "torch"),
              "transformers": _version(args.oracle_python, "transformers"),
              "regenerate": "packaging/tools/oracle_convert_digests.py"}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kompakt-oracle-") as tmp:
        for arch in args.arch or ORACLE_ARCHS:
            record = {"source": source, **digests_for(arch, args.oracle_python, args.llama_cpp, smollm2_dir,
                                                     Path(tmp))}
            path = args.out / f"{arch}.json"
            path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            log.info("wrote %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
