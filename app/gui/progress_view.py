"""One progress view for every long job: stage, amount done (bytes or tensors), speed and time left."""

from __future__ import annotations

import time
from typing import Optional

from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

from converter.core.progress import Progress
from converter.core.units import human_bytes, human_duration


def _amount(value: float, unit: str) -> str:
    return human_bytes(value) if unit == "bytes" else f"{value:,.0f} {unit}".strip()


class ProgressView(QWidget):
    """Shows the latest :class:`Progress`; speed is measured from the first report of each stage."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stage = QLabel("")
        font = self.stage.font()
        font.setBold(True)
        self.stage.setFont(font)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.detail = QLabel("")
        self.item = QLabel("")
        self.item.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.stage, self.bar, self.detail, self.item):
            layout.addWidget(w)
        self._stage_key: Optional[str] = None
        self._t0 = 0.0
        self._done0 = 0.0

    def reset(self, text: str = "") -> None:
        """Clear for a new job."""
        self._stage_key = None
        self.stage.setText(text)
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.detail.setText("")
        self.item.setText("")

    def update_progress(self, p: Progress) -> None:
        """Show report ``p``."""
        now = time.monotonic()
        key = f"{p.stage}|{p.unit}|{p.total}"
        if key != self._stage_key:
            self._stage_key, self._t0, self._done0 = key, now, p.done
        self.stage.setText(p.stage[:1].upper() + p.stage[1:])
        self.item.setText(p.item)
        fraction = p.fraction
        if fraction is None:
            self.bar.setRange(0, 0)  # busy indicator
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(fraction * 1000))
        parts = []
        if p.total:
            parts.append(f"{_amount(p.done, p.unit)} of {_amount(p.total, p.unit)}")
        elif p.done:
            parts.append(_amount(p.done, p.unit))
        elapsed = now - self._t0
        rate = (p.done - self._done0) / elapsed if elapsed > 0.5 else 0.0
        if rate > 0:
            speed = f"{human_bytes(rate)}/s" if p.unit == "bytes" else f"{rate:,.1f} {p.unit}/s"
            parts.append(speed)
            if p.total:
                parts.append(f"about {human_duration(max(0.0, (p.total - p.done) / rate))} left")
        self.detail.setText("   ·   ".join(parts))
