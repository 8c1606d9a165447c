"""The Quality place: KL divergence of quantized files against their base, as a table and a size-vs-KL chart, and
the recommendation: the smallest file under a KL threshold (a slider) among those that fit this machine."""

from __future__ import annotations

import math
from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QListWidget, QPushButton,
                               QSlider, QTableWidget, QVBoxLayout, QWidget)

from app.runtime.workflows import fit_badges
from app.gui.progress_view import ProgressView
from app.gui.widgets import heading, hint, item, show_failure
from converter.core.units import human_bytes
from app.gui.workers import Worker

COLUMNS = ("Type", "Size", "Bits/weight", "Mean KL", "KL p99", "Same top", "Perplexity", "Runs here")


class KLChart(QWidget):
    """Scatter of file size (x) against mean KL (y, log scale), the threshold line and the chosen point."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[tuple[str, int, float, bool]] = []  # (label, size, kl, fits)
        self.threshold = 0.05
        self.chosen: Optional[str] = None
        self.setMinimumHeight(240)

    def set_data(self, points, threshold: float, chosen: Optional[str]) -> None:
        """Redraw with ``points`` ``[(label, size, kl, fits)]``."""
        self.points, self.threshold, self.chosen = list(points), threshold, chosen
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        left, right, top, bottom = 64.0, 16.0, 12.0, 34.0
        area = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        p.fillRect(area, QColor("#fafafa"))
        p.setPen(QPen(QColor("#bbbbbb")))
        p.drawRect(area)
        text = self.palette().text().color()
        if not self.points:
            p.setPen(text)
            p.drawText(area, Qt.AlignmentFlag.AlignCenter, "No measurements yet")
            return
        sizes = [s for _l, s, _k, _f in self.points]
        kls = [max(k, 1e-5) for _l, _s, k, _f in self.points] + [self.threshold]
        x0, x1 = min(sizes) * 0.9, max(sizes) * 1.05
        y0, y1 = math.log10(min(kls)) - 0.2, math.log10(max(kls)) + 0.2

        def pos(size: float, kl: float) -> QPointF:
            fx = (size - x0) / max(1.0, x1 - x0)
            fy = (math.log10(max(kl, 1e-5)) - y0) / max(1e-9, y1 - y0)
            return QPointF(area.left() + fx * area.width(), area.bottom() - fy * area.height())

        p.setPen(text)
        for e in range(math.ceil(y0), math.floor(y1) + 1):
            y = pos(x0, 10.0 ** e).y()
            p.setPen(QPen(QColor("#e3e3e3")))
            p.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            p.setPen(text)
            p.drawText(QRectF(0, y - 9, left - 6, 18), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       f"{10.0 ** e:g}")
        p.drawText(QRectF(area.left(), area.bottom() + 4, area.width(), 18), Qt.AlignmentFlag.AlignCenter,
                   f"file size → ({human_bytes(x0)} … {human_bytes(x1)});  ↑ mean KL (log)")
        ty = pos(x0, self.threshold).y()
        p.setPen(QPen(QColor("#c62828"), 1.5, Qt.PenStyle.DashLine))
        p.drawLine(QPointF(area.left(), ty), QPointF(area.right(), ty))
        for label, size, kl, fits in self.points:
            c = pos(size, kl)
            chosen = label == self.chosen
            p.setPen(QPen(QColor("#1b5e20" if chosen else "#333333"), 2 if chosen else 1))
            p.setBrush(QColor("#43a047" if chosen else ("#3f6fb5" if fits else "#bdbdbd")))
            r = 7.0 if chosen else 5.0
            p.drawEllipse(c, r, r)
            p.setPen(text)
            p.drawText(QPointF(c.x() + 8, c.y() - 6), label)
        p.end()


def _compare(base: str, candidates: list[str], *, progress, cancel):
    from app.runtime.evaluate import compare_models

    return compare_models(base, candidates, progress=progress, cancel=cancel)


def _label(result) -> str:
    """The quant type in the file name (``model-Q4_K_M.gguf`` -> ``Q4_K_M``), else the file name."""
    from app.runtime.hub import quant_type_from_name

    return quant_type_from_name(result.model.name) or result.model.name


class QualityView(QWidget):
    """Measure (base vs candidates) or show results from the wizard; recommend one file."""

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.results: list = []
        self.fits: dict[str, Optional[bool]] = {}
        self._worker: Optional[Worker] = None

        self.base_edit = QLineEdit()
        self.base_edit.setPlaceholderText("Base GGUF (F16 or F32) to compare against")
        base_browse = QPushButton("Browse…")
        base_browse.clicked.connect(lambda: self._pick(self.base_edit))
        self.candidates = QListWidget()
        self.candidates.setMaximumHeight(70)
        add = QPushButton("Add files…")
        add.clicked.connect(self._add_candidates)
        self.measure_button = QPushButton("Measure")
        self.measure_button.clicked.connect(self.measure)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = ProgressView()
        self.progress.hide()

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.chart = KLChart()
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 300)  # 10**(-3 + v/100): 0.001 ... 1
        self.threshold.setValue(int(round((math.log10(settings.kl_threshold) + 3) * 100)))
        self.threshold.valueChanged.connect(self._recommend)
        self.threshold_label = QLabel()
        self.recommendation = QLabel("")
        self.recommendation.setWordWrap(True)
        f = self.recommendation.font()
        f.setBold(True)
        self.recommendation.setFont(f)

        base_row = QHBoxLayout()
        base_row.addWidget(QLabel("Base"))
        base_row.addWidget(self.base_edit, 1)
        base_row.addWidget(base_browse)
        cand_row = QHBoxLayout()
        cand_row.addWidget(QLabel("Quantized"))
        cand_row.addWidget(self.candidates, 1)
        col = QVBoxLayout()
        col.addWidget(add)
        col.addWidget(self.measure_button)
        col.addWidget(self.cancel_button)
        cand_row.addLayout(col)
        thr = QHBoxLayout()
        thr.addWidget(QLabel("Largest acceptable mean KL"))
        thr.addWidget(self.threshold, 1)
        thr.addWidget(self.threshold_label)
        split = QHBoxLayout()
        split.addWidget(self.table, 3)
        split.addWidget(self.chart, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Quality"))
        layout.addWidget(hint("How far each quantized file's next-token distribution is from the base model's "
                              "(mean KL divergence over Kompakt's evaluation text; 0 = identical)."))
        layout.addLayout(base_row)
        layout.addLayout(cand_row)
        layout.addWidget(self.progress)
        layout.addLayout(split, 1)
        layout.addLayout(thr)
        layout.addWidget(self.recommendation)
        self._recommend()

    def cancel(self) -> None:
        """Stop a running measurement."""
        if self._worker is not None:
            self._worker.cancel()

    def kl_threshold(self) -> float:
        """The slider's threshold in nats."""
        return 10.0 ** (-3 + self.threshold.value() / 100)

    # -- measuring --------------------------------------------------------------------------------------------------
    def measure(self) -> None:
        """Compare the candidates with the base on a worker."""
        base = self.base_edit.text().strip()
        cands = [self.candidates.item(i).text() for i in range(self.candidates.count())]
        if not base or not cands or (self._worker is not None and self._worker.is_running()):
            return
        self.progress.show()
        self.progress.reset("Starting…")
        self.measure_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        worker = Worker(_compare, base, cands, name="quality")
        worker.progress.connect(self.progress.update_progress)
        worker.succeeded.connect(self._measured)
        worker.failed.connect(self._measure_failed)
        worker.done.connect(self._measure_done)
        self._worker = worker
        worker.start()

    def _measured(self, report) -> None:
        self.show_results(report.candidates)

    def _measure_failed(self, message: str) -> None:
        show_failure(self.recommendation, "Measurement failed:", message)

    def _measure_done(self) -> None:
        self.progress.hide()
        self.measure_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def show_results(self, results) -> None:
        """Show evaluate ``CandidateResult`` objects (from a measurement here or from the wizard)."""
        self.results = list(results)
        self.fits = {}
        for r in self.results:
            verdict, _ = fit_badges.quick_verdict(str(r.model.path), self.settings)
            self.fits[str(r.model.path)] = None if verdict is None else verdict != "does_not_fit"
        self.table.setRowCount(len(self.results))
        for i, r in enumerate(self.results):
            bpw = r.model.bits_per_weight
            ok = self.fits[str(r.model.path)]
            cells = [item(_label(r), tooltip=str(r.model.path)),
                     item(human_bytes(r.model.file_size), sort_value=r.model.file_size, align_right=True),
                     item(f"{bpw:.2f}" if bpw else "—", align_right=True),
                     item(f"{r.kl_mean:.4f}", align_right=True), item(f"{r.kl_p99:.3f}", align_right=True),
                     item(f"{r.same_top:.1%}", align_right=True), item(f"{r.ppl:.3f}", align_right=True),
                     item("?" if ok is None else ("yes" if ok else "no"))]
            for c, cell in enumerate(cells):
                self.table.setItem(i, c, cell)
        self._recommend()

    def _recommend(self) -> None:
        thr = self.kl_threshold()
        self.threshold_label.setText(f"{thr:.4f}")
        chosen_label = None
        if not self.results:
            self.recommendation.setText("Measure some files (or tick “measure quality” in the Quantize wizard).")
        else:
            from app.runtime.evaluate import recommend

            rec = recommend(self.results, max_kl=thr, fits=self.fits)
            self.recommendation.setText(("Recommended: " if rec.choice else "") + rec.reason)
            chosen_label = _label(rec.choice) if rec.choice else None
        points = [(_label(r), r.model.file_size, r.kl_mean, self.fits.get(str(r.model.path)) is not False)
                  for r in self.results]
        self.chart.set_data(points, thr, chosen_label)

    # -- pickers ----------------------------------------------------------------------------------------------------
    def _pick(self, edit: QLineEdit) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "GGUF file", str(self.settings.resolved_models_dir()),
                                              "GGUF files (*.gguf)")
        if path:
            edit.setText(path)

    def _add_candidates(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Quantized GGUF files", str(self.settings.resolved_models_dir()),
                                                "GGUF files (*.gguf)")
        for p in paths:
            self.candidates.addItem(p)
