"""Small reusable widgets and helpers shared by the views."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QLabel, QTableWidgetItem, QWidget

from app.runtime import logs


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


def log_link() -> str:
    """Rich text naming the log file as a link that opens it; "" when this process writes no log file."""
    path = logs.current_log_file()
    if path is None:
        return ""
    return f'<a href="{QUrl.fromLocalFile(str(path)).toString()}">{escape(str(path))}</a>'


def failure_text(prefix: str, message: str) -> str:
    """Rich text for a failure: the bold ``prefix``, the one-line ``message`` and a "Details:" line naming the log
    file (which holds the traceback)."""
    text = f"<b>{escape(prefix)}</b> {escape(message)}"
    link = log_link()
    return text + (f"<br><small>Details: {link}</small>" if link else "")


def show_failure(label: QLabel, prefix: str, message: str) -> None:
    """Show :func:`failure_text` in ``label`` (rich text, detected by Qt), the log file's link clickable."""
    label.setOpenExternalLinks(True)
    label.setText(failure_text(prefix, message))


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
