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


class _Node:
    """A weak-referenceable object that only the cyclic collector can free once put in a cycle."""


def test_main_thread_gc_collects_from_its_timer(qtbot):
    import gc
    import threading
    import weakref

    from app.gui.gc_guard import MainThreadGC

    # conftest's autouse fixture has turned automatic collection off; start from Python's default instead, so
    # each assert below depends on what MainThreadGC does
    gc.enable()
    collections: list[threading.Thread] = []

    def record(phase, info):
        if phase == "start":
            collections.append(threading.current_thread())

    collector = MainThreadGC(interval_ms=10)
    gc.callbacks.append(record)
    try:
        assert not gc.isenabled()  # automatic collection is off while the collector runs
        node = _Node()
        node.self = node  # a cycle: freed only by a collection
        alive = weakref.ref(node)
        del node
        for _ in range(3 * gc.get_threshold()[0]):  # cross the generation-0 threshold
            a = []
            a.append(a)
        del a
        qtbot.waitUntil(lambda: alive() is None, timeout=10_000)  # the timer's collection freed the cycle
        assert collections and all(t is threading.main_thread() for t in collections)
    finally:
        gc.callbacks.remove(record)
        collector.stop()
    assert gc.isenabled()  # stop() gives automatic collection back
    gc.disable()  # as the autouse fixture left it
