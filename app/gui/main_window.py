"""The main window: Models, Quantize and Chat."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget


class MainWindow(QMainWindow):
    """Top-level window holding the app's three places."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Kompakt")
        self.resize(1100, 720)
        self.tabs = QTabWidget()
        for title in ("Models", "Quantize", "Chat"):
            self.tabs.addTab(QLabel(f"{title} — coming soon"), title)
        self.setCentralWidget(self.tabs)
