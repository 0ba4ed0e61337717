"""Non-modal notifications: toasts stacked in the bottom-right corner of a window, above its status bar.

Info and warning toasts hide themselves after a few seconds (the timer pauses while the mouse is over one);
errors stay until closed. At most `max_visible` are shown: a new one closes the oldest. Messages are cut to
`max_chars` before any Qt call sees them, so a 50 MB string costs one slice, never a layout of 50 MB of text.
The caller keeps the full record (the log); a toast is only a pointer to it.
"""
from __future__ import annotations

import re

from PySide6 import QtCore, QtGui, QtWidgets

LEVELS = ("info", "warning", "error")
_STYLE = {  # level: (accent, background, text)
    "info": ("#3a7bd5", "#f4f7fc", "#1d2530"),
    "warning": ("#d99a00", "#fff8e6", "#2e2606"),
    "error": ("#d03b3b", "#fdf0f0", "#3a1010"),
}
_TITLES = {"info": "Info", "warning": "Warning", "error": "Error"}
_DEFAULT_TIMEOUT_S = {"info": 6.0, "warning": 10.0, "error": None}
_MAX_DETAILS = 20_000
_LONG_RUN = re.compile(r"(\S{32})(?=\S)")  # break points in long unbroken runs (paths, hashes)


def elide(text: str, max_chars: int, max_lines: int = 8) -> str:
    """`text` cut to at most `max_chars` characters and `max_lines` lines, with '…' where it was cut.
    Slices first, so the cost does not depend on the length of `text`."""
    head = text[: max_chars + 1]
    cut = len(head) > max_chars
    head = head[:max_chars]
    lines = head.splitlines()
    if len(lines) > max_lines:
        lines, cut = lines[:max_lines], True
    out = "\n".join(lines).rstrip()
    return out + "…" if cut else out


def _wrappable(text: str) -> str:
    """Zero-width spaces inside long unbroken runs, so a word-wrapped QLabel can break a long path."""
    return _LONG_RUN.sub("\\1\u200b", text)


class Toast(QtWidgets.QFrame):
    """One notification. `closed` is emitted once, when it goes (timeout, close button or `dismiss()`);
    the widget is then deleted, so after that only `is_closed()`, `level`, `message` and `details` are usable."""

    closed = QtCore.Signal(object)
    resized = QtCore.Signal()  # its height changed (details shown or hidden)

    def __init__(self, message: str, level: str, details: str | None, timeout_s: float | None,
                 max_chars: int, parent: QtWidgets.QWidget):
        super().__init__(parent)
        if level not in LEVELS:
            raise ValueError(f"notification level must be one of {LEVELS}, got {level!r}")
        self.level = level
        message = message if isinstance(message, str) else str(message)  # e.g. an exception
        self.message = elide(message, max_chars)  # what is shown (the caller logs the full text)
        self.full_length = len(message)
        self.details = None if details is None else elide(str(details), _MAX_DETAILS, max_lines=400)
        self.timeout_s = timeout_s
        self._gone = False
        accent, bg, fg = _STYLE[level]
        self.setObjectName("toast")
        self.setAttribute(QtCore.Qt.WA_StyledBackground, True)
        self.setStyleSheet(
            f"#toast {{ background: {bg}; border: 1px solid {accent}; border-left: 5px solid {accent};"
            f" border-radius: 4px; }}"
            f" #toast QLabel {{ color: {fg}; background: transparent; border: none; }}"
            f" #toast QToolButton {{ border: none; background: transparent; color: {fg}; }}"
            f" #toast QToolButton:hover {{ background: rgba(0,0,0,0.08); border-radius: 3px; }}"
            f" #toast QPlainTextEdit {{ background: white; color: {fg}; border: 1px solid #ccc; }}")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(12, 8, 6, 10)
        lay.setSpacing(4)
        top = QtWidgets.QHBoxLayout()
        top.setSpacing(6)
        self.title = QtWidgets.QLabel(_TITLES[level])
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.title.setStyleSheet(f"color: {accent};")
        top.addWidget(self.title)
        top.addStretch(1)
        self.details_button = None
        if self.details:
            self.details_button = QtWidgets.QToolButton()
            self.details_button.setText("Details")
            self.details_button.setCheckable(True)
            self.details_button.setCursor(QtCore.Qt.PointingHandCursor)
            self.details_button.toggled.connect(self._show_details)
            top.addWidget(self.details_button)
        self.close_button = QtWidgets.QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Close")
        self.close_button.setCursor(QtCore.Qt.PointingHandCursor)
        self.close_button.setFixedSize(22, 22)
        self.close_button.clicked.connect(self.dismiss)
        top.addWidget(self.close_button)
        lay.addLayout(top)
        self.label = QtWidgets.QLabel(_wrappable(self.message))
        self.label.setTextFormat(QtCore.Qt.PlainText)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        lay.addWidget(self.label)
        self.details_view: QtWidgets.QPlainTextEdit | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        if timeout_s is not None:
            self._timer.setInterval(max(1, int(timeout_s * 1000)))
            self._timer.start()

    def _show_details(self, on: bool) -> None:
        if on and self.details_view is None:
            self.details_view = QtWidgets.QPlainTextEdit(self.details)
            self.details_view.setReadOnly(True)
            self.details_view.setFixedHeight(140)
            self.layout().addWidget(self.details_view)
        if self.details_view is not None:
            self.details_view.setVisible(on)
        self.details_button.setText("Hide details" if on else "Details")
        if on:
            self._timer.stop()  # reading the details: keep it open
        self.resized.emit()

    def is_closed(self) -> bool:
        """True once it has gone (safe to call after Qt deleted the widget)."""
        return self._gone

    def is_auto_hiding(self) -> bool:
        return self._timer.isActive()

    def enterEvent(self, e) -> None:
        self._timer.stop()  # the user is reading it
        super().enterEvent(e)

    def leaveEvent(self, e) -> None:
        if self.timeout_s is not None and not self._gone and not (self.details_button
                                                                  and self.details_button.isChecked()):
            self._timer.start()
        super().leaveEvent(e)

    def dismiss(self) -> None:
        if self._gone:
            return
        self._gone = True
        self._timer.stop()
        self.hide()
        self.closed.emit(self)
        self.deleteLater()


class NotificationArea(QtCore.QObject):
    """Toasts over `parent_window`'s bottom-right corner, newest at the bottom, above the status bar.

    `notify(message, level="info", details=None, timeout_s=...)` -> Toast. `toasts()` lists the visible ones."""

    def __init__(self, parent_window: QtWidgets.QWidget, *, max_visible: int = 4, max_chars: int = 300,
                 width: int = 380, margin: int = 12, timeouts_s: dict | None = None):
        super().__init__(parent_window)
        self.window = parent_window
        self.max_visible = max_visible
        self.max_chars = max_chars
        self.width = width
        self.margin = margin
        self.timeouts_s = dict(_DEFAULT_TIMEOUT_S, **(timeouts_s or {}))
        self._toasts: list[Toast] = []
        parent_window.installEventFilter(self)

    def notify(self, message: str, level: str = "info", details: str | None = None,
               timeout_s: float | None | str = "default") -> Toast:
        """Show a toast. `timeout_s`: seconds until it hides, None to keep it; by default the level's
        (info 6 s, warning 10 s, error: stays)."""
        if level not in LEVELS:
            raise ValueError(f"notification level must be one of {LEVELS}, got {level!r}")
        t = self.timeouts_s[level] if timeout_s == "default" else timeout_s
        toast = Toast(message, level, details, t, self.max_chars, self.window)
        toast.closed.connect(self._on_closed)
        toast.resized.connect(self.relayout)
        self._toasts.append(toast)
        while len(self._toasts) > self.max_visible:
            self._toasts[0].dismiss()  # removes itself from the list through _on_closed
        toast.show()
        self.relayout()
        return toast

    def toasts(self) -> list[Toast]:
        return list(self._toasts)

    def clear(self) -> None:
        for t in list(self._toasts):
            t.dismiss()

    def _on_closed(self, toast: Toast) -> None:
        if toast in self._toasts:
            self._toasts.remove(toast)
            self.relayout()

    def _bottom(self) -> int:
        """The y above which toasts sit: the top of the status bar where there is a visible one."""
        bottom = self.window.height()
        sb = self.window.findChild(QtWidgets.QStatusBar) if isinstance(self.window, QtWidgets.QMainWindow) else None
        if sb is not None and sb.isVisible() and sb.parentWidget() is self.window:
            bottom = sb.geometry().top()
        return bottom - self.margin

    def relayout(self) -> None:
        if not self._toasts:
            return
        width = max(120, min(self.width, self.window.width() - 2 * self.margin))
        x = self.window.width() - self.margin - width
        y = self._bottom()
        top_limit = self.margin
        for toast in reversed(self._toasts):  # newest at the bottom, older ones stacked above
            h = toast.heightForWidth(width) if toast.hasHeightForWidth() else toast.sizeHint().height()
            h = max(h, toast.minimumSizeHint().height())
            y -= h
            toast.setGeometry(x, max(top_limit, y), width, h)
            toast.setVisible(y >= top_limit)  # no room left in a very short window: hide (kept in the list)
            toast.raise_()
            y -= 8

    def eventFilter(self, obj, event) -> bool:
        if obj is self.window and event.type() in (QtCore.QEvent.Resize, QtCore.QEvent.Show,
                                                  QtCore.QEvent.LayoutRequest):
            self.relayout()
        return False
