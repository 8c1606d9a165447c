"""Kompakt's desktop app. The only package that imports PySide6."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)


def main() -> int:
    """Set up logging to the log file, open the main window and run the Qt event loop."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from app import __version__
    from app.runtime import logs

    path = logs.configure(file=logs.log_file())
    logs.log_uncaught_exceptions()
    qInstallMessageHandler(_qt_message)
    log.info("Kompakt %s starting; log file %s", __version__, path)

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Kompakt")
    app.setOrganizationName("Kompakt")
    app.setStyle("Fusion")
    from app.gui.main_window import MainWindow
    from app.gui.widgets import app_icon

    app.setWindowIcon(app_icon())
    from app.gui.gc_guard import MainThreadGC

    collector = MainThreadGC(parent=app)  # noqa: F841 - kept alive by its parent
    window = MainWindow()
    window.show()
    return app.exec()


def _qt_message(mode, context, message: str) -> None:  # noqa: ARG001 - Qt's handler signature
    """Qt's own warnings go to the log instead of straight to stderr."""
    from PySide6.QtCore import QtMsgType

    level = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
             QtMsgType.QtWarningMsg: logging.WARNING}.get(mode, logging.ERROR)
    logging.getLogger("qt").log(level, "%s", message)
