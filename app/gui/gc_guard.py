"""Run Python's cyclic garbage collector on the UI thread only.

The collector runs in whichever thread happens to allocate when a threshold is crossed. If that is a worker
thread and the garbage holds Qt widgets (a dropped dialog in a reference cycle, say), Qt objects get destroyed
off the UI thread and the process can crash. :class:`MainThreadGC` turns automatic collection off and collects
from a timer on the UI thread instead, with the same generation thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGC(QObject):
    """Owns a timer that runs ``gc.collect(generation)`` on the UI thread when the thresholds say so."""

    def __init__(self, interval_ms: int = 500, parent: QObject | None = None) -> None:
        super().__init__(parent)
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the oldest generation whose allocation count passed its threshold."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        generation = -1
        for g in range(3):
            if counts[g] > thresholds[g]:
                generation = g
        if generation >= 0:
            gc.collect(generation)

    def stop(self) -> None:
        """Back to Python's automatic collection."""
        self._timer.stop()
        gc.enable()
