"""UI responsiveness of the Quantize wizard: how long the UI thread is blocked while a job runs, and cancel latency.

Drives the real wizard (offscreen Qt) on the SmolLM2 checkpoint fixture, as tests/gui/test_wizard.py does:

* one full run SmolLM2 -> Q4_K_M, with a 10 ms QTimer on the UI thread: the largest gap between its ticks is
  how long the UI thread was blocked (median, 99th percentile, largest, and every gap over 50 ms);
* ``--cancels`` runs that are cancelled as soon as progress shows: the time from the click on Cancel to the
  wizard's ``cancelled`` signal.

The tests only keep generous bounds (gap < 2 s, cancel < 30 s) that hold on a loaded machine; these are the
figures to look at. Nothing is written outside a temporary folder.

    python bench/ui_latency.py [--threads 1] [--cancels 3] [--no-full]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait_until(predicate: Callable[[], bool], timeout: float) -> None:
    """Run the Qt event loop until ``predicate()`` holds (checked every 10 ms); RuntimeError after ``timeout``."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: (predicate() or time.monotonic() > deadline) and loop.quit())
    timer.start()
    if not predicate():
        loop.exec()
    timer.stop()
    if not predicate():
        raise RuntimeError(f"gave up after {timeout:.0f} s")


def open_wizard(checkpoint: Path, models: Path, threads: int):
    """A shown wizard with ``checkpoint`` chosen and its type options computed (the Start page is next)."""
    from app.gui.wizard.wizard import TYPES, QuantizeWizard
    from app.runtime.settings import Settings

    wizard = QuantizeWizard(Settings(models_dir=str(models), threads=threads))
    wizard.show()
    wizard.source_page.set_local(str(checkpoint))
    wizard.next_button.click()
    assert wizard.page() == TYPES
    wait_until(lambda: bool(wizard.types_page.options), 300)
    return wizard


def full_run(checkpoint: Path, work: Path, threads: int) -> None:
    """Convert to the preselected type (Q4_K_M) and print the UI-thread gaps."""
    from app.gui.wizard.wizard import DONE
    from tests.fixtures.ui_timing import SLOW_GAP, TickGaps

    wizard = open_wizard(checkpoint, work / "full", threads)
    gaps = TickGaps()
    gaps.start()
    t0 = time.perf_counter()
    wizard.next_button.click()  # Start
    wait_until(lambda: wizard.page() == DONE, 1800)
    seconds = time.perf_counter() - t0
    gaps.stop()
    wizard.stop()
    ms = sorted(g * 1000 for g in gaps.gaps)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    print(f"full run {wizard.types_page.selected_mixes()} in {seconds:.1f} s, {gaps.ticks} ticks of 10 ms")
    print(f"UI gap ms: median {statistics.median(ms):.1f}  p99 {p99:.1f}  max {ms[-1]:.1f}  "
          f"over {SLOW_GAP * 1000:.0f} ms: {len(gaps.slow)} {gaps.slow[:20]}")


def cancel_runs(checkpoint: Path, work: Path, threads: int, rounds: int) -> None:
    """Start, wait for progress, click Cancel; print the click-to-``cancelled`` latency of each round."""
    latencies = []
    for i in range(rounds):
        wizard = open_wizard(checkpoint, work / f"cancel{i}", threads)
        wizard.next_button.click()
        run = wizard.run_page
        wait_until(lambda: run.progress.bar.value() > 0 or "tensor" in run.progress.detail.text(), 300)
        done: list[float] = []
        run.cancelled.connect(lambda: done.append(time.perf_counter()))
        t0 = time.perf_counter()
        run.cancel_button.click()
        wait_until(lambda: bool(done), 120)
        latencies.append(done[0] - t0)
        wait_until(lambda: not run.is_running(), 120)
        wizard.stop()
    ms = [x * 1000 for x in latencies]
    print(f"cancel latency ms over {rounds} runs: " + ", ".join(f"{x:.0f}" for x in ms)
          + f"  (median {statistics.median(ms):.0f}, max {max(ms):.0f})")


def main() -> None:
    """Parse the options, isolate the app's folders in a temporary directory, run the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="quantizer threads (default 1, as the tests)")
    parser.add_argument("--cancels", type=int, default=3, help="cancelled runs to time (default 3)")
    parser.add_argument("--no-full", action="store_true", help="skip the full conversion, time cancels only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kompakt-ui-latency-") as tmp:
        work = Path(tmp)
        for var in ("KOMPAKT_CONFIG_DIR", "KOMPAKT_DATA_DIR", "KOMPAKT_CACHE_DIR", "HF_HOME"):
            os.environ[var] = str(work / var.lower())
        os.environ["HF_HUB_OFFLINE"] = "1"
        from PySide6.QtWidgets import QApplication

        from tests.fixtures.smollm2 import hf_checkpoint

        app = QApplication.instance() or QApplication([])  # noqa: F841 - must outlive the widgets
        checkpoint = hf_checkpoint()
        if not args.no_full:
            full_run(checkpoint, work, args.threads)
        if args.cancels:
            cancel_runs(checkpoint, work, args.threads, args.cancels)


if __name__ == "__main__":
    main()
