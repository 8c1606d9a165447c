"""app.gui.workers.Worker: results, errors, cancel, throttled progress, and the thread-leak check itself."""

import time

import pytest

from app.gui.workers import Worker, live_workers, stop_all
from converter.core.progress import Progress, check


def _count(n, *, progress, cancel, sleep=0.0):
    for i in range(n):
        check(cancel)
        progress(Progress("count", i + 1, n, "steps"))
        if sleep:
            time.sleep(sleep)
    return n * 2


def test_result_and_last_progress_arrive(qtbot):
    w = Worker(_count, 2000)
    seen = []
    w.progress.connect(seen.append)
    with qtbot.waitSignal(w.succeeded, timeout=10000) as blocker:
        w.start()
    assert blocker.args == [4000]
    qtbot.waitUntil(lambda: not w.is_running())
    assert seen and seen[-1].done == 2000
    assert len(seen) < 2000  # throttled


def test_error_becomes_one_line(qtbot):
    def boom(*, progress, cancel):
        raise OSError("model.safetensors: truncated\nmore detail")

    w = Worker(boom)
    with qtbot.waitSignal(w.failed, timeout=5000) as blocker:
        w.start()
    assert blocker.args == ["model.safetensors: truncated"]
    w.wait()


def test_cancel_stops_quickly(qtbot):
    w = Worker(_count, 10**6, sleep=0.01)
    with qtbot.waitSignal(w.progress, timeout=5000):
        w.start()
    with qtbot.waitSignal(w.cancelled, timeout=2000):
        w.cancel()
    assert w.wait(2)
    assert not live_workers()


def test_stop_all_joins(qtbot):
    ws = [Worker(_count, 10**6, sleep=0.01).start() for _ in range(2)]
    assert stop_all(5)
    assert not any(w.is_running() for w in ws)


def test_main_thread_gc_collects_from_its_timer(qtbot):
    import gc

    from app.gui.gc_guard import MainThreadGC

    was_enabled = gc.isenabled()
    collector = MainThreadGC(interval_ms=10)
    try:
        assert not gc.isenabled()
        for _ in range(3 * gc.get_threshold()[0]):
            a = []
            a.append(a)  # cycles only the collector frees
        del a
        qtbot.waitUntil(lambda: gc.get_count()[0] < gc.get_threshold()[0], timeout=5_000)
    finally:
        collector.stop()
        if not was_enabled:
            gc.disable()
    assert gc.isenabled() or not was_enabled
