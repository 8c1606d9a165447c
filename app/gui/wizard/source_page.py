"""Wizard step 1: pick the model, from a Hub search (results as you type) or a local folder / GGUF file."""

from __future__ import annotations

from typing import Any, Callable, Optional

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QButtonGroup, QFileDialog, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                               QListWidgetItem, QPushButton, QRadioButton, QVBoxLayout, QWidget)

from app.gui.widgets import heading, hint, show_failure
from app.gui.workers import Worker

SEARCH_DELAY_MS = 350


def _search(query: str, *, progress, cancel):  # noqa: ARG001 - the Worker passes progress to every job
    from app.runtime.hub import search_models

    return search_models(query, limit=20, cancel=cancel)


def _support(repo_id: str, *, progress, cancel):  # noqa: ARG001
    from app.runtime.hub import support_report

    return support_report(repo_id, cancel=cancel)


def _describe(m) -> str:
    params = f"{m.parameters / 1e9:.1f}B" if m.parameters else "? params"
    bits = [params, m.architecture or "?"]
    if m.downloads is not None:
        bits.append(f"{m.downloads:,} downloads")
    if m.gated:
        bits.append("gated")
    if m.supported is False:
        bits.append("not supported")
    return f"{m.repo_id}    ·    " + " · ".join(bits)


class SourcePage(QWidget):
    """Emits ``changed`` whenever the chosen source changes; :meth:`source` gives it (or None)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._worker: Optional[Worker] = None
        self._support_worker: Optional[Worker] = None
        #: repo id -> whether the converter takes it (False: not offered as a source), from search or the check
        self._supported: dict[str, Optional[bool]] = {}
        self._pending_query = ""
        self._error = ""

        self.hub_radio = QRadioButton("Search Hugging Face")
        self.local_radio = QRadioButton("Use a model on this computer (folder with config.json, or a .gguf file)")
        group = QButtonGroup(self)
        group.addButton(self.hub_radio)
        group.addButton(self.local_radio)
        self.hub_radio.setChecked(True)

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Model name or owner/name, e.g. SmolLM2 or Qwen/Qwen3-0.6B")
        self.search_edit.setClearButtonEnabled(True)
        self.results = QListWidget()
        self.results.setAlternatingRowColors(True)
        self.search_status = hint("")
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DELAY_MS)
        self._debounce.timeout.connect(self._start_search)
        self.search_edit.textChanged.connect(self._query_changed)
        self.results.currentItemChanged.connect(lambda *_: self._selection_changed())
        self.support_status = hint("")
        self.support_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.local_edit = QLineEdit()
        self.local_edit.setPlaceholderText("/path/to/model-folder or /path/to/model.gguf")
        self.local_edit.textChanged.connect(lambda _t: self._local_changed())
        folder_button = QPushButton("Folder…")
        file_button = QPushButton("GGUF file…")
        folder_button.clicked.connect(self._browse_folder)
        file_button.clicked.connect(self._browse_file)
        self.local_status = hint("")

        for radio in (self.hub_radio, self.local_radio):
            radio.toggled.connect(self._mode_changed)

        local_row = QHBoxLayout()
        local_row.addWidget(self.local_edit, 1)
        local_row.addWidget(folder_button)
        local_row.addWidget(file_button)
        self._local_widgets = [self.local_edit, folder_button, file_button]

        layout = QVBoxLayout(self)
        layout.addWidget(heading("1 · Choose a model"))
        layout.addWidget(hint("Kompakt converts Hugging Face checkpoints (safetensors) to GGUF and quantizes "
                              "them. Nothing is downloaded until you start."))
        layout.addSpacing(6)
        layout.addWidget(self.hub_radio)
        layout.addWidget(self.search_edit)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.search_status)
        layout.addWidget(self.support_status)
        layout.addSpacing(6)
        layout.addWidget(self.local_radio)
        layout.addLayout(local_row)
        layout.addWidget(self.local_status)
        self._mode_changed()

    # -- the chosen source ------------------------------------------------------------------------------------------
    def source(self):
        """``LocalFolder``/``LocalGGUF``/``HubRepo`` for the current choice, or None when incomplete or invalid."""
        from app.runtime.sources import HubRepo, resolve_source

        if self.local_radio.isChecked():
            try:
                return resolve_source(self.local_edit.text()) if self.local_edit.text().strip() else None
            except ValueError:
                return None
        current = self.results.currentItem()
        if current is not None and self._supported.get(current.data(Qt.ItemDataRole.UserRole)) is not False:
            return HubRepo(current.data(Qt.ItemDataRole.UserRole))
        return None

    def set_local(self, path: str) -> None:
        """Preselect a local folder or file (from the Models view)."""
        self.local_radio.setChecked(True)
        self.local_edit.setText(path)

    def _mode_changed(self) -> None:
        hub = self.hub_radio.isChecked()
        self.search_edit.setEnabled(hub)
        self.results.setEnabled(hub)
        for w in self._local_widgets:
            w.setEnabled(not hub)
        self.changed.emit()

    def _local_changed(self) -> None:
        from app.runtime.sources import LocalGGUF, resolve_source

        text = self.local_edit.text().strip()
        if not text:
            self.local_status.setText("")
        else:
            try:
                src = resolve_source(text)
                kind = "GGUF file (will be re-quantized)" if isinstance(src, LocalGGUF) else "checkpoint folder"
                self.local_status.setText(f"✓ {kind}" if not hasattr(src, "repo_id") else
                                          f"Hugging Face repo {src.repo_id}")
            except ValueError as exc:
                self.local_status.setText(str(exc))
        self.changed.emit()

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder")
        if folder:
            self.local_edit.setText(folder)

    def _browse_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "GGUF file", "", "GGUF files (*.gguf)")
        if path:
            self.local_edit.setText(path)

    # -- search as you type -------------------------------------------------------------------------------------------
    def _query_changed(self, text: str) -> None:
        self._pending_query = text.strip()
        if len(self._pending_query) >= 2:
            self._debounce.start()
        else:
            self._debounce.stop()

    def _replace(self, old: Optional[Worker], job: Callable[..., Any], arg: str, name: str,
                 ok: Callable[[Any], None], failed: Callable[[str], None]) -> Worker:
        """Start ``job(arg)`` on a Worker; a running ``old`` one is cancelled (its late answer is ignored: the
        slots only take the newest worker's answer)."""
        if old is not None and old.is_running():
            old.cancel()
        worker = Worker(job, arg, name=name)
        worker.succeeded.connect(ok)
        worker.failed.connect(failed)
        worker.start()
        return worker

    def _start_search(self) -> None:
        self.search_status.setText(f"Searching for “{self._pending_query}”…")
        self._worker = self._replace(self._worker, _search, self._pending_query, "hub-search", self._show_results,
                                     self._search_failed)

    def _show_results(self, results) -> None:
        if self.sender() is not self._worker:  # a late answer to an older query
            return
        self.results.clear()
        for m in results:
            entry = QListWidgetItem(_describe(m))
            entry.setData(Qt.ItemDataRole.UserRole, m.repo_id)
            self._supported[m.repo_id] = m.supported
            if m.is_gguf:
                entry.setFlags(entry.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                entry.setToolTip("This repository holds GGUF files only")
            elif m.supported is False:  # selectable: the check below names the alternatives
                entry.setToolTip("Kompakt cannot convert this architecture; select it to see alternatives")
            self.results.addItem(entry)
        self.search_status.setText(f"{len(results)} results" if results else "No text-generation models found.")

    def _search_failed(self, message: str) -> None:
        if self.sender() is self._worker:
            show_failure(self.search_status, "Search failed:", message)

    # -- can Kompakt convert the selected repo? -------------------------------------------------------------------
    def _selection_changed(self) -> None:
        current = self.results.currentItem()
        if current is None:
            if self._support_worker is not None:
                self._support_worker.cancel()
            self._support_worker = None
            self.support_status.setText("")
        else:
            repo_id = current.data(Qt.ItemDataRole.UserRole)
            self.support_status.setText(f"Checking whether Kompakt can convert {repo_id}…")
            self._support_worker = self._replace(self._support_worker, _support, repo_id, "hub-support",
                                                 self._show_support, self._support_failed)
        self.changed.emit()

    def _show_support(self, report) -> None:
        if self.sender() is not self._support_worker:
            return
        self._supported[report.repo_id] = report.supported
        self.support_status.setText(("✓ " if report.supported else "✗ " if report.supported is False else "")
                                    + "\n".join(report.lines()))
        self.changed.emit()

    def _support_failed(self, message: str) -> None:
        if self.sender() is self._support_worker:
            show_failure(self.support_status, "Cannot check this model:", message)

    def stop(self) -> None:
        """Cancel a running search or support check (page closing)."""
        self._debounce.stop()
        for worker in (self._worker, self._support_worker):
            if worker is not None:
                worker.cancel()
