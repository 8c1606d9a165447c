"""Wizard step 2: which quantization types to make, with exact sizes, bits per weight, fit and quality cost."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLineEdit,
                               QPlainTextEdit, QPushButton, QTableWidget, QVBoxLayout, QWidget)

from app.runtime.workflows import fit_badges
from app.gui.widgets import heading, hint, item, show_failure
from converter.core.units import human_bytes
from app.runtime.workflows.options import QuantOption, estimate_options
from app.gui.workers import Worker
from converter.core.quant_types import MIXES, OFFERED_MIXES

COLUMNS = ("Type", "Weights", "Bits/weight", "Runs here", "Quality cost (typical)")


class TypesPage(QWidget):
    """Checkable table of types; ``changed`` when the selection changes."""

    changed = Signal()

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self._worker: Optional[Worker] = None
        self._source = None
        self.options: list[QuantOption] = []

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(lambda _i: self.changed.emit())
        self.status = hint("")

        self.imatrix_box = QCheckBox("Compute an importance matrix from calibration text (better low-bit quality; "
                                     "slower)")
        self.calibration = QPlainTextEdit()
        self.calibration.setPlaceholderText("Calibration text (leave empty for Kompakt's built-in text)")
        self.calibration.setMaximumHeight(90)
        self.calibration.setEnabled(False)
        self.imatrix_box.toggled.connect(self.calibration.setEnabled)
        self.quality_box = QCheckBox("Measure the quality of each file after quantizing (KL divergence vs F16)")

        self.out_edit = QLineEdit(str(settings.resolved_models_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)

        layout = QVBoxLayout(self)
        layout.addWidget(heading("2 · Choose quantization types"))
        layout.addWidget(hint("Weight sizes are exact: each tensor's type as llama.cpp's mix rules assign it. "
                              "“Runs here” is the memory estimate for this computer at a "
                              f"{settings.context_length}-token context. Quality cost is llama.cpp's reference "
                              "perplexity increase on Llama-3-8B; measure your model's own below."))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.imatrix_box)
        layout.addWidget(self.calibration)
        layout.addWidget(self.quality_box)
        layout.addWidget(hint("Save the files to:"))
        layout.addLayout(out_row)

    # -- data ---------------------------------------------------------------------------------------------------
    def set_source(self, source) -> None:
        """Estimate the table for ``source`` on a worker (no-op if unchanged)."""
        if source == self._source and self.options:
            return
        self._source = source
        if self._worker is not None:
            self._worker.cancel()
        self.options = []
        self._fill_placeholder()
        self.status.setText("Reading the model's tensor list…")
        worker = Worker(estimate_options, source, self.settings.context_length, name="estimate-types")
        worker.succeeded.connect(self._show)
        worker.failed.connect(self._failed)
        self._worker = worker
        worker.start()

    def _fill_placeholder(self) -> None:
        self.table.blockSignals(True)
        self.table.setRowCount(len(OFFERED_MIXES))
        for r, mix in enumerate(OFFERED_MIXES):
            self.table.setItem(r, 0, self._check_item(mix))
            for c in range(1, len(COLUMNS)):
                self.table.setItem(r, c, item("…"))
        self.table.blockSignals(False)

    def _check_item(self, mix: str):
        cell = item(mix)
        cell.setFlags(cell.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        cell.setCheckState(Qt.CheckState.Checked if mix == self.settings.default_quant else Qt.CheckState.Unchecked)
        cell.setData(Qt.ItemDataRole.UserRole, mix)
        return cell

    def _show(self, options: list[QuantOption]) -> None:
        if self.sender() is not self._worker:
            return
        checked = set(self.selected_mixes()) or {self.settings.default_quant}
        self.options = options
        self.table.blockSignals(True)
        self.table.setRowCount(len(options))
        for r, opt in enumerate(options):
            first = self._check_item(opt.mix)
            first.setCheckState(Qt.CheckState.Checked if opt.mix in checked else Qt.CheckState.Unchecked)
            self.table.setItem(r, 0, first)
            if opt.error:
                self.table.setItem(r, 1, item("—", tooltip=opt.error))
                self.table.setItem(r, 2, item("—"))
            else:
                self.table.setItem(r, 1, item(human_bytes(opt.size), sort_value=opt.size, align_right=True,
                                              tooltip=f"{opt.size:,} bytes of tensor data, exact; the file adds the "
                                                      "tokenizer and metadata (usually a few MiB)"))
                self.table.setItem(r, 2, item(f"{opt.bits_per_weight:.2f}", align_right=True))
            text, color = fit_badges.badge(opt.verdict)
            self.table.setItem(r, 3, item(text, color=color))
            cost = MIXES[opt.mix].typical_ppl_cost
            self.table.setItem(r, 4, item(f"{cost:+.4f} ppl"))
        self.table.blockSignals(False)
        self.status.setText("")
        self.changed.emit()

    def _failed(self, message: str) -> None:
        if self.sender() is self._worker:
            show_failure(self.status, "Cannot read this model:", message)
            self.changed.emit()

    # -- choices ------------------------------------------------------------------------------------------------
    def selected_mixes(self) -> list[str]:
        """The checked types, in table order."""
        out = []
        for r in range(self.table.rowCount()):
            cell = self.table.item(r, 0)
            if cell is not None and cell.checkState() == Qt.CheckState.Checked:
                out.append(cell.data(Qt.ItemDataRole.UserRole))
        return out

    def set_checked(self, mixes: list[str]) -> None:
        """Check exactly ``mixes``."""
        for r in range(self.table.rowCount()):
            cell = self.table.item(r, 0)
            if cell is not None:
                on = cell.data(Qt.ItemDataRole.UserRole) in mixes
                cell.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def calibration_text(self) -> Optional[str]:
        """None when no importance matrix is wanted; "" for the built-in text; else the user's text."""
        if not self.imatrix_box.isChecked():
            return None
        return self.calibration.toPlainText().strip()

    def out_dir(self) -> Path:
        """The output folder."""
        return Path(self.out_edit.text().strip() or str(self.settings.resolved_models_dir())).expanduser()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the files to", self.out_edit.text())
        if folder:
            self.out_edit.setText(folder)

    def stop(self) -> None:
        """Cancel a running estimate."""
        if self._worker is not None:
            self._worker.cancel()
