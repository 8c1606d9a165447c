"""The Chat place's side panels: sampling settings + system prompt, and load settings (from the estimator)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLabel, QPlainTextEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from app.runtime.settings import LIMITS
from converter.core.quant_types import KV_CACHE_OFFERED


class SamplingPanel(QGroupBox):
    """System prompt, temperature, top-p and the answer length."""

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__("Answer settings", parent)
        self.system = QPlainTextEdit(settings.system_prompt)
        self.system.setMaximumHeight(80)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(*LIMITS["temperature"].ui_range())
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(settings.temperature)
        self.top_p = QDoubleSpinBox()
        self.top_p.setRange(*LIMITS["top_p"].ui_range())
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(settings.top_p)
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(*map(int, LIMITS["max_tokens"].ui_range()))
        self.max_tokens.setValue(settings.max_tokens)
        form = QFormLayout()
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-p", self.top_p)
        form.addRow("Max answer tokens", self.max_tokens)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("System prompt"))
        layout.addWidget(self.system)
        layout.addLayout(form)

    def sampling(self):
        """:class:`app.runtime.chat.SamplingSettings` from the controls."""
        from app.runtime.chat.settings import SamplingSettings

        return SamplingSettings(temperature=self.temperature.value(), top_p=self.top_p.value(),
                                max_tokens=self.max_tokens.value())

    def system_prompt(self) -> str:
        """The system prompt text."""
        return self.system.toPlainText().strip()

    def set_system_prompt(self, text: str) -> None:
        """Show ``text`` as the system prompt."""
        self.system.setPlainText(text)


class LoadPanel(QGroupBox):
    """Context length, K/V cache type and GPU layers; filled from the memory estimate, changeable, then Reload."""

    reload_requested = Signal()

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__("Load settings", parent)
        self.ctx = QSpinBox()
        self.ctx.setRange(*map(int, LIMITS["context_length"].ui_range()))
        self.ctx.setSingleStep(512)
        self.ctx.setValue(settings.context_length)
        self.kv = QComboBox()
        self.kv.addItems(KV_CACHE_OFFERED)
        self.kv.setCurrentText(settings.kv_type)
        self.gpu = QSpinBox()
        self.gpu.setRange(*map(int, LIMITS["gpu_layers"].ui_range()))  # above a model's layers: all
        self.gpu.setSpecialValueText("auto")  # -1: as many as fit
        self.gpu.setValue(settings.gpu_layers)
        self.threads = QSpinBox()
        self.threads.setRange(*map(int, LIMITS["threads"].ui_range()))
        self.threads.setValue(settings.threads)
        reload_button = QPushButton("Reload model")
        reload_button.clicked.connect(self.reload_requested.emit)
        form = QFormLayout(self)
        form.addRow("Context tokens", self.ctx)
        form.addRow("K/V cache", self.kv)
        form.addRow("GPU layers", self.gpu)
        form.addRow("Threads", self.threads)
        form.addRow(reload_button)

    def n_ctx(self) -> int:
        """Context length in tokens."""
        return self.ctx.value()

    def kv_type(self) -> str:
        """K/V cache type."""
        return self.kv.currentText()

    def gpu_layers(self) -> int:
        """Layers to offload."""
        return self.gpu.value()

    def apply_plan(self, plan) -> None:
        """Show the context and GPU layers the load policy chose (a :class:`app.runtime.load_policy.LoadPlan`)."""
        self.gpu.setValue(int(plan.params.n_gpu_layers))
        self.ctx.setValue(int(plan.params.n_ctx))

    def load_settings(self):
        """:class:`app.runtime.chat.LoadSettings` from the controls."""
        from app.runtime.chat.settings import LoadSettings

        kv = self.kv_type()
        return LoadSettings(n_ctx=self.n_ctx(), n_gpu_layers=self.gpu_layers(), n_threads=self.threads.value(),
                            type_k=kv, type_v=kv, flash_attn="auto")  # resolved by the load policy
