"""The Models place: every model on disk with its size, type and a fit badge for this machine."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget,
                               QVBoxLayout, QWidget)

from app.runtime.workflows import fit_badges
from app.runtime.workflows.model_scan import ModelEntry, scan_models
from app.gui.widgets import heading, hint, item, show_failure
from converter.core.units import human_bytes
from app.gui.workers import Worker

COLUMNS = ("Name", "Type", "Size", "Fits", "Location")


def _scan_with_badges(models_dir: Path, hf_cache: Path, prefs, *, progress, cancel
                      ) -> list[tuple[ModelEntry, Optional[str]]]:
    from converter.core.progress import Progress, check

    entries = scan_models(models_dir, hf_cache)
    out = []
    for i, entry in enumerate(entries):
        check(cancel)
        progress(Progress("estimating", i, len(entries), "models", entry.name))
        verdict = None
        if not entry.error:
            quant = prefs.default_quant if entry.kind == "checkpoint" else None
            verdict, _ = fit_badges.quick_verdict(str(entry.path), prefs, quant)
        out.append((entry, verdict))
    return out


class ModelsView(QWidget):
    """Table of models; buttons to chat with a GGUF, quantize a checkpoint, or check the fit in detail."""

    chat_requested = Signal(str)
    quantize_requested = Signal(str)
    fit_requested = Signal(str)

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.entries: list[ModelEntry] = []
        self._worker: Optional[Worker] = None

        self.status = hint("")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.setSortingEnabled(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _i: self._primary())

        self.refresh_button = QPushButton("Refresh")
        self.chat_button = QPushButton("Chat")
        self.quantize_button = QPushButton("Quantize…")
        self.fit_button = QPushButton("Check fit…")
        self.refresh_button.clicked.connect(self.refresh)
        self.chat_button.clicked.connect(lambda: self._emit(self.chat_requested))
        self.quantize_button.clicked.connect(lambda: self._emit(self.quantize_requested))
        self.fit_button.clicked.connect(lambda: self._emit(self.fit_requested))

        buttons = QHBoxLayout()
        for b in (self.chat_button, self.quantize_button, self.fit_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Models on this computer"))
        layout.addWidget(hint("GGUF files in your models folder and checkpoints downloaded to the Hugging Face "
                              "cache. The badge says where a model would run here at your default context length."))
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._update_buttons()

    # -- data ---------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rescan on a worker; the table fills when it is done."""
        if self._worker is not None and self._worker.is_running():
            return
        from app.runtime import paths

        self.status.setText("Scanning…")
        self.refresh_button.setEnabled(False)
        self._worker = Worker(_scan_with_badges, self.settings.resolved_models_dir(), paths.hf_hub_cache(),
                              dataclasses.replace(self.settings), name="scan-models")
        self._worker.succeeded.connect(self._show)
        self._worker.failed.connect(self._scan_failed)
        self._worker.done.connect(self._scan_done)
        self._worker.start()

    def _scan_failed(self, message: str) -> None:
        show_failure(self.status, "Could not scan:", message)

    def _scan_done(self) -> None:
        self.refresh_button.setEnabled(True)

    def _show(self, rows: list[tuple[ModelEntry, Optional[str]]]) -> None:
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        self.entries = []
        for entry, verdict in rows:
            r = self.table.rowCount()
            self.table.insertRow(r)
            self.entries.append(entry)
            name = item(entry.name, tooltip=entry.error or str(entry.path))
            name.setData(Qt.ItemDataRole.UserRole + 1, len(self.entries) - 1)
            self.table.setItem(r, 0, name)
            self.table.setItem(r, 1, item(entry.type_label))
            self.table.setItem(r, 2, item(human_bytes(entry.size), sort_value=entry.size, align_right=True))
            text, color = ("unreadable", "#c62828") if entry.error else fit_badges.badge(verdict)
            self.table.setItem(r, 3, item(text, color=color, tooltip=entry.error))
            self.table.setItem(r, 4, item(str(entry.path.parent)))
        self.table.setSortingEnabled(True)
        n = len(self.entries)
        self.status.setText(f"{n} model{'s' if n != 1 else ''} found." if n else
                            "No models yet: use Quantize to make one from a Hugging Face model.")
        self._update_buttons()

    # -- selection ------------------------------------------------------------------------------------------------
    def selected(self) -> Optional[ModelEntry]:
        """The entry of the selected row, if any."""
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        index = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole + 1)
        return self.entries[index]

    def _update_buttons(self) -> None:
        entry = self.selected()
        ok = entry is not None and not entry.error
        self.chat_button.setEnabled(ok and entry.kind == "gguf")
        self.quantize_button.setEnabled(ok)
        self.fit_button.setEnabled(ok)

    def _emit(self, signal) -> None:
        entry = self.selected()
        if entry is not None:
            signal.emit(str(entry.path))

    def _primary(self) -> None:
        entry = self.selected()
        if entry is None:
            return
        self._emit(self.chat_requested if entry.kind == "gguf" else self.quantize_requested)
