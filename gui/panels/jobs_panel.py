"""One row per job: name, progress bar with message, stage timings when done, and a Cancel button."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class JobRow(QtWidgets.QWidget):
    def __init__(self, handle, parent=None):
        super().__init__(parent)
        self.handle = handle
        # two lines (name above, progress + Cancel below) so a row fits a 220 px side column
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.setSpacing(1)
        name = handle.name if len(handle.name) <= 120 else handle.name[:119] + "…"
        self.label = QtWidgets.QLabel(name)
        self.label.setToolTip(name)
        self.label.setMinimumWidth(40)
        self.label.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.bar = QtWidgets.QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFormat("%p%")
        self.bar.setMinimumWidth(60)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(handle.cancel)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        lay.addWidget(self.label)
        lay.addLayout(row)
        handle.progress.connect(self._progress)
        handle.done.connect(self._done)

    def _progress(self, f: float, msg: str) -> None:
        self.bar.setValue(int(f * 1000))
        self.bar.setFormat(f"%p% {msg}")

    def _done(self, state: str) -> None:
        self.cancel_button.setEnabled(False)
        if state == "finished":
            self.bar.setValue(1000)
            t = self.handle.stage_times
            self.bar.setFormat("done " + " · ".join(f"{k} {v:.2f}s" for k, v in t.items()) if t else "done")
        else:
            self.bar.setFormat(state if state == "cancelled" else f"failed: {self.handle.error}")


class JobsPanel(QtWidgets.QWidget):
    MAX_ROWS = 12

    def __init__(self, runner, parent=None):
        super().__init__(parent)
        self.layout_ = QtWidgets.QVBoxLayout(self)
        self.layout_.setAlignment(QtCore.Qt.AlignTop)
        self.rows: list[JobRow] = []
        runner.started.connect(self.add)

    def add(self, handle) -> JobRow:
        row = JobRow(handle)
        self.layout_.insertWidget(0, row)
        self.rows.insert(0, row)
        while len(self.rows) > self.MAX_ROWS:
            old = self.rows.pop()
            if old.handle.state != "running":
                old.setParent(None)
                old.deleteLater()
            else:
                self.rows.append(old)
                break
        return row
