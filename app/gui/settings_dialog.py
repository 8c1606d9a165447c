"""The Settings dialog: models folder, Hugging Face login (token masked), threads and defaults.

Ranges come from :data:`app.runtime.settings.LIMITS`, the one table every place validates against.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from app.runtime import settings as st
from app.runtime.errors import SettingsError
from converter.core.quant_types import KV_CACHE_OFFERED, OFFERED_MIXES


class SettingsDialog(QDialog):
    """Edit a copy of the settings; :meth:`result_settings` gives the validated new values after OK."""

    def __init__(self, settings: st.Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Kompakt settings")
        self._settings = dataclasses.replace(settings)
        self.models_dir = QLineEdit(settings.models_dir)
        self.models_dir.setPlaceholderText(str(settings.resolved_models_dir()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        folder = QHBoxLayout()
        folder.addWidget(self.models_dir, 1)
        folder.addWidget(browse)
        self.token_state = QLabel()
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("paste a new token (hf_…) to log in")
        login = QPushButton("Log in")
        login.clicked.connect(self._login)
        token_row = QHBoxLayout()
        token_row.addWidget(self.token_edit, 1)
        token_row.addWidget(login)
        self.threads = QSpinBox()
        self.threads.setRange(*map(int, st.LIMITS["threads"].ui_range()))
        self.threads.setValue(settings.threads)
        self.quant = QComboBox()
        self.quant.addItems(OFFERED_MIXES)
        self.quant.setCurrentText(settings.default_quant)
        self.ctx = QSpinBox()
        self.ctx.setRange(*map(int, st.LIMITS["context_length"].ui_range()))
        self.ctx.setSingleStep(1024)
        self.ctx.setValue(settings.context_length)
        self.gpu = QSpinBox()
        self.gpu.setRange(*map(int, st.LIMITS["gpu_layers"].ui_range()))  # above a model's layers: all
        self.gpu.setSpecialValueText("auto (as many as fit)")
        self.gpu.setValue(settings.gpu_layers)
        self.kv = QComboBox()
        self.kv.addItems(KV_CACHE_OFFERED)
        self.kv.setCurrentText(settings.kv_type)
        self.kl = QDoubleSpinBox()
        self.kl.setDecimals(4)
        self.kl.setRange(st.LIMITS["kl_threshold"].ui_range(0.0001)[0], 5.0)
        self.kl.setSingleStep(0.01)
        self.kl.setValue(settings.kl_threshold)

        form = QFormLayout()
        form.addRow("Models folder", folder)
        form.addRow("Hugging Face", self.token_state)
        form.addRow("", token_row)
        form.addRow("Threads", self.threads)
        form.addRow("Default quantization", self.quant)
        form.addRow("Default context length", self.ctx)
        form.addRow("Default K/V cache", self.kv)
        form.addRow("Default GPU layers", self.gpu)
        form.addRow("Quality threshold (mean KL)", self.kl)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._show_token()

    def _show_token(self) -> None:
        try:
            from app.runtime.hub.auth import stored_token

            token = stored_token()
        except Exception:  # noqa: BLE001 - no hub module or unreadable store: show logged out
            token = None
        self.token_state.setText(f"logged in ({st.masked_token(token)})" if token else "not logged in")

    def _login(self) -> None:
        token = self.token_edit.text().strip()
        if not token:
            return
        try:
            from app.runtime.hub.auth import login

            login(token)
        except Exception as exc:  # noqa: BLE001 - shown to the user; the token itself is never shown or logged
            QMessageBox.warning(self, "Login failed", str(exc).splitlines()[0] if str(exc) else "login failed")
        finally:
            self.token_edit.clear()
        self._show_token()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Models folder", self.models_dir.text())
        if folder:
            self.models_dir.setText(folder)

    def result_settings(self) -> st.Settings:
        """The edited settings (validated)."""
        new = dataclasses.replace(self._settings, models_dir=self.models_dir.text().strip(),
                                  threads=self.threads.value(), default_quant=self.quant.currentText(),
                                  context_length=self.ctx.value(), kv_type=self.kv.currentText(),
                                  gpu_layers=self.gpu.value(), kl_threshold=self.kl.value())
        new.validate()
        return new

    def accept(self) -> None:  # noqa: D102
        try:
            self.result_settings()
        except SettingsError as exc:
            QMessageBox.warning(self, "Invalid setting", str(exc))
            return
        super().accept()
