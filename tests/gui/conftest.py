"""GUI test setup: offscreen Qt, every test marked ``gui``, and a check that no worker thread outlives a test."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/gui/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.gui)


def _app_threads() -> set[threading.Thread]:
    # _DummyThread: Python's record of a foreign (Qt) thread that ran Python code; QThreads are checked apart
    return {t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive()
            and not isinstance(t, threading._DummyThread)}


@pytest.fixture(autouse=True)
def no_thread_left_running(qapp):
    """Fail the test if a Worker, a QThreadPool task, a new Python thread or a child process is still running."""
    import multiprocessing

    from PySide6.QtCore import QThreadPool

    from app.gui import workers

    before = _app_threads()
    # like the app's MainThreadGC: no automatic collection while worker threads run, so Qt objects in garbage
    # cycles are destroyed here on the UI thread, never inside a worker thread's collection
    gc.collect()
    gc.disable()
    yield
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        leaked = (workers.live_workers() or QThreadPool.globalInstance().activeThreadCount()
                  or (_app_threads() - before) or multiprocessing.active_children())
        if not leaked:
            break
        time.sleep(0.05)
    live = workers.live_workers()
    workers.stop_all(timeout=30)
    gc.collect()
    gc.enable()
    extra = _app_threads() - before
    assert not live, f"worker threads left running: {[w.name for w in live]}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0, "QThreadPool tasks left running"
    assert not extra, f"threads left running: {sorted(t.name for t in extra)}"
    assert not multiprocessing.active_children(), "child processes left running"
