"""Render a conversation as Markdown into a QTextBrowser (code blocks, lists, tables via Qt's Markdown reader)."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QTextBrowser

_ROLE = {"user": "You", "assistant": "Assistant"}

CSS = """
body { font-size: 14px; }
pre, code { font-family: monospace; background: #f3f3f3; }
h4 { margin-top: 14px; margin-bottom: 2px; }
"""


def to_markdown(messages: Sequence[tuple[str, str]], streaming: str | None = None) -> str:
    """``[(role, text)]`` plus an answer being streamed -> one Markdown document."""
    parts = []
    for role, text in messages:
        if role == "system":
            continue
        parts.append(f"#### {_ROLE.get(role, role.title())}\n\n{text.strip() or '…'}\n")
    if streaming is not None:
        parts.append(f"#### Assistant\n\n{streaming.strip() or '…'}\n")
    return "\n".join(parts)


class Transcript(QTextBrowser):
    """Read-only Markdown view that keeps the scroll pinned to the bottom while an answer streams in."""

    def __init__(self) -> None:
        super().__init__()
        self.setOpenExternalLinks(True)
        self.document().setDefaultStyleSheet(CSS)
        self.document().setDocumentMargin(14)
        self._markdown = ""

    def show_messages(self, messages: Sequence[tuple[str, str]], streaming: str | None = None) -> None:
        """Replace the contents (cheap enough for chat-sized documents; throttled by the caller)."""
        md = to_markdown(messages, streaming)
        if md == self._markdown:
            return
        self._markdown = md
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        self.setMarkdown(md)
        if at_bottom:
            self.moveCursor(QTextCursor.MoveOperation.End)
            bar.setValue(bar.maximum())

    def markdown_text(self) -> str:
        """The Markdown last shown (tests read it)."""
        return self._markdown
