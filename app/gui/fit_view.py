"""The Fit place: for a model and quant type, the memory it needs on each device, with live controls.

The model's tensor list and the machine are read once on a worker; after that every control change asks the load
policy (:func:`app.runtime.load_policy.plan_load`, the one chat loads use too) on the UI thread: pure arithmetic
over a few hundred tensors, a few milliseconds; the time taken is shown in the status line so a slow case is
visible. The controls are explicit choices; the GPU slider starts where the policy puts it for the user's
settings (-1 = as many layers as fit).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QSlider, QVBoxLayout, QWidget)

from app.runtime import load_policy
from app.runtime.errors import SettingsError
from app.runtime.workflows import fit_badges
from app.gui.fit_bar import FitBar, bars_from_estimate
from app.gui.widgets import heading, hint, show_failure
from app.gui.workers import Worker
from converter.core.quant_types import DEFAULT_MIX, KV_CACHE_OFFERED, OFFERED_MIXES



class FitView(QWidget):
    """Model + quant chooser, sliders for context / K-V type / GPU layers, the stacked bar and a verdict."""

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.spec = None
        self.machine = None
        self.plan: Optional[load_policy.LoadPlan] = None
        self.last_ms = 0.0
        self._worker: Optional[Worker] = None

        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("GGUF file, Hugging Face folder, or owner/name on the Hub")
        self.model_edit.returnPressed.connect(lambda: self.set_model(self.model_edit.text()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.quant = QComboBox()
        self.quant.addItems(OFFERED_MIXES)
        self.quant.setCurrentText(settings.default_quant if settings.default_quant in OFFERED_MIXES
                                  else DEFAULT_MIX.name)
        self.quant.currentTextChanged.connect(lambda _t: self.set_model(self.model_edit.text()))

        self.ctx_slider = QSlider(Qt.Orientation.Horizontal)
        self.ctx_slider.setRange(8, 17)  # 2**8 = 256 ... 2**17 = 131072 tokens
        self.ctx_slider.setValue(max(8, min(17, settings.context_length.bit_length() - 1)))
        self.ctx_label = QLabel()
        self.kv_slider = QSlider(Qt.Orientation.Horizontal)
        self.kv_slider.setRange(0, len(KV_CACHE_OFFERED) - 1)
        self.kv_slider.setValue(KV_CACHE_OFFERED.index(settings.kv_type) if settings.kv_type in KV_CACHE_OFFERED
                                else 0)
        self.kv_label = QLabel()
        self.gpu_slider = QSlider(Qt.Orientation.Horizontal)
        self.gpu_slider.setRange(0, 1)
        self.gpu_label = QLabel()
        for s in (self.ctx_slider, self.kv_slider, self.gpu_slider):
            s.valueChanged.connect(self.recompute)
            s.setTickPosition(QSlider.TickPosition.TicksBelow)

        self.bar = FitBar()
        self.verdict = QLabel("")
        font = self.verdict.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.verdict.setFont(font)
        self.details = hint("")
        self.status = hint("Choose a model to see how much memory it needs here.")

        top = QHBoxLayout()
        top.addWidget(self.model_edit, 1)
        top.addWidget(browse)
        top.addWidget(QLabel("as"))
        top.addWidget(self.quant)
        form = QFormLayout()
        for label, slider, value in (("Context length", self.ctx_slider, self.ctx_label),
                                     ("K/V cache type", self.kv_slider, self.kv_label),
                                     ("GPU layers", self.gpu_slider, self.gpu_label)):
            row = QHBoxLayout()
            row.addWidget(slider, 1)
            value.setMinimumWidth(140)
            row.addWidget(value)
            form.addRow(label, row)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Will it fit?"))
        layout.addWidget(hint("Memory llama.cpp will allocate for this model on each device: weights, K/V cache, "
                              "compute buffers, and runtime overhead with a safety margin. The dashed line is "
                              "what the device has free now."))
        layout.addLayout(top)
        layout.addLayout(form)
        layout.addSpacing(8)
        layout.addWidget(self.verdict)
        layout.addWidget(self.bar)
        layout.addWidget(self.details)
        layout.addStretch(1)
        layout.addWidget(self.status)
        self._update_labels()

    # -- inputs ----------------------------------------------------------------------------------------------------
    def n_ctx(self) -> int:
        """Context length chosen."""
        return 1 << self.ctx_slider.value()

    def kv_type(self) -> str:
        """K/V cache type chosen."""
        return KV_CACHE_OFFERED[self.kv_slider.value()]

    def gpu_layers(self) -> int:
        """GPU layers chosen."""
        return self.gpu_slider.value()

    def set_model(self, model: str) -> None:
        """Read ``model``'s tensor list on a worker, then estimate."""
        model = model.strip()
        if not model:
            return
        self.model_edit.setText(model)
        is_gguf = Path(model).is_file()
        self.quant.setEnabled(not is_gguf)
        self.status.setText("Reading the model…")
        quant = None if is_gguf else self.quant.currentText()

        def read(*, progress, cancel):  # noqa: ARG001
            from app.runtime.fit import load_spec

            return load_spec(model, quant), load_policy.this_machine()

        worker = Worker(read, name="fit-spec")
        worker.succeeded.connect(self._spec_ready)  # bound methods: dropped by Qt if this view is deleted first
        worker.failed.connect(self._spec_failed)
        self._worker = worker
        worker.start()

    def _spec_failed(self, message: str) -> None:
        if self.sender() is self._worker:
            show_failure(self.status, "Cannot read:", message)

    def _spec_ready(self, result) -> None:
        if self.sender() is not self._worker:
            return
        self.spec, self.machine = result
        try:  # the GPU layers the policy picks for the user's settings (-1: as many as fit)
            start = self._plan(self.settings.gpu_layers).params.n_gpu_layers
        except SettingsError:
            start = 0
        self.gpu_slider.blockSignals(True)
        self.gpu_slider.setRange(0, self.spec.n_layer + 1 if self.machine.gpus else 0)
        self.gpu_slider.setValue(start)
        self.gpu_slider.blockSignals(False)
        self.recompute()

    def _plan(self, gpu_layers: int) -> load_policy.LoadPlan:
        kv = self.kv_type()
        return load_policy.plan_load(None, self.settings, spec=self.spec, machine=self.machine, n_ctx=self.n_ctx(),
                                     type_k=kv, type_v=kv, n_gpu_layers=gpu_layers)

    # -- the estimate -----------------------------------------------------------------------------------------------
    def recompute(self) -> None:
        """Estimate for the current controls (UI thread: arithmetic only)."""
        self._update_labels()
        if self.spec is None:
            return
        t0 = time.perf_counter()
        try:
            self.plan = self._plan(self.gpu_layers())
        except SettingsError as exc:  # e.g. a quantized V cache where the GPU has no flash attention
            self.plan = None
            self.verdict.setText("")
            self.details.setText(str(exc))
            return
        self.last_ms = (time.perf_counter() - t0) * 1000
        fit = self.plan.fit
        est = fit.estimate
        text, colour = fit_badges.badge(fit.verdict)
        self.verdict.setText(f"<span style='color:{colour}'>{fit.summary()}</span>")
        self.bar.set_bars(bars_from_estimate(est))
        more = f"Largest context that fits with these settings: {fit.max_ctx:,} tokens." \
            if fit.max_ctx else "Not even 256 tokens of context fit with these settings."
        if fit.suggestions:
            more += "  Try: " + "; ".join(fit.suggestions)
        self.details.setText(more)
        self._update_labels()
        self.status.setText(f"{Path(self.spec.source).name or self.spec.arch}: {self.spec.arch}, "
                            f"{self.spec.n_layer} layers · estimated in {self.last_ms:.1f} ms")

    def _update_labels(self) -> None:
        self.ctx_label.setText(f"{self.n_ctx():,} tokens")
        ctx = self.plan.context if self.plan is not None else None
        fa = "" if ctx is None else f" · flash attention {'on' if ctx.flash_attn else 'off'}"
        self.kv_label.setText(self.kv_type() + fa)
        total = self.gpu_slider.maximum()
        self.gpu_label.setText(f"{self.gpu_layers()} of {total}" if total else "no GPU")

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Model", str(self.settings.resolved_models_dir()),
                                              "GGUF files (*.gguf);;All files (*)")
        if path:
            self.set_model(path)
