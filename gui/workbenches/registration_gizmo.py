"""An in-view rotate/translate handle for the registration source cloud.

Nudge buttons are exact but slow for a coarse fix (the source is upside down, or a metre off); users of
CloudCompare/Open3D expect to grab the cloud. VTK's box widget does this with scaling switched off: drag a
face to translate, drag the box to rotate about its centre. While dragging, only the source is redrawn
(a preview, nothing computed); on release the move becomes one undoable "move with gizmo" pose edit, and the
residuals and metrics of the new pose are computed by the engine as for any manual pose.
Needs the interactive view (a display or Xvfb); the offscreen view has no interactor and says so.
"""
from __future__ import annotations

import numpy as np
import vtk


def _to_matrix(t: vtk.vtkTransform) -> np.ndarray:
    m = t.GetMatrix()
    return np.array([[m.GetElement(i, j) for j in range(4)] for i in range(4)], float)


class PoseGizmo:
    def __init__(self, bench):
        self.bench = bench
        self.widget: vtk.vtkBoxWidget2 | None = None
        self.rep: vtk.vtkBoxRepresentation | None = None
        self.T0: np.ndarray | None = None  # the pose the box was placed at

    @property
    def enabled(self) -> bool:
        return self.widget is not None

    def set_enabled(self, on: bool) -> bool:
        """Show or hide the gizmo; False (with a log line) when it cannot be shown."""
        view = self.bench.window.view3d
        if not on:
            if self.widget is not None:
                self.widget.Off()
                self.widget = self.rep = None
                view.render()
            return True
        if self.bench.result is None:
            self.bench.window.log("registration: run or open a pair before moving the source", "warning")
            return False
        if view.interactor is None:
            self.bench.window.log("registration: the gizmo needs the interactive 3D view (no display here)", "warning")
            return False
        self.rep = vtk.vtkBoxRepresentation()
        self.rep.SetPlaceFactor(1.0)
        for prop in (self.rep.GetOutlineProperty(), self.rep.GetSelectedOutlineProperty()):
            prop.SetColor(1.0, 0.85, 0.2)
            prop.SetLineWidth(2.0)
            prop.LightingOff()  # the same amber from every side, so it reads as a tool, not geometry
        self.widget = vtk.vtkBoxWidget2()
        self.widget.SetInteractor(view.interactor)
        self.widget.SetRepresentation(self.rep)
        self.widget.SetScalingEnabled(False)  # a pose is rigid
        self.widget.AddObserver("InteractionEvent", self._moving)
        self.widget.AddObserver("EndInteractionEvent", self._released)
        self.sync()
        self.widget.On()
        view.render()
        return True

    def sync(self) -> None:
        """Place the box around the source in its current pose (after any pose change, undo included)."""
        if self.widget is None:
            return
        T = self.bench.current_T()
        pts = self.bench._source_points() @ T[:3, :3].T + T[:3, 3]
        if len(pts) == 0:
            return
        lo, hi = pts.min(0), pts.max(0)
        self.rep.PlaceWidget([lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]])
        self.T0 = T.copy()

    def delta(self) -> np.ndarray:
        """The rigid motion of the box since it was placed (4×4, world frame)."""
        t = vtk.vtkTransform()
        self.rep.GetTransform(t)
        D = _to_matrix(t)
        u, _s, vt = np.linalg.svd(D[:3, :3])  # strip any numerical scale: the pose stays rigid
        D[:3, :3] = u @ vt
        return D

    def _moving(self, *_a) -> None:
        self.bench._draw(T_override=self.delta() @ self.T0)

    def _released(self, *_a) -> None:
        D = self.delta()
        if np.allclose(D, np.eye(4), atol=1e-9):
            return
        self.bench.set_manual_pose(D @ self.T0, "move with gizmo")  # sync() re-places the box via the pose
