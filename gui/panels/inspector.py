"""Shows what is picked (a point, voxel, joint, pixel, correspondence) as a key/value table."""
from __future__ import annotations

from PySide6 import QtWidgets


class Inspector(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        self.title = QtWidgets.QLabel("Nothing picked — click a point, voxel or joint")
        self.title.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Property", "Value"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        lay.addWidget(self.title)
        lay.addWidget(self.table)
        self.info: dict = {}

    def show(self, title: str, info: dict) -> None:  # noqa: A003 - the panel's verb
        info = {k: v for k, v in info.items() if not str(k).startswith("_")}  # typed fields are for tools
        if len(title) > 200:
            title = title[:199] + "…"
        self.info = dict(info)
        self.title.setText(title)
        self.table.setRowCount(len(info))
        for r, (k, v) in enumerate(info.items()):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(str(k)))
            self.table.setItem(r, 1, QtWidgets.QTableWidgetItem(str(v)))
        self.table.resizeColumnToContents(0)
