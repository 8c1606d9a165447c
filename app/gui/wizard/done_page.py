"""Wizard step 4: where the files are, their measured quality (if asked), and a button to chat with one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QPushButton, QTableWidget,
                               QVBoxLayout, QWidget)

from app.gui.widgets import heading, hint, item
from converter.core.units import human_bytes
from app.runtime.workflows.pipeline import PlanResult

COLUMNS = ("Type", "File", "Size", "Mean KL", "Same top token", "Perplexity")


class DonePage(QWidget):
    """Result table; ``chat_requested(path)``, ``fit_requested(path)`` and ``again()`` signals."""

    chat_requested = Signal(str)
    fit_requested = Signal(str)
    again = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: Optional[PlanResult] = None
        self.where = hint("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.quality_note = hint("")
        self.chat_button = QPushButton("Chat with this one")
        self.chat_button.setDefault(True)
        self.fit_button = QPushButton("Check fit…")
        self.open_button = QPushButton("Open folder")
        self.again_button = QPushButton("Quantize another")
        self.chat_button.clicked.connect(lambda: self._emit(self.chat_requested))
        self.fit_button.clicked.connect(lambda: self._emit(self.fit_requested))
        self.open_button.clicked.connect(self._open_folder)
        self.again_button.clicked.connect(self.again.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.chat_button)
        buttons.addWidget(self.fit_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.again_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("4 · Done"))
        layout.addWidget(self.where)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.quality_note)
        layout.addLayout(buttons)

    def show_result(self, result: PlanResult) -> None:
        """Fill the table from ``result``; the first file is selected."""
        self.result = result
        folders = {str(p.parent) for p in result.files.values()}
        self.where.setText("Saved to " + ", ".join(sorted(folders)))
        self.table.setRowCount(0)
        for mix, path in result.files.items():
            r = self.table.rowCount()
            self.table.insertRow(r)
            size = path.stat().st_size if path.exists() else 0
            q = result.quality.get(mix)
            cells = [item(mix), item(path.name, tooltip=str(path)),
                     item(human_bytes(size), sort_value=size, align_right=True)]
            if q is not None:
                cells += [item(f"{q.kl_mean:.4f}", align_right=True), item(f"{q.same_top:.1%}", align_right=True),
                          item(f"{q.ppl:.3f}", align_right=True)]
            else:
                cells += [item("—"), item("—"), item("—")]
            for c, cell in enumerate(cells):
                self.table.setItem(r, c, cell)
        if result.quality_error:
            self.quality_note.setText(f"Quality was not measured: {result.quality_error}")
        elif result.quality:
            self.quality_note.setText("Quality measured against the F16 conversion on Kompakt's evaluation text "
                                      "(lower KL is closer to the original).")
        else:
            self.quality_note.setText("")
        if self.table.rowCount():
            self.table.selectRow(0)

    def selected_path(self) -> Optional[Path]:
        """The file of the selected row."""
        rows = self.table.selectionModel().selectedRows()
        if not rows or self.result is None:
            return None
        return list(self.result.files.values())[rows[0].row()]

    def _emit(self, signal) -> None:
        path = self.selected_path()
        if path is not None:
            signal.emit(str(path))

    def _open_folder(self) -> None:
        path = self.selected_path()
        if path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))
