"""Small reusable widgets and helpers shared by the views."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QLabel, QTableWidgetItem, QWidget

from converter.core.units import human_bytes, human_duration  # noqa: F401 - re-exported for the views


def app_icon() -> QIcon:
    """Kompakt's icon in every shipped size (empty icon when the resources are missing)."""
    from app.runtime.resources import resources_dir

    icon = QIcon()
    folder = resources_dir() / "icons"
    for png in sorted(folder.glob("kompakt-*.png")):
        icon.addFile(str(png))
    if icon.isNull() and (folder / "kompakt.svg").exists():
        icon.addFile(str(folder / "kompakt.svg"))
    return icon


def heading(text: str, parent: QWidget | None = None) -> QLabel:
    """A page title."""
    label = QLabel(text, parent)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.35)
    font.setBold(True)
    label.setFont(font)
    return label


def hint(text: str, parent: QWidget | None = None) -> QLabel:
    """A grey, wrapping explanation line."""
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setStyleSheet("color: #666;")
    return label


def item(text: str, *, sort_value: object = None, align_right: bool = False, color: str = "",
         tooltip: str = "") -> QTableWidgetItem:
    """A read-only table cell; ``sort_value`` (a number) makes numeric columns sort numerically."""
    cell = _SortItem(text)
    cell.setFlags(cell.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if sort_value is not None:
        cell.setData(Qt.ItemDataRole.UserRole, sort_value)
    if align_right:
        cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if color:
        cell.setForeground(QColor(color))
        f = cell.font()
        f.setBold(True)
        cell.setFont(f)
    if tooltip:
        cell.setToolTip(tooltip)
    return cell


class _SortItem(QTableWidgetItem):
    def __lt__(self, other: QTableWidgetItem) -> bool:  # noqa: D105
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if a is not None and b is not None:
            try:
                return a < b
            except TypeError:
                pass
        return self.text().lower() < other.text().lower()
