"""The interactive 3D view: a QVTKRenderWindowInteractor on a real (or virtual) display, or an offscreen
vtkRenderWindow shown through a QLabel when Qt runs with the offscreen platform (no GL context to share).
Screenshots always come from vtkWindowToImageFilter, never QWidget.grab()."""
from __future__ import annotations

import numpy as np
import vtk
from PySide6 import QtCore, QtGui, QtWidgets

from engine.scene import Layer, Scene

from .scene_renderer import SceneRenderer
from .vtk_utils import image_from_window


def offscreen_platform() -> bool:
    app = QtGui.QGuiApplication.instance()
    return app is not None and app.platformName() in ("offscreen", "minimal")


class View3D(QtWidgets.QWidget):
    picked = QtCore.Signal(dict)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.renderer = vtk.vtkRenderer()
        self.scene_renderer = SceneRenderer(self.renderer)
        self.offscreen = offscreen_platform()
        if self.offscreen:
            self.window = vtk.vtkRenderWindow()
            self.window.SetOffScreenRendering(1)
            self.window.SetSize(960, 640)
            self.window.AddRenderer(self.renderer)
            self._label = QtWidgets.QLabel()
            self._label.setMinimumSize(320, 240)
            self._label.setAlignment(QtCore.Qt.AlignCenter)
            lay.addWidget(self._label)
            self.interactor = None
        else:
            from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor

            self.vtk_widget = QVTKRenderWindowInteractor(self)
            lay.addWidget(self.vtk_widget)
            self.window = self.vtk_widget.GetRenderWindow()
            self.window.AddRenderer(self.renderer)
            self.interactor = self.window.GetInteractor()
            self.interactor.SetInteractorStyle(vtk.vtkInteractorStyleTrackballCamera())
            # Clicks are seen on the Qt widget itself: the trackball style grabs VTK's press, so a release
            # observer on the interactor never fires for a real mouse (8 real clicks → 0 picks before).
            self.vtk_widget.installEventFilter(self)
            self._axes = vtk.vtkOrientationMarkerWidget()
            self._axes.SetOrientationMarker(vtk.vtkAxesActor())
            self._axes.SetInteractor(self.interactor)
            self._axes.SetViewport(0.0, 0.0, 0.12, 0.18)
            self._axes.SetEnabled(1)
            self._axes.InteractiveOff()
            self.vtk_widget.Initialize()
        self._press_pos = None
        self.picker = vtk.vtkCellPicker()
        self.picker.SetTolerance(0.004)
        self.marker = self._make_marker()
        self.renderer.AddActor(self.marker)

    # --------------------------------------------------------------------------------------------- scene
    @property
    def origin(self):
        return self.scene_renderer.origin

    def set_scene(self, scene: Scene) -> None:
        self.scene_renderer.set_scene(scene)
        self.renderer.AddActor(self.marker)
        self.reset_camera(render=False)
        self.render_later()

    def render_later(self) -> None:
        """One render on the next turn of the event loop, however many changes came before it (software GL
        frames cost tens of ms: never draw the same scene twice in one event)."""
        if not getattr(self, "_render_pending", False):
            self._render_pending = True
            QtCore.QTimer.singleShot(0, self, self._deferred_render)

    def _deferred_render(self) -> None:
        self._render_pending = False
        self.render()

    def add_layer(self, layer: Layer, style: dict | None = None, render: bool = True) -> list:
        first = not self.scene_renderer.actors
        actors = self.scene_renderer.add_layer(layer, style)
        if first:
            self.reset_camera(render=False)
        if render:
            self.render()
        return actors

    def remove_layer(self, uid: str) -> None:
        self.scene_renderer.remove_layer(uid)
        self.render()

    def set_visible(self, uid: str, visible: bool) -> None:
        self.scene_renderer.set_visible(uid, visible)
        self.render()

    def reset_camera(self, view: str = "iso", render: bool = True) -> None:
        self.scene_renderer.set_view(view)
        if render:
            self.render()

    # --------------------------------------------------------------------------------------------- drawing
    def render(self) -> None:
        self.window.Render()
        if self.offscreen:
            img = image_from_window(self.window)
            h, w = img.shape[:2]
            qimg = QtGui.QImage(img.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
            self._label.setPixmap(QtGui.QPixmap.fromImage(qimg))

    def screenshot(self, path: str | None = None) -> np.ndarray:
        """RGB array of the current frame; also written as PNG when `path` is given."""
        self.window.Render()
        img = image_from_window(self.window)
        if path:
            from engine.io.image import write_image

            write_image(path, img)
        return img

    # --------------------------------------------------------------------------------------------- picking
    def _make_marker(self) -> vtk.vtkActor:
        src = vtk.vtkSphereSource()
        src.SetRadius(0.25)
        m = vtk.vtkPolyDataMapper()
        m.SetInputConnection(src.GetOutputPort())
        a = vtk.vtkActor()
        a.SetMapper(m)
        a.GetProperty().SetColor(1.0, 1.0, 0.2)
        a.SetVisibility(False)
        a.PickableOff()
        return a

    def eventFilter(self, obj, ev) -> bool:
        """A left click (press and release within 4 px) picks; a drag only rotates. VTK still gets every event."""
        if obj is getattr(self, "vtk_widget", None):
            t = ev.type()
            if t == QtCore.QEvent.MouseButtonPress and ev.button() == QtCore.Qt.LeftButton:
                self._press_pos = ev.position().toPoint()
            elif t == QtCore.QEvent.MouseButtonRelease and ev.button() == QtCore.Qt.LeftButton:
                p, q = ev.position().toPoint(), self._press_pos
                self._press_pos = None
                if q is not None and abs(p.x() - q.x()) + abs(p.y() - q.y()) < 4:
                    r = self.vtk_widget.devicePixelRatioF() or 1.0
                    x, y = int(p.x() * r), int((self.vtk_widget.height() - 1 - p.y()) * r)
                    QtCore.QTimer.singleShot(0, self, lambda: self.pick_display(x, y))
        return False

    def display_to_widget(self, x: float, y: float) -> QtCore.QPoint:
        """Qt widget coordinates (top-left origin) of a VTK display position (bottom-left origin)."""
        r = self.vtk_widget.devicePixelRatioF() or 1.0
        return QtCore.QPoint(int(round(x / r)), int(round(self.vtk_widget.height() - 1 - y / r)))

    def pick_display(self, x: int, y: int) -> dict | None:
        """Pick at display coordinates (VTK convention: origin bottom-left); emits `picked` with details."""
        if not self.picker.Pick(x, y, 0, self.renderer):
            return None
        actor = self.picker.GetActor()
        if actor is None or not hasattr(actor, "_sl_layer"):
            return None
        pos = self.scene_renderer.to_world(self.picker.GetPickPosition())
        info = {"layer": actor._sl_layer, "actor": actor, "cell_id": self.picker.GetCellId(),
                "point_id": self.picker.GetPointId(), "position": tuple(pos)}
        fn = getattr(actor, "_sl_pick", None)
        if fn is not None:
            details = dict(fn(info["cell_id"], info["point_id"], info["position"]) or {})
            # typed fields for the tools (never parse the inspector's display text back into numbers)
            info["kind"] = details.pop("_kind", "point" if "point" in details else "cell")
            info["index"] = details.pop("_index", details.get("point", info["point_id"]))
            info["value"] = details.pop("_value", None)
            if info["kind"] == "voxel":
                info["voxel"] = tuple(info["index"])
            info["details"] = details
        self.show_marker(pos)
        self.picked.emit(info)
        return info

    def show_marker(self, world_xyz, visible: bool = True) -> None:
        self.marker.SetPosition(*self.scene_renderer.to_local(world_xyz))
        self.marker.SetVisibility(visible)
        self.render()

    def world_to_display(self, world_xyz) -> tuple[float, float]:
        """Display coordinates (bottom-left origin) of a world point, for tests and overlays."""
        coord = vtk.vtkCoordinate()
        coord.SetCoordinateSystemToWorld()
        coord.SetValue(*self.scene_renderer.to_local(world_xyz))
        x, y = coord.GetComputedDoubleDisplayValue(self.renderer)
        return x, y

    def close_view(self) -> None:
        if self.interactor is not None:
            self._axes.SetEnabled(0)
            self.vtk_widget.Finalize()
        else:
            self.window.Finalize()
