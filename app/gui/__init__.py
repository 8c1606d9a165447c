"""Kompakt's desktop app. The only package that imports PySide6."""

from __future__ import annotations

import sys


def main() -> int:
    """Open the main window and run the Qt event loop."""
    from PySide6.QtWidgets import QApplication

    from app.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Kompakt")
    app.setOrganizationName("Kompakt")
    window = MainWindow()
    window.show()
    return app.exec()
