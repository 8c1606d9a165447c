"""Wizard step 3: run the plan with one progress view and a Cancel that takes effect within a second."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.gui.progress_view import ProgressView
from app.gui.widgets import heading, hint, show_failure
from app.runtime.workflows.pipeline import PlanResult, QuantizePlan, run_plan
from app.gui.workers import Worker


class RunPage(QWidget):
    """Runs a :class:`QuantizePlan`; emits ``finished(result)``, ``cancelled()`` or ``failed(message)``."""

    finished = Signal(object)
    cancelled = Signal()
    failed = Signal(str)
    ended = Signal()  # the job's thread has ended, whatever the outcome

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker: Optional[Worker] = None
        self.progress = ProgressView()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.summary = hint("")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("3 · Working"))
        layout.addWidget(self.summary)
        layout.addSpacing(12)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addStretch(1)
        layout.addLayout(buttons)

    def start(self, plan: QuantizePlan) -> Worker:
        """Start the job; returns its worker."""
        from app.runtime.workflows.pipeline import plan_outputs

        names = ", ".join(p.name for p in plan_outputs(plan).values())
        self.summary.setText(f"Writing {names} to {plan.out_dir}")
        self.progress.reset("Starting…")
        self.message.setText("")
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        from app.runtime.workflows.process_job import run_in_process

        # a child process: nothing the converter does (tokenizer loading, imports) can hold this process's GIL
        worker = Worker(run_in_process, run_plan, plan, name="quantize")
        worker.progress.connect(self.progress.update_progress)
        worker.succeeded.connect(self._succeeded)
        worker.cancelled.connect(self._cancelled)
        worker.failed.connect(self._failed)
        worker.stopped.connect(self._ended)
        self.worker = worker
        worker.start()
        return worker

    def is_running(self) -> bool:
        """True while the job runs."""
        return self.worker is not None and self.worker.is_running()

    def cancel(self) -> None:
        """Ask the job to stop; the page reports when it has."""
        if self.worker is not None and self.worker.is_running():
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Cancelling…")

    def _ended(self) -> None:
        self.ended.emit()

    def _succeeded(self, result: PlanResult) -> None:
        self.cancel_button.setEnabled(False)
        self.finished.emit(result)

    def _cancelled(self) -> None:
        self.message.setText("Cancelled. Nothing was written.")
        self.cancelled.emit()

    def _failed(self, message: str) -> None:
        self.cancel_button.setEnabled(False)
        show_failure(self.message, "Failed:", message)
        self.failed.emit(message)
