"""A stacked memory bar per device (weights / KV cache / compute / overhead) against what the device has free."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from converter.core.units import human_bytes

#: (label, colour) of each segment, in drawing order.
SEGMENTS = (("Weights", "#3f6fb5"), ("KV cache", "#e0892b"), ("Compute", "#7b5ea7"), ("Overhead", "#9e9e9e"))


@dataclass(frozen=True)
class DeviceBar:
    """One bar: the device name, its segments in bytes (as :data:`SEGMENTS`) and its free memory (None: unknown)."""

    name: str
    parts: tuple[int, int, int, int]
    budget: int | None

    @property
    def total(self) -> int:
        """Bytes needed."""
        return sum(self.parts)


def bars_from_estimate(est) -> list[DeviceBar]:
    """DeviceBars from an :class:`app.runtime.fit.MemoryEstimate` (output buffer counted with compute)."""
    out = []
    for d in est.devices:
        name = "System RAM (CPU)" if d.kind == "cpu" else d.name
        out.append(DeviceBar(name, (d.model_bytes, d.kv_bytes, d.compute_bytes + d.output_bytes, d.overhead_bytes),
                             d.budget_bytes))
    return out


class FitBar(QWidget):
    """Paints one row per device: the stacked need, the free-memory line, and the totals as text."""

    ROW = 54

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars: list[DeviceBar] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_bars(self, bars: list[DeviceBar]) -> None:
        """Show ``bars``."""
        self.bars = bars
        self.setFixedHeight(self.sizeHint().height())
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(600, 34 + self.ROW * max(1, len(self.bars)))

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w = self.width()
        # legend
        x = 4.0
        fm = p.fontMetrics()
        for label, colour in SEGMENTS:
            p.fillRect(QRectF(x, 8, 12, 12), QColor(colour))
            p.setPen(self.palette().text().color())
            p.drawText(QRectF(x + 16, 4, 200, 20), Qt.AlignmentFlag.AlignVCenter, label)
            x += 16 + fm.horizontalAdvance(label) + 18
        for i, bar in enumerate(self.bars):
            top = 30 + i * self.ROW
            scale_max = max(bar.total, bar.budget or 0, 1) * 1.04
            bar_w = w - 8
            p.setPen(self.palette().text().color())
            free = human_bytes(bar.budget) + " free" if bar.budget else "free memory unknown"
            ok = bar.budget is None or bar.total <= bar.budget
            verdict = "fits" if ok else "does not fit"
            p.drawText(QRectF(4, top, bar_w, 18), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                       f"{bar.name}: needs {human_bytes(bar.total)} of {free} — {verdict}")
            y = top + 20
            p.fillRect(QRectF(4, y, bar_w, 22), QColor("#eeeeee"))
            x = 4.0
            for (label, colour), value in zip(SEGMENTS, bar.parts):
                seg = bar_w * value / scale_max
                if seg > 0:
                    p.fillRect(QRectF(x, y, seg, 22), QColor(colour))
                    if seg > fm.horizontalAdvance(human_bytes(value)) + 8:
                        p.setPen(QColor("white"))
                        p.drawText(QRectF(x, y, seg, 22), Qt.AlignmentFlag.AlignCenter, human_bytes(value))
                x += seg
            if bar.budget:
                bx = 4 + bar_w * bar.budget / scale_max
                p.setPen(QPen(QColor("#2e7d32" if ok else "#c62828"), 2, Qt.PenStyle.DashLine))
                p.drawLine(int(bx), int(y - 3), int(bx), int(y + 25))
        p.end()
