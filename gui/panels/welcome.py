"""What the window shows with nothing loaded: open a file or folder, the demo scene, the recent paths, and a
hint that files can be dropped on the window (the main window handles the drop itself)."""
from __future__ import annotations

import os
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

_MAX_RECENT = 10


class _RecentButton(QtWidgets.QPushButton):
    """One recent path: the file name in bold, its folder in grey; flat, like a link."""

    def __init__(self, path: str, parent=None):
        super().__init__(parent)
        self.path = path
        p = Path(path)
        self._name = p.name or path
        self._folder = str(p.parent) if p.name else ""
        self.setFlat(True)
        self.setCursor(QtCore.Qt.PointingHandCursor)
        self.setToolTip(path)
        self.setObjectName("recentEntry")
        self.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Fixed)
        self.setMinimumWidth(120)

    def sizeHint(self) -> QtCore.QSize:
        fm = self.fontMetrics()
        return QtCore.QSize(360, fm.height() + 14)

    def paintEvent(self, e: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self)
        r = self.rect()
        if self.underMouse() or self.hasFocus():
            p.fillRect(r, self.palette().color(QtGui.QPalette.Highlight).lighter(185))
        pal = self.palette()
        bold = QtGui.QFont(self.font())
        bold.setBold(True)
        fm_b = QtGui.QFontMetrics(bold)
        x, w = 8, r.width() - 16
        name = fm_b.elidedText(self._name, QtCore.Qt.ElideMiddle, w)
        p.setFont(bold)
        p.setPen(pal.color(QtGui.QPalette.Link) if self.isEnabled() else pal.color(QtGui.QPalette.PlaceholderText))
        p.drawText(QtCore.QRect(x, 0, w, r.height()), QtCore.Qt.AlignVCenter | QtCore.Qt.AlignLeft, name)
        used = fm_b.horizontalAdvance(name) + 12
        if self._folder and w - used >= 90:  # a folder squeezed below ~90 px says nothing; the tooltip has it
            p.setFont(self.font())
            p.setPen(pal.color(QtGui.QPalette.PlaceholderText))
            folder = self.fontMetrics().elidedText(self._folder, QtCore.Qt.ElideMiddle, w - used)
            p.drawText(QtCore.QRect(x + used, 0, w - used, r.height()),
                       QtCore.Qt.AlignVCenter | QtCore.Qt.AlignLeft, folder)


class WelcomePanel(QtWidgets.QWidget):
    """The empty state. Signals: `open_file()`, `open_folder()`, `open_demo()`, `open_recent(path)`."""

    open_file = QtCore.Signal()
    open_folder = QtCore.Signal()
    open_demo = QtCore.Signal()
    open_recent = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("welcomePanel")
        self.setAutoFillBackground(True)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(1)
        row = QtWidgets.QHBoxLayout()
        outer.addLayout(row)
        outer.addStretch(2)
        row.addStretch(1)
        body = QtWidgets.QWidget()
        body.setMaximumWidth(760)
        body.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Maximum)
        row.addWidget(body, 12)
        row.addStretch(1)

        lay = QtWidgets.QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(10)
        title = QtWidgets.QLabel("SceneLens")
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 2.4)
        f.setBold(True)
        title.setFont(f)
        lay.addWidget(title)
        sub = QtWidgets.QLabel("Look inside 3D perception models: point clouds, occupancy grids, "
                               "camera rigs, poses and what the model attends to.")
        sub.setWordWrap(True)
        sub.setForegroundRole(QtGui.QPalette.PlaceholderText)
        lay.addWidget(sub)
        lay.addSpacing(14)

        cols = QtWidgets.QHBoxLayout()
        cols.setSpacing(32)
        lay.addLayout(cols)

        start = QtWidgets.QVBoxLayout()
        start.setSpacing(8)
        start.addWidget(self._heading("Start"))
        self.file_button = self._action_button("Open file…", "Ctrl+O", self.open_file,
                                               QtWidgets.QStyle.SP_FileIcon)
        self.folder_button = self._action_button("Open folder…", "", self.open_folder,
                                                 QtWidgets.QStyle.SP_DirOpenIcon)
        self.demo_button = self._action_button("Open the demo scene", "", self.open_demo,
                                               QtWidgets.QStyle.SP_MediaPlay)
        # the demo is what a first-time user wants: the one accented (default) button
        self.demo_button.setDefault(True)
        self.demo_button.setIcon(self._white(self.style().standardIcon(QtWidgets.QStyle.SP_MediaPlay)))
        self.demo_button.setStyleSheet(
            "QPushButton { text-align: left; padding-left: 10px; color: white; font-weight: bold;"
            " background: #2f6fd0; border: 1px solid #2559a8; border-radius: 3px; }"
            " QPushButton:hover { background: #3a7de0; } QPushButton:pressed { background: #2559a8; }")
        for b in (self.file_button, self.folder_button, self.demo_button):
            start.addWidget(b)
        self.drop_hint = QtWidgets.QLabel("…or drop files or a folder on this window")
        self.drop_hint.setToolTip("Point clouds, occupancy grids, camera rigs, images, videos, keypoints, "
                                  "scene manifests and .slproj projects")
        self.drop_hint.setObjectName("dropHint")
        self.drop_hint.setAlignment(QtCore.Qt.AlignCenter)
        self.drop_hint.setWordWrap(True)
        self.drop_hint.setMinimumHeight(56)
        self.drop_hint.setForegroundRole(QtGui.QPalette.PlaceholderText)
        self.drop_hint.setStyleSheet("#dropHint { border: 2px dashed palette(mid); border-radius: 6px;"
                                     " padding: 8px; }")
        start.addSpacing(6)
        start.addWidget(self.drop_hint)
        start.addStretch(1)
        cols.addLayout(start, 1)

        recent = QtWidgets.QVBoxLayout()
        recent.setSpacing(2)
        recent.addWidget(self._heading("Recent"))
        self._recent_box = QtWidgets.QVBoxLayout()
        self._recent_box.setSpacing(0)
        recent.addLayout(self._recent_box)
        self.no_recent = QtWidgets.QLabel("Nothing opened yet.")
        self.no_recent.setForegroundRole(QtGui.QPalette.PlaceholderText)
        recent.addWidget(self.no_recent)
        recent.addStretch(1)
        cols.addLayout(recent, 1)
        self.recent_buttons: list[_RecentButton] = []

    @staticmethod
    def _white(icon: QtGui.QIcon) -> QtGui.QIcon:
        """The icon's shape in white (for the accented button)."""
        pm = icon.pixmap(40, 40)
        p = QtGui.QPainter(pm)
        p.setCompositionMode(QtGui.QPainter.CompositionMode_SourceIn)
        p.fillRect(pm.rect(), QtGui.QColor("white"))
        p.end()
        return QtGui.QIcon(pm)

    def _heading(self, text: str) -> QtWidgets.QLabel:
        h = QtWidgets.QLabel(text)
        f = h.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        h.setFont(f)
        return h

    def _action_button(self, text: str, shortcut_hint: str, signal, icon) -> QtWidgets.QPushButton:
        b = QtWidgets.QPushButton(f"  {text}")
        b.setIcon(self.style().standardIcon(icon))
        b.setIconSize(QtCore.QSize(20, 20))
        b.setMinimumHeight(38)
        b.setCursor(QtCore.Qt.PointingHandCursor)
        b.setStyleSheet("QPushButton { text-align: left; padding-left: 10px; }")
        if shortcut_hint:
            b.setToolTip(shortcut_hint)
        b.clicked.connect(lambda _=False: signal.emit())
        return b

    def set_recent(self, paths: list[str]) -> None:
        """Show these paths (most recent first; at most 10). Paths that no longer exist are shown disabled."""
        for b in self.recent_buttons:
            self._recent_box.removeWidget(b)
            b.hide()  # now: deleteLater waits for the event loop, and a grab before that would still draw it
            b.deleteLater()
        self.recent_buttons = []
        for path in list(paths)[:_MAX_RECENT]:
            b = _RecentButton(str(path))
            if not os.path.exists(path):
                b.setEnabled(False)
                b.setToolTip(f"{path} (no longer exists)")
            b.clicked.connect(lambda _=False, p=str(path): self.open_recent.emit(p))
            self._recent_box.addWidget(b)
            self.recent_buttons.append(b)
        self.no_recent.setVisible(not self.recent_buttons)

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(360, 300)
