"""Benchmark: convert the SmolLM2 fixture (or any HF folder) to GGUF; report wall time and peak memory.

    python bench/convert.py [MODEL_DIR] [--type f16]
    python bench/convert.py --oracle-arch qwen3moe --type bf16 \\
        --oracle-python /work/wt/oracle-venv/bin/python --llama-cpp /work/wt/oracle-src/llama.cpp

Prints wall time, peak RSS (getrusage; also the RSS before converting, i.e. the interpreter plus imports), the
model's size and its largest tensor in float32, and checks the streaming target: peak RSS < largest F32 tensor +
500 MB. ``--oracle-arch`` converts a tiny checkpoint of tests/fixtures/oracle_models.py (``qwen3moe`` is the
largest mixture of experts there). With ``--oracle-python``/``--llama-cpp`` the same model is also converted by
llama.cpp's own ``convert_hf_to_gguf.py`` (it needs torch: a separate environment, see
packaging/tools/oracle_convert_digests.py); both then run as child processes, alternately, ``--repeat`` times, and
the table gives each one's median wall time and peak RSS (whole process: interpreter and imports included).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MB = 1024 * 1024


def _rss_now() -> int:
    import psutil

    return psutil.Process().memory_info().rss


#: A small process started before anything is loaded here: it runs each measured command and reports its wall
#: time and peak RSS. A child's ru_maxrss starts at its parent's RSS at fork time (Linux carries the forked
#: copy's high-water mark across exec), so children forked from this process, which has just converted a model,
#: would all report at least this process's peak.
_LAUNCHER = """
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    start = time.perf_counter()
    with open(job["log"], "wb") as out:
        proc = subprocess.Popen(job["cmd"], stdout=out, stderr=subprocess.STDOUT, env=job["env"])
        _, status, usage = os.wait4(proc.pid, 0)
    print(json.dumps([time.perf_counter() - start, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)]),
          flush=True)
"""


_BUILD_ORACLE = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.fixtures.oracle_models import BPE_ARCHS, make_oracle_checkpoint
from tests.fixtures.smollm2 import hf_checkpoint
make_oracle_checkpoint(sys.argv[2], sys.argv[3], smollm2_dir=hf_checkpoint() if sys.argv[2] in BPE_ARCHS else None)
"""


class Launcher:
    """Runs commands from a process that stays small, so their peak RSS is their own."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def run(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, int]:
        """Run ``cmd``; return (wall seconds, its peak RSS in bytes). Raises with the log's tail on failure."""
        self.proc.stdin.write(json.dumps({"cmd": cmd, "log": str(log), "env": env}) + "\n")
        self.proc.stdin.flush()
        wall, peak, rc = json.loads(self.proc.stdout.readline())
        if rc:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
            raise RuntimeError(f"{cmd[1]} failed ({rc}):\n{tail}")
        return wall, peak

    def close(self) -> None:
        """End the launcher."""
        self.proc.stdin.close()
        self.proc.wait()


def compare_with_llama_cpp(launcher: Launcher, model_dir: Path, out_type: str, python: str, llama_cpp: Path,
                           repeat: int) -> None:
    """Convert ``model_dir`` with Kompakt and with llama.cpp's converter, alternately; print both medians."""
    ours_code = ("import sys; sys.path.insert(0, sys.argv[1]); from converter.convert import convert; "
                 "convert(sys.argv[2], sys.argv[3], sys.argv[4])")
    runs: dict[str, list[tuple[float, int]]] = {"Kompakt": [], "llama.cpp convert_hf_to_gguf.py": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for i in range(repeat):
            out = work / f"ours-{i}.gguf"
            runs["Kompakt"].append(launcher.run(
                [sys.executable, "-c", ours_code, str(REPO), str(model_dir), str(out), out_type], work / "ours.log"))
            out.unlink()
            out = work / f"theirs-{i}.gguf"
            runs["llama.cpp convert_hf_to_gguf.py"].append(launcher.run(
                [python, str(llama_cpp / "convert_hf_to_gguf.py"), str(model_dir), "--outtype", out_type,
                 "--outfile", str(out)], work / "theirs.log", env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}))
            out.unlink()
    print(f"\n{'converter':34} {'wall s (median)':>16} {'peak RSS MiB (median)':>22}   runs: {repeat}")
    medians = {}
    for name, rows in runs.items():
        medians[name] = (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows))
        print(f"{name:34} {medians[name][0]:16.2f} {medians[name][1] / MB:22.1f}")
    (ow, om), (tw, tm) = medians.values()
    print(f"Kompakt / llama.cpp: {ow / tw:.2f}x time, {om / tm:.2f}x peak RSS")


def main() -> int:
    """Convert once in this process (streaming target), then optionally beside llama.cpp's converter."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", nargs="?", help="HF checkpoint folder (default: the SmolLM2 test fixture)")
    parser.add_argument("--type", default="f16", choices=["f32", "f16", "bf16", "q8_0"])
    parser.add_argument("--oracle-arch", help="build this tiny checkpoint of tests/fixtures/oracle_models.py")
    parser.add_argument("--oracle-python", help="Python of an environment with torch (llama.cpp's converter)")
    parser.add_argument("--llama-cpp", type=Path, help="llama.cpp source tree with convert_hf_to_gguf.py")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each converter in the comparison")
    args = parser.parse_args()
    launcher = Launcher()  # before anything large is loaded

    from converter.convert import convert
    from converter.hf import open_checkpoint

    with tempfile.TemporaryDirectory() as models:
        if args.oracle_arch:  # built in a child process: building it (and SmolLM2's tokenizer) would count here
            model_dir = Path(models) / args.oracle_arch
            launcher.run([sys.executable, "-c", _BUILD_ORACLE, str(REPO), args.oracle_arch, str(model_dir)],
                         Path(models) / "build.log")
        else:
            from tests.fixtures.smollm2 import hf_checkpoint

            model_dir = Path(args.model_dir) if args.model_dir else hf_checkpoint()
        ck = open_checkpoint(model_dir)
        n_values = [math.prod(t.shape) for t in ck.tensors.values()]
        model_f32, largest_f32 = 4 * sum(n_values), 4 * max(n_values)
        baseline = _rss_now()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"model-{args.type}.gguf"
            start = time.perf_counter()
            result = convert(model_dir, out, args.type)
            wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
        target = largest_f32 + 500 * MB
        print(f"model: {model_dir} ({len(n_values)} tensors, {sum(n_values) / 1e6:.1f} M parameters)")
        print(f"convert {args.type.upper()}: {wall:.2f} s wall, output {result.size / MB:.1f} MiB")
        print(f"model in F32: {model_f32 / MB:.1f} MiB; largest tensor in F32: {largest_f32 / MB:.1f} MiB")
        print(f"RSS before converting: {baseline / MB:.1f} MiB; peak RSS: {peak / MB:.1f} MiB "
              f"(peak - before: {(peak - baseline) / MB:.1f} MiB)")
        print(f"target peak < largest F32 tensor + 500 MiB = {target / MB:.1f} MiB: "
              f"{'OK' if peak < target else 'MISSED'}")
        if args.oracle_python and args.llama_cpp:
            compare_with_llama_cpp(launcher, model_dir, args.type, args.oracle_python, args.llama_cpp, args.repeat)
    launcher.close()
    return 0 if peak < target else 1


if __name__ == "__main__":
    sys.exit(main())
