"""The 2D image view (pyqtgraph): an image with overlay items in image pixel coordinates (x right, y down).

Several images can be registered under keys (a camera rig's six cameras, a video frame); a combo box
switches between them. Workbenches add overlays (keypoints, projected points, heatmaps) to `plot`.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class View2D(QtWidgets.QWidget):
    clicked = QtCore.Signal(float, float)
    image_changed = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.selector = QtWidgets.QComboBox()
        self.selector.currentTextChanged.connect(self._select)
        lay.addWidget(self.selector)
        self.graphics = pg.GraphicsLayoutWidget()
        lay.addWidget(self.graphics)
        self.plot: pg.PlotItem = self.graphics.addPlot()
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.image_item = pg.ImageItem()
        self.plot.addItem(self.image_item)
        self.images: dict[str, np.ndarray] = {}
        self.current: str | None = None
        self._overlays: list = []
        self.plot.scene().sigMouseClicked.connect(self._on_click)

    def show_image(self, rgb: np.ndarray, key: str = "main", select: bool = True) -> None:
        self.images[key] = rgb
        if self.selector.findText(key) < 0:
            self.selector.addItem(key)
        if select:
            if self.selector.currentText() != key:
                self.selector.setCurrentText(key)
            else:
                self._select(key)

    def remove_image(self, key: str) -> None:
        self.images.pop(key, None)
        i = self.selector.findText(key)
        if i >= 0:
            self.selector.removeItem(i)

    def clear(self) -> None:
        self.images.clear()
        self.selector.clear()
        self.image_item.clear()
        self.clear_overlays()
        self.current = None

    def _select(self, key: str) -> None:
        if key not in self.images:
            return
        self.current = key
        img = self.images[key]
        self.image_item.setImage(img, autoLevels=img.ndim == 2)
        if img.ndim == 3:
            self.image_item.setLevels([0, 255])
        self.plot.setRange(xRange=(0, img.shape[1]), yRange=(0, img.shape[0]), padding=0.02)
        self.image_changed.emit(key)

    def add_overlay(self, item) -> None:
        self.plot.addItem(item)
        self._overlays.append(item)

    def clear_overlays(self) -> None:
        for it in self._overlays:
            self.plot.removeItem(it)
        self._overlays.clear()

    def _on_click(self, ev) -> None:
        if ev.button() != QtCore.Qt.LeftButton:
            return
        p = self.plot.vb.mapSceneToView(ev.scenePos())
        self.clicked.emit(float(p.x()), float(p.y()))

    def grab_image(self) -> np.ndarray:
        """RGB array of the widget as drawn (pyqtgraph is raster-painted, so grab() is exact here)."""
        img = self.graphics.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB888)
        w, h = img.width(), img.height()
        arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
        return arr[:, : 3 * w].reshape(h, w, 3).copy()


from PySide6 import QtGui  # noqa: E402  (used by grab_image)
