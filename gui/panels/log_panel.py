"""Timestamped log of what happened (loads, jobs, errors) — the record a user scrolls back through."""
from __future__ import annotations

import time

from PySide6 import QtGui, QtWidgets

_COLORS = {"info": "#d0d0d0", "warning": "#f0c040", "error": "#ff6060"}


class LogPanel(QtWidgets.QPlainTextEdit):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.entries: list[tuple[str, str]] = []

    def log(self, message: str, level: str = "info") -> None:
        self.entries.append((level, message))
        stamp = time.strftime("%H:%M:%S")
        fmt = QtGui.QTextCharFormat()
        fmt.setForeground(QtGui.QColor(_COLORS.get(level, "#d0d0d0")))
        cur = self.textCursor()
        cur.movePosition(QtGui.QTextCursor.End)
        cur.insertText(f"{stamp} [{level}] {message}\n", fmt)
        self.setTextCursor(cur)
        self.ensureCursorVisible()
