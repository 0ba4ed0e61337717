"""Keeps a vtkRenderer in step with a Scene: one set of actors per visible layer, a shared local origin,
and named camera presets. Used by both the interactive View3D and the headless `render` command."""
from __future__ import annotations

import numpy as np
import vtk

from scenelens.engine.scene import Layer, PointCloud, Scene, VoxelGrid

from .builders import build_actors

STAT_SAMPLE = 100_000  # the view's centre and framing percentiles come from at most this many points


def sample_rows(points: np.ndarray, n: int = STAT_SAMPLE) -> np.ndarray:
    """An even stride of at most `n` rows: medians and 2–98th percentiles of a 50M-point cloud from 100k rows
    take a few ms on the GUI thread instead of seconds (and no N×3 copy); framing does not need more."""
    return points if len(points) <= n else points[:: -(-len(points) // n)]


_STATS: dict[int, tuple] = {}  # id(points) -> (weak reference to the array, n, median, 2nd, 98th percentile)


def point_stats(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(median, 2nd, 98th percentile) per axis of a sample of `points`, cached per array: the open job
    computes them (gui/views/layers/points.prepare_scene), the GUI thread's centre and framing reuse them."""
    import weakref

    key = id(points)
    hit = _STATS.get(key)
    if hit is not None and hit[0]() is points and hit[1] == len(points):
        return hit[2:]
    s = sample_rows(points)
    stats = (np.median(s, 0), *np.percentile(s, [2, 98], axis=0))
    _STATS[key] = (weakref.ref(points, lambda _r: _STATS.pop(key, None)), len(points), *stats)
    return stats


def layer_origin(layer: Layer) -> np.ndarray | None:
    """The local origin a view picks from its first cloud or grid (None for other layers)."""
    if isinstance(layer, PointCloud) and layer.n:
        return np.round(point_stats(layer.points)[0], 0)
    if isinstance(layer, VoxelGrid):
        lo, hi = layer.bounds()
        return np.round((lo + hi) / 2, 0)
    return None


BACKGROUND = ((0.08, 0.09, 0.11), (0.20, 0.22, 0.27))
VIEWS = ("iso", "top", "front", "side", "bev")


def _configure_global_rendering() -> None:
    # Multisampling makes llvmpipe 2.5-3x slower (DESIGN.md); FXAA can be enabled per renderer instead.
    try:
        vtk.vtkOpenGLRenderWindow.SetGlobalMaximumNumberOfMultiSamples(0)
    except AttributeError:
        pass


_configure_global_rendering()


class SceneRenderer:
    def __init__(self, renderer: vtk.vtkRenderer):
        self.renderer = renderer
        renderer.GradientBackgroundOn()
        renderer.SetBackground(*BACKGROUND[0])
        renderer.SetBackground2(*BACKGROUND[1])
        self.actors: dict[str, list] = {}
        self.styles: dict[str, dict] = {}
        self.origin: np.ndarray | None = None
        self.layers: dict[str, Layer] = {}
        self._framing: dict[str, tuple] = {}  # uid -> ((id(points), n), 2nd percentile, 98th percentile)

    def _pick_origin(self, layer: Layer) -> None:
        if self.origin is None:
            self.origin = layer_origin(layer)

    def set_scene(self, scene: Scene) -> None:
        self.clear()
        for lay in scene.layers:
            self.add_layer(lay)

    def clear(self) -> None:
        for uid in list(self.actors):
            self.remove_layer(uid)
        self.origin = None
        self.layers.clear()

    def add_layer(self, layer: Layer, style: dict | None = None) -> list:
        """(Re)build the actors of one layer; returns them."""
        self._pick_origin(layer)
        self.remove_layer(layer.uid)
        st = dict(self.styles.get(layer.uid, {}))
        st.update(style or {})
        self.styles[layer.uid] = st
        st_b = dict(st)
        st_b["origin"] = self.origin
        actors = build_actors(layer, st_b)
        M = self._user_matrix(layer)
        for a in actors:
            a.SetVisibility(layer.visible)
            if M is not None and hasattr(a, "SetUserMatrix"):
                a.SetUserMatrix(M)
            self.renderer.AddViewProp(a)
        self.actors[layer.uid] = actors
        self.layers[layer.uid] = layer
        return actors

    def _user_matrix(self, layer: Layer):
        """The layer's own 4×4 transform in the view's local frame (actors are built around `origin`)."""
        T = np.asarray(getattr(layer, "transform", None) if getattr(layer, "transform", None) is not None
                       else np.eye(4), float)
        if T.shape != (4, 4) or np.allclose(T, np.eye(4)):
            return None
        o = np.eye(4)
        o[:3, 3] = self.origin if self.origin is not None else 0.0
        M = np.linalg.inv(o) @ T @ o
        m = vtk.vtkMatrix4x4()
        for i in range(4):
            for j in range(4):
                m.SetElement(i, j, float(M[i, j]))
        return m

    def remove_layer(self, uid: str) -> None:
        for a in self.actors.pop(uid, []):
            self.renderer.RemoveViewProp(a)
        self.layers.pop(uid, None)
        self._framing.pop(uid, None)

    def set_visible(self, uid: str, visible: bool) -> None:
        if uid in self.layers:
            self.layers[uid].visible = visible
        for a in self.actors.get(uid, []):
            a.SetVisibility(visible)

    def to_local(self, xyz) -> np.ndarray:
        return np.asarray(xyz, float) - (self.origin if self.origin is not None else 0.0)

    def to_world(self, xyz) -> np.ndarray:
        return np.asarray(xyz, float) + (self.origin if self.origin is not None else 0.0)

    def focus_bounds(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Local-frame box that holds most of the content: 2–98th percentile of point clouds (a few far
        returns must not shrink the scene to a dot), full bounds of other props."""
        los, his = [], []
        for uid, lay in self.layers.items():
            if not lay.visible or not self.actors.get(uid):
                continue
            if isinstance(lay, PointCloud) and lay.n > 50:
                key = (id(lay.points), lay.n)  # framing is asked for several times per opened scene
                cached = self._framing.get(uid)
                if cached is None or cached[0] != key:
                    cached = self._framing[uid] = (key, *point_stats(lay.points)[1:])
                lo, hi = cached[1], cached[2]
                los.append(self.to_local(lo))
                his.append(self.to_local(hi))
            else:
                for a in self.actors[uid]:
                    bb = a.GetBounds()
                    if bb and bb[0] <= bb[1]:
                        los.append(np.array(bb[0::2]))
                        his.append(np.array(bb[1::2]))
        if not los:
            return None
        return np.min(los, 0), np.max(his, 0)

    def set_view(self, name: str = "iso") -> None:
        """Camera presets: iso (behind-above, as a driver sees the scene), top/bev, front, side.

        The focus box is framed tightly for this renderer's own viewport (a side-by-side half gets its half's
        aspect) and the camera's view angle: the 8 corners are taken into the preset's view frame and the
        camera is placed at the nearest point from which every corner lies inside both the horizontal and the
        vertical field of view, with a 5 % margin (`frame_box`)."""
        if name not in VIEWS:
            raise ValueError(f"unknown view {name!r} (use {', '.join(VIEWS)})")
        self.renderer.ResetCamera()
        b = self.focus_bounds()
        if b is None:
            return
        dirs = {"iso": (-0.8, -0.45, 0.7), "top": (0, 0, 1), "bev": (0, 0, 1), "front": (-1, 0, 0.05), "side": (0, -1, 0.05)}
        up = (1, 0, 0) if name in ("top", "bev") else (0, 0, 1)
        frame_box(self.renderer, b[0], b[1], dirs[name], up)


def viewport_aspect(renderer: vtk.vtkRenderer) -> float:
    """Width / height in pixels of the renderer's own viewport (its part of the window)."""
    win = renderer.GetRenderWindow()
    vp = renderer.GetViewport()
    if win is None:
        return 1.0
    w, h = win.GetSize()
    pw, ph = (vp[2] - vp[0]) * w, (vp[3] - vp[1]) * h
    return pw / ph if pw > 0 and ph > 0 else 1.0


def frame_box(renderer: vtk.vtkRenderer, lo, hi, direction, view_up, margin: float = 0.05) -> None:
    """Point the active camera along -`direction` (camera on the `direction` side of the box) with `view_up`,
    at the smallest distance that keeps all 8 corners of the box lo..hi inside the viewport.

    Perspective: in the view frame (right, up, towards the camera) the camera at (cx, cy, cz) sees a corner
    (x, y, z) when |x − cx| ≤ t_h (cz − z) and |y − cy| ≤ t_v (cz − z), t_v = tan(view angle / 2) and
    t_h = t_v · aspect (both shrunk by the margin). Per axis that is cx + t·cz ≥ max(x + t·z) =: A and
    −cx + t·cz ≥ max(−x + t·z) =: B, tightest at cx = (A − B)/2, cz = (A + B)/(2t); the camera takes the
    larger cz of the two axes and each axis' centre (the box's projection is centred, near corners included).
    Parallel projection: the parallel scale holds the larger half-extent. The focal point is the box's
    centre depth on the camera's axis, so rotating turns about the box."""
    cam = renderer.GetActiveCamera()
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    c = (lo + hi) / 2
    d = np.asarray(direction, float)
    d /= np.linalg.norm(d)
    u = np.asarray(view_up, float)
    u = u - d * (u @ d)
    u /= np.linalg.norm(u)
    right = np.cross(-d, u)  # forward × up
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]) - c
    x, y, z = corners @ right, corners @ u, corners @ d
    aspect = viewport_aspect(renderer)
    diag = float(np.linalg.norm(hi - lo)) or 1.0
    if cam.GetParallelProjection():
        cx, cy = (x.max() + x.min()) / 2, (y.max() + y.min()) / 2
        half_h = max((y.max() - y.min()) / 2, (x.max() - x.min()) / 2 / aspect, 1e-6 * diag)
        cam.SetParallelScale(half_h * (1 + margin))
        cz = z.max() + diag
    else:
        t_v = np.tan(np.radians(cam.GetViewAngle()) / 2) / (1 + margin)
        t_h = t_v * aspect
        cz = -np.inf
        centre = []
        for v, t in ((x, t_h), (y, t_v)):
            A, B = np.max(v + t * z), np.max(-v + t * z)
            centre.append((A - B) / 2)
            cz = max(cz, (A + B) / (2 * t))
        cx, cy = centre
        cz = max(cz, z.max() + 0.05 * diag)  # a flat box seen edge-on still has the camera in front of it
    focal = c + cx * right + cy * u
    cam.SetFocalPoint(*focal)
    cam.SetPosition(*(focal + d * cz))
    cam.SetViewUp(*u)
    renderer.ResetCameraClippingRange()
