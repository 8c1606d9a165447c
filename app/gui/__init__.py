"""Kompakt's desktop app. The only package that imports PySide6."""

from __future__ import annotations

import sys


def main() -> int:
    """Open the main window and run the Qt event loop."""
    from PySide6.QtWidgets import QApplication

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
