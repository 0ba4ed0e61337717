"""Every camera of a rig at once: a grid of tiles (3 × 2 for nuScenes' six cameras), each image kept at its
aspect ratio and scaled to the space available, its name drawn on it; click a tile to pick it.

Images are converted to QPixmaps once, in `set_cameras`/`set_image`; a resize only rescales those pixmaps
(cached per tile size), so no numpy work happens while the user drags the window edge.
"""
from __future__ import annotations

import math

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

_SPACING = 4  # px between tiles and around the grid
_BACKGROUND = QtGui.QColor(24, 24, 28)
_CELL = QtGui.QColor(36, 36, 42)
_SELECTED = QtGui.QColor(255, 176, 32)
_HOVER = QtGui.QColor(140, 170, 220)


def _to_qimage(arr: np.ndarray, what: str) -> QtGui.QImage:
    """An owned QImage copy of an RGB (H×W×3), RGBA (H×W×4) or grey (H×W) uint8 array."""
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        raise ValueError(f"{what}: expected a uint8 image, got dtype {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"{what}: expected an H×W×3 or H×W×4 image, got shape {a.shape}")
    a = np.ascontiguousarray(a)
    h, w, c = a.shape
    fmt = QtGui.QImage.Format_RGB888 if c == 3 else QtGui.QImage.Format_RGBA8888
    return QtGui.QImage(a.data, w, h, a.strides[0], fmt).copy()  # copy: the QImage owns its pixels


class _Tile:
    __slots__ = ("name", "pixmap", "overlay", "_scaled", "_scaled_overlay")

    def __init__(self, name: str, pixmap: QtGui.QPixmap):
        self.name = name
        self.pixmap = pixmap
        self.overlay: QtGui.QPixmap | None = None
        self._scaled: QtGui.QPixmap | None = None
        self._scaled_overlay: QtGui.QPixmap | None = None

    def image_size(self) -> QtCore.QSize:
        return self.pixmap.size()

    @staticmethod
    def _rescale(src: QtGui.QPixmap, cached: QtGui.QPixmap | None, size: QtCore.QSize, dpr: float):
        """`src` smoothly scaled to `size` logical pixels (× the screen's pixel ratio), reusing `cached`."""
        device = QtCore.QSize(max(1, round(size.width() * dpr)), max(1, round(size.height() * dpr)))
        if cached is not None and cached.size() == device:
            return cached
        out = src.scaled(device, QtCore.Qt.IgnoreAspectRatio, QtCore.Qt.SmoothTransformation)
        out.setDevicePixelRatio(dpr)
        return out

    def scaled(self, size: QtCore.QSize, dpr: float = 1.0) -> QtGui.QPixmap:
        self._scaled = self._rescale(self.pixmap, self._scaled, size, dpr)
        return self._scaled

    def scaled_overlay(self, size: QtCore.QSize, dpr: float = 1.0) -> QtGui.QPixmap | None:
        if self.overlay is None:
            return None
        self._scaled_overlay = self._rescale(self.overlay, self._scaled_overlay, size, dpr)
        return self._scaled_overlay


class CameraGrid(QtWidgets.QWidget):
    """A grid of camera images. Click a tile: `camera_clicked(name)`; double-click: `camera_activated(name)`."""

    camera_clicked = QtCore.Signal(str)
    camera_activated = QtCore.Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._tiles: list[_Tile] = []
        self._selected: str | None = None
        self._hover: str | None = None
        self._columns: int | None = None  # None: ceil(sqrt(n))
        self.setMouseTracking(True)
        self.setAttribute(QtCore.Qt.WA_OpaquePaintEvent, True)
        self.setSizePolicy(QtWidgets.QSizePolicy.Expanding, QtWidgets.QSizePolicy.Expanding)
        self.setFocusPolicy(QtCore.Qt.StrongFocus)
        # while the user drags the window edge, tiles are drawn with a fast (unsmoothed) scale; the smooth,
        # cached pixmaps are made once the size has been still for a moment
        self._resizing = False
        self._settle = QtCore.QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(150)
        self._settle.timeout.connect(self._settled)

    # ---- content -------------------------------------------------------------------------------------------
    def set_cameras(self, items: list[tuple[str, np.ndarray]]) -> None:
        """Show these cameras, in this order (row by row); replaces all tiles and their overlays.
        Names must be unique; images are H×W×3 RGB uint8 (H×W grey and H×W×4 RGBA are accepted too)."""
        names = [n for n, _ in items]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must be unique, got {names}")
        self._tiles = [_Tile(str(n), QtGui.QPixmap.fromImage(_to_qimage(img, f"camera {n}"))) for n, img in items]
        if self._selected not in names:
            self._selected = None
        self._hover = None
        self.update()

    def set_image(self, name: str, image: np.ndarray) -> None:
        """Replace one camera's image (e.g. the next frame); its overlay stays."""
        tile = self._tile(name)
        tile.pixmap = QtGui.QPixmap.fromImage(_to_qimage(image, f"camera {name}"))
        tile._scaled = None
        self.update()

    def clear(self) -> None:
        self._tiles = []
        self._selected = None
        self._hover = None
        self.update()

    def set_overlay(self, name: str, rgba: np.ndarray | None) -> None:
        """Draw an RGBA image (any size; stretched over the tile's image) on top of camera `name`; None removes it."""
        tile = self._tile(name)
        tile.overlay = None if rgba is None else QtGui.QPixmap.fromImage(_to_qimage(rgba, f"overlay for {name}"))
        tile._scaled_overlay = None
        self.update()

    def names(self) -> list[str]:
        return [t.name for t in self._tiles]

    def set_columns(self, columns: int | None) -> None:
        """Fix the number of columns (None: ceil(sqrt(number of cameras)))."""
        self._columns = None if columns is None else max(1, int(columns))
        self.update()

    def columns(self) -> int:
        n = len(self._tiles)
        if n == 0:
            return 0
        return min(n, self._columns) if self._columns else math.ceil(math.sqrt(n))

    # ---- selection -----------------------------------------------------------------------------------------
    def selected(self) -> str | None:
        return self._selected

    def set_selected(self, name: str | None) -> None:
        """Highlight camera `name` (None: no highlight). Emits nothing."""
        if name is not None:
            self._tile(name)
        self._selected = name
        self.update()

    # ---- geometry ------------------------------------------------------------------------------------------
    def _tile(self, name: str) -> _Tile:
        for t in self._tiles:
            if t.name == name:
                return t
        raise KeyError(f"no camera named {name!r} (have {self.names()})")

    def _cells(self) -> list[QtCore.QRect]:
        n = len(self._tiles)
        if n == 0:
            return []
        cols = self.columns()
        rows = math.ceil(n / cols)
        w = max(1, (self.width() - _SPACING * (cols + 1)) // cols)
        h = max(1, (self.height() - _SPACING * (rows + 1)) // rows)
        # centre the whole grid: leftover pixels from the integer division go around it
        x0 = (self.width() - (cols * w + (cols - 1) * _SPACING)) // 2
        y0 = (self.height() - (rows * h + (rows - 1) * _SPACING)) // 2
        return [QtCore.QRect(x0 + (i % cols) * (w + _SPACING), y0 + (i // cols) * (h + _SPACING), w, h)
                for i in range(n)]

    @staticmethod
    def _fit(cell: QtCore.QRect, size: QtCore.QSize) -> QtCore.QRect:
        iw, ih = max(1, size.width()), max(1, size.height())
        s = min(cell.width() / iw, cell.height() / ih)
        w = max(1, min(cell.width(), round(iw * s)))
        h = max(1, min(cell.height(), round(ih * s)))
        return QtCore.QRect(cell.x() + (cell.width() - w) // 2, cell.y() + (cell.height() - h) // 2, w, h)

    def cell_rect(self, name: str) -> QtCore.QRect:
        """The grid cell of camera `name` (the clickable area)."""
        tile = self._tile(name)
        return self._cells()[self._tiles.index(tile)]

    def tile_rect(self, name: str) -> QtCore.QRect:
        """Where camera `name`'s image is drawn (inside its cell, aspect ratio kept), in widget coordinates."""
        tile = self._tile(name)
        return self._fit(self._cells()[self._tiles.index(tile)], tile.image_size())

    def camera_at(self, pos: QtCore.QPoint) -> str | None:
        for tile, cell in zip(self._tiles, self._cells()):
            if cell.contains(pos):
                return tile.name
        return None

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(240, 140)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(960, 380)

    # ---- drawing -------------------------------------------------------------------------------------------
    def resizeEvent(self, e: QtGui.QResizeEvent) -> None:
        if e.oldSize().isValid() and e.oldSize() != e.size() and self._tiles:
            self._resizing = True
            self._settle.start()
        super().resizeEvent(e)

    def _settled(self) -> None:
        self._resizing = False
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self)
        p.fillRect(self.rect(), _BACKGROUND)
        if not self._tiles:
            p.setPen(QtGui.QColor(150, 150, 150))
            p.drawText(self.rect(), QtCore.Qt.AlignCenter, "No cameras")
            return
        font = p.font()
        font.setBold(True)
        p.setFont(font)
        fm = QtGui.QFontMetrics(font)
        clip = event.rect()
        dpr = self.devicePixelRatioF()
        for tile, cell in zip(self._tiles, self._cells()):
            if not cell.intersects(clip):
                continue
            p.fillRect(cell, _CELL)
            r = self._fit(cell, tile.image_size())
            if self._resizing:
                p.drawPixmap(r, tile.pixmap)
                if tile.overlay is not None:
                    p.drawPixmap(r, tile.overlay)
            else:
                p.drawPixmap(r.topLeft(), tile.scaled(r.size(), dpr))
                ov = tile.scaled_overlay(r.size(), dpr)
                if ov is not None:
                    p.drawPixmap(r.topLeft(), ov)
            # name label: a dark band at the image's top-left corner
            label = fm.elidedText(tile.name, QtCore.Qt.ElideRight, max(10, r.width() - 12))
            lw, lh = fm.horizontalAdvance(label) + 10, fm.height() + 4
            band = QtCore.QRect(r.x(), r.y(), min(lw, r.width()), min(lh, r.height()))
            p.fillRect(band, QtGui.QColor(0, 0, 0, 160))
            p.setPen(QtGui.QColor(240, 240, 240))
            p.drawText(band, QtCore.Qt.AlignCenter, label)
            if tile.name == self._selected:
                p.setPen(QtGui.QPen(_SELECTED, 3))
                p.setBrush(QtCore.Qt.NoBrush)
                p.drawRect(r.adjusted(1, 1, -2, -2))
            elif tile.name == self._hover:
                p.setPen(QtGui.QPen(_HOVER, 1))
                p.setBrush(QtCore.Qt.NoBrush)
                p.drawRect(r.adjusted(0, 0, -1, -1))

    def grab_image(self) -> np.ndarray:
        """The widget as drawn now (smooth tiles, even mid-resize), as an H×W×3 uint8 RGB array."""
        if self._resizing:
            self._settle.stop()
            self._resizing = False
        img = self.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB888)
        w, h, bpl = img.width(), img.height(), img.bytesPerLine()
        buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
        return buf[:, : w * 3].reshape(h, w, 3).copy()

    # ---- mouse ---------------------------------------------------------------------------------------------
    def mousePressEvent(self, e: QtGui.QMouseEvent) -> None:
        if e.button() != QtCore.Qt.LeftButton:
            return super().mousePressEvent(e)
        name = self.camera_at(e.position().toPoint())
        if name is not None:
            self._selected = name
            self.update()
            self.camera_clicked.emit(name)
        e.accept()

    def mouseDoubleClickEvent(self, e: QtGui.QMouseEvent) -> None:
        if e.button() != QtCore.Qt.LeftButton:
            return super().mouseDoubleClickEvent(e)
        name = self.camera_at(e.position().toPoint())
        if name is not None:
            self.camera_activated.emit(name)
        e.accept()

    def keyPressEvent(self, e: QtGui.QKeyEvent) -> None:
        """Arrow keys move the selection (emitting `camera_clicked`); Enter emits `camera_activated`."""
        n, cols = len(self._tiles), self.columns()
        step = {QtCore.Qt.Key_Left: -1, QtCore.Qt.Key_Right: 1,
                QtCore.Qt.Key_Up: -cols, QtCore.Qt.Key_Down: cols}.get(e.key())
        if n and step is not None:
            i = self.names().index(self._selected) if self._selected is not None else 0
            j = i + step if self._selected is not None else 0
            if 0 <= j < n:
                self._selected = self._tiles[j].name
                self.update()
                self.camera_clicked.emit(self._selected)
            e.accept()
            return
        if n and self._selected is not None and e.key() in (QtCore.Qt.Key_Return, QtCore.Qt.Key_Enter):
            self.camera_activated.emit(self._selected)
            e.accept()
            return
        super().keyPressEvent(e)

    def mouseMoveEvent(self, e: QtGui.QMouseEvent) -> None:
        name = self.camera_at(e.position().toPoint())
        if name != self._hover:
            self._hover = name
            self.setCursor(QtCore.Qt.PointingHandCursor if name else QtCore.Qt.ArrowCursor)
            self.update()
        super().mouseMoveEvent(e)

    def leaveEvent(self, e: QtCore.QEvent) -> None:
        if self._hover is not None:
            self._hover = None
            self.update()
        super().leaveEvent(e)

    def event(self, e: QtCore.QEvent) -> bool:
        if e.type() == QtCore.QEvent.ToolTip:
            name = self.camera_at(e.pos())
            if name is not None:
                s = self._tile(name).image_size()
                QtWidgets.QToolTip.showText(e.globalPos(), f"{name} — {s.width()}×{s.height()}", self)
            else:
                QtWidgets.QToolTip.hideText()
            return True
        return super().event(e)
