"""The main window: Models, Quantize and Chat, plus the Fit and Quality tools, picked from a sidebar."""

from __future__ import annotations

import logging
from html import escape
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMainWindow, QStackedWidget, QVBoxLayout, QWidget)

from app import __version__
from app.gui import workers
from app.gui.models_view import ModelsView
from app.gui.widgets import app_icon, heading, log_link
from app.runtime import paths
from app.gui.wizard.wizard import QuantizeWizard
from app.runtime import settings as settings_mod

log = logging.getLogger(__name__)

PLACES = ("Models", "Quantize", "Chat", "Fit", "Quality")


def _window_state() -> QSettings:
    """Window geometry, stored beside the settings file (so ``KOMPAKT_CONFIG_DIR`` redirects it too)."""
    return QSettings(str(paths.config_dir() / "window.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    """Top-level window. Heavy work runs on workers; closing the window cancels and joins them."""

    def __init__(self, settings: Optional[settings_mod.Settings] = None) -> None:
        super().__init__()
        self.settings = settings or settings_mod.load()
        self.setWindowTitle("Kompakt")
        self.setWindowIcon(app_icon())
        self.resize(1180, 760)

        self.models = ModelsView(self.settings)
        self.wizard = QuantizeWizard(self.settings)
        from app.gui.chat.chat_view import ChatView
        from app.gui.fit_view import FitView
        from app.gui.quality_view import QualityView

        self.chat = ChatView(self.settings)
        self.fit = FitView(self.settings)
        self.quality = QualityView(self.settings)
        self.stack = QStackedWidget()
        self.nav = QListWidget()
        self.nav.setFixedWidth(150)
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setStyleSheet("QListWidget { border: none; background: palette(window); font-size: 14px; }"
                               "QListWidget::item { padding: 10px 14px; }"
                               "QListWidget::item:selected { background: palette(highlight);"
                               " color: palette(highlighted-text); border-radius: 6px; }")
        for name, page in zip(PLACES, (self.models, self.wizard, self.chat, self.fit, self.quality)):
            QListWidgetItem(name, self.nav)
            self.stack.addWidget(page)
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(8, 8, 8, 8)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.models.chat_requested.connect(self.open_chat)
        self.models.quantize_requested.connect(self.open_wizard)
        self.models.fit_requested.connect(self.open_fit)
        self.wizard.chat_requested.connect(self.open_chat)
        self.wizard.fit_requested.connect(self.open_fit)
        self.wizard.models_changed.connect(self.models.refresh)
        self._make_menu()
        self._restore_geometry()
        self.show_place("Models")
        self.models.refresh()

    # -- places ---------------------------------------------------------------------------------------------------
    def show_place(self, name: str) -> None:
        """Switch the sidebar to ``name`` (one of :data:`PLACES`)."""
        self.nav.setCurrentRow(PLACES.index(name))

    def open_chat(self, path: str) -> None:
        """Open the Chat place with the GGUF at ``path`` loading."""
        self.show_place("Chat")
        self.chat.load_model(path)

    def open_wizard(self, path: str) -> None:
        """Open the Quantize place with ``path`` as the source."""
        self.wizard.set_local_source(path)
        self.show_place("Quantize")

    def open_fit(self, path: str) -> None:
        """Open the Fit place for ``path``."""
        self.fit.set_model(path)
        self.show_place("Fit")

    def _make_menu(self) -> None:
        menu = self.menuBar().addMenu("&Kompakt")
        prefs = QAction("&Settings…", self)
        prefs.setShortcut(QKeySequence.StandardKey.Preferences)
        prefs.triggered.connect(self.open_settings)
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        menu.addAction(prefs)
        menu.addSeparator()
        menu.addAction(quit_action)
        about = QAction("&About Kompakt", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self.open_about)
        self.menuBar().addMenu("&Help").addAction(about)

    def open_about(self) -> "AboutDialog":
        """Show the About dialog (version, where the log file and the models are); returns it (modeless)."""
        dialog = AboutDialog(self.settings.resolved_models_dir(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        return dialog

    def open_settings(self) -> None:
        """Show the Settings dialog; saved changes apply to every place."""
        from app.gui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            new = dialog.result_settings()
            for f in new.__dataclass_fields__:
                setattr(self.settings, f, getattr(new, f))  # the places share this object
            settings_mod.save(self.settings)
            self.models.refresh()

    # -- window state (kept apart from the settings) --------------------------------------------------------------
    def _restore_geometry(self) -> None:
        state = _window_state().value("window/geometry")
        if state is not None:
            self.restoreGeometry(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        """Cancel running jobs, close the chat model and join every worker thread before closing."""
        _window_state().setValue("window/geometry", self.saveGeometry())
        self.wizard.stop()
        self.chat.shutdown()
        if not workers.stop_all(timeout=15):
            log.warning("some background jobs did not stop in time")
        super().closeEvent(event)


class AboutDialog(QDialog):
    """Version, the log file to attach to a bug report, and Kompakt's folders."""

    def __init__(self, models_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Kompakt")
        link = log_link() or "none (logging goes to the terminal only)"
        self.text = QLabel(
            f"Shrink Hugging Face models to GGUF, check whether they fit, and chat with them locally.<br><br>"
            f"<b>Log file:</b> {link}<br>"
            f"<small>Attach it to a bug report; errors are recorded there with their details.</small><br><br>"
            f"<b>Models:</b> {escape(str(models_dir))}<br><b>Settings:</b> {escape(str(paths.config_dir()))}<br>"
            f"<b>Cache:</b> {escape(str(paths.cache_dir()))}")
        self.text.setOpenExternalLinks(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading(f"Kompakt {__version__}"))
        layout.addWidget(self.text)
        layout.addWidget(buttons)
