"""Lists the scene's layers with a visibility checkbox each; selection tells workbenches which layer to act on."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from scenelens.engine.scene import Scene


class SceneBrowser(QtWidgets.QTreeWidget):
    visibility_changed = QtCore.Signal(str, bool)
    layer_selected = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["Layer", "Type", "Contents"])
        self.setRootIsDecorated(False)
        self.setColumnWidth(0, 220)
        self.itemChanged.connect(self._changed)
        self.currentItemChanged.connect(lambda cur, _prev: cur and self.layer_selected.emit(cur.data(0, QtCore.Qt.UserRole)))
        self._updating = False

    def set_scene(self, scene: Scene) -> None:
        self._updating = True
        self.clear()
        for lay in scene.layers:
            it = QtWidgets.QTreeWidgetItem([lay.name, lay.kind, lay.summary()])
            it.setFlags(it.flags() | QtCore.Qt.ItemIsUserCheckable)
            it.setCheckState(0, QtCore.Qt.Checked if lay.visible else QtCore.Qt.Unchecked)
            it.setData(0, QtCore.Qt.UserRole, lay.uid)
            it.setToolTip(0, lay.source or lay.name)
            self.addTopLevelItem(it)
        self._updating = False

    def _changed(self, item: QtWidgets.QTreeWidgetItem, col: int) -> None:
        if not self._updating and col == 0:
            self.visibility_changed.emit(item.data(0, QtCore.Qt.UserRole), item.checkState(0) == QtCore.Qt.Checked)

    def selected_uid(self) -> str | None:
        it = self.currentItem()
        return it.data(0, QtCore.Qt.UserRole) if it else None

    def item_for(self, uid: str) -> QtWidgets.QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            if it.data(0, QtCore.Qt.UserRole) == uid:
                return it
        return None
