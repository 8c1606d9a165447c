"""The main window: Models, Quantize and Chat, plus the Fit and Quality tools, picked from a sidebar."""

from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QListWidget, QListWidgetItem, QMainWindow, QStackedWidget, QWidget

from app.gui import workers
from app.gui.models_view import ModelsView
from app.gui.widgets import app_icon
from app.gui.wizard.wizard import QuantizeWizard
from app.runtime import settings as settings_mod

log = logging.getLogger(__name__)

PLACES = ("Models", "Quantize", "Chat", "Fit", "Quality")


def _window_state() -> QSettings:
    """Window geometry, stored beside the settings file (so ``KOMPAKT_CONFIG_DIR`` redirects it too)."""
    from app.runtime import paths

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
