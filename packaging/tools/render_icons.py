"""Render resources/icons/kompakt.svg to the PNG sizes desktops and PyInstaller need.

Run: ``python packaging/tools/render_icons.py`` (offscreen Qt, no display needed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841 - needed for painting
    icons = Path(__file__).resolve().parents[2] / "resources" / "icons"
    renderer = QSvgRenderer(str(icons / "kompakt.svg"))
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(icons / f"kompakt-{size}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
