"""The Quantize place: a four-step wizard (source -> types -> run -> done) with Back / Next navigation."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QMessageBox, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from app.gui.wizard.done_page import DonePage
from app.runtime.workflows.pipeline import QuantizePlan
from app.gui.wizard.run_page import RunPage
from app.gui.wizard.source_page import SourcePage
from app.gui.wizard.types_page import TypesPage

SOURCE, TYPES, RUN, DONE = range(4)


class QuantizeWizard(QWidget):
    """Collects a :class:`QuantizePlan`, runs it, shows the result. ``models_changed`` after new files appear."""

    chat_requested = Signal(str)
    fit_requested = Signal(str)
    models_changed = Signal()

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from app.runtime.workflows.warm import warm_imports

        warm_imports()
        self.settings = settings
        self._source = None
        self.source_page = SourcePage()
        self.types_page = TypesPage(settings)
        self.run_page = RunPage()
        self.done_page = DonePage()
        self.stack = QStackedWidget()
        for page in (self.source_page, self.types_page, self.run_page, self.done_page):
            self.stack.addWidget(page)

        self.back_button = QPushButton("Back")
        self.next_button = QPushButton("Next")
        self.next_button.setDefault(True)
        self.back_button.clicked.connect(self.back)
        self.next_button.clicked.connect(self.next)
        nav = QHBoxLayout()
        nav.addStretch(1)
        nav.addWidget(self.back_button)
        nav.addWidget(self.next_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)
        layout.addLayout(nav)

        self.source_page.changed.connect(self._update_nav)
        self.types_page.changed.connect(self._update_nav)
        self.run_page.finished.connect(self._finished)
        self.run_page.ended.connect(self._update_nav)
        self.done_page.chat_requested.connect(self.chat_requested)
        self.done_page.fit_requested.connect(self.fit_requested)
        self.done_page.again.connect(lambda: self.go(SOURCE))
        self._update_nav()

    # -- navigation -----------------------------------------------------------------------------------------------
    def page(self) -> int:
        """Index of the current step."""
        return self.stack.currentIndex()

    def go(self, index: int) -> None:
        """Show step ``index``."""
        self.stack.setCurrentIndex(index)
        self._update_nav()

    def back(self) -> None:
        """One step back (from the run page only once the job has ended)."""
        if self.page() == RUN and self.run_page.is_running():
            return
        self.go(TYPES if self.page() in (RUN, DONE) else max(SOURCE, self.page() - 1))

    def next(self) -> None:
        """One step forward; on the types page this starts the job."""
        source = self.source_page.source() if self.page() == SOURCE else None
        if source is not None:
            self._source = source  # the types table and the run use the source as it was when chosen
            self.types_page.set_source(source)
            self.go(TYPES)
        elif self.page() == TYPES and self.types_page.selected_mixes():
            self.start()

    def start(self) -> None:
        """Build the plan from the pages and run it."""
        plan = self.plan()
        from app.runtime.workflows.pipeline import plan_outputs

        clash = [p.name for p in plan_outputs(plan).values() if p.exists()]
        if clash and QMessageBox.question(self, "Replace files?", "These files exist and will be replaced:\n"
                                          + "\n".join(clash)) != QMessageBox.StandardButton.Yes:
            return
        self.go(RUN)
        self.run_page.start(plan)
        self._update_nav()

    def plan(self) -> QuantizePlan:
        """The plan the pages describe now."""
        return QuantizePlan(source=self._source, mixes=self.types_page.selected_mixes(),
                            out_dir=self.types_page.out_dir(), calibration=self.types_page.calibration_text(),
                            measure_quality=self.types_page.quality_box.isChecked(), threads=self.settings.threads)

    def set_local_source(self, path: str) -> None:
        """Start over with a local folder or file preselected (from the Models view)."""
        if self.run_page.is_running():
            return
        self.source_page.set_local(path)
        self.go(SOURCE)

    def _finished(self, result) -> None:
        self.done_page.show_result(result)
        self.go(DONE)
        self.models_changed.emit()

    def _update_nav(self) -> None:
        page = self.page()
        running = self.run_page.is_running()
        self.back_button.setVisible(page != SOURCE)
        self.back_button.setEnabled(not running)
        self.next_button.setVisible(page in (SOURCE, TYPES))
        self.next_button.setText("Start" if page == TYPES else "Next")
        if page == SOURCE:
            self.next_button.setEnabled(self.source_page.source() is not None)
        elif page == TYPES:
            self.next_button.setEnabled(bool(self.types_page.selected_mixes()) and bool(self.types_page.options))

    def stop(self) -> None:
        """Cancel whatever runs (window closing)."""
        self.source_page.stop()
        self.types_page.stop()
        self.run_page.cancel()
