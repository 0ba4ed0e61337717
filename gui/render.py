"""Headless `render`: draws a scene offscreen with the same builders and camera presets as the 3D view."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import vtk

from scenelens.engine.errors import InputError
from scenelens.engine.scene import Scene

from .views.scene_renderer import VIEWS, SceneRenderer
from .views.vtk_utils import image_from_window

if TYPE_CHECKING:  # annotations only; the functions import numpy where they use it
    import numpy as np


def offscreen_window() -> "vtk.vtkRenderWindow":
    """A render window for headless output. Without an X display VTK's factory first tries X, logs
    'bad X server connection' as a warning on stderr, then falls back to EGL/OSMesa and renders fine: that
    line is hidden here (errors still show)."""
    import os
    import sys

    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not headless:
        return vtk.vtkRenderWindow()
    old = vtk.vtkLogger.GetCurrentVerbosityCutoff()
    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_ERROR)
    try:
        return vtk.vtkRenderWindow()
    finally:
        vtk.vtkLogger.SetStderrVerbosity(old)


def render_scene(scene: Scene, size: tuple[int, int] = (1280, 800), view: str = "iso"):
    """RGB array of the scene rendered offscreen."""
    if view not in VIEWS:
        raise InputError(None, f"unknown view {view!r} (use {', '.join(VIEWS)})")
    ren = vtk.vtkRenderer()
    sr = SceneRenderer(ren)
    sr.set_scene(scene)
    if not sr.actors or not any(sr.actors.values()):
        raise InputError(scene.path, "nothing to draw in 3D (no point cloud, voxel grid, skeleton… layer)")
    win = offscreen_window()
    win.SetOffScreenRendering(1)
    win.SetSize(*size)
    win.AddRenderer(ren)
    sr.set_view(view)
    win.Render()
    img = image_from_window(win)
    win.Finalize()
    return img


def render_file(path: str, out: str, size: tuple[int, int], view: str = "iso") -> Path:
    from scenelens.engine.io import load
    from scenelens.engine.io.image import write_image

    scene = load(path)
    img = render_scene(scene, size, view)
    write_image(out, img)
    return Path(out)


# --------------------------------------------------------------------------------------- paper figures
# Palettes of the papers' own visualisation code, as RGB per class id (index = label):
# * nuscenes: the devkit's coarse-class colours (the label set's own table);
# * occ3d: Occ3D / CVPR-2023 challenge `utils/vis.py` — 15 colours, label k drawn with row k % 15;
# * surroundocc: `tools/visual.py` — black for 0, then the 16 classes from barrier (label k = row k);
# * tpvformer: `vis_frame.py` — the same table with motorcycle (255, 127, 0).
_SURROUNDOCC = [(0, 0, 0), (255, 120, 50), (255, 192, 203), (255, 255, 0), (0, 150, 245), (0, 255, 255),
                (200, 180, 0), (255, 0, 0), (255, 240, 150), (135, 60, 0), (160, 32, 240), (255, 0, 255),
                (139, 137, 137), (75, 0, 75), (150, 240, 80), (230, 230, 250), (0, 175, 0)]
_OCC3D_VIS = [(255, 158, 0), (0, 0, 230), (47, 79, 79), (220, 20, 60), (255, 69, 0), (255, 140, 0), (233, 150, 70),
              (255, 61, 99), (112, 128, 144), (222, 184, 135), (0, 175, 0), (165, 42, 42), (0, 207, 191),
              (75, 0, 75), (255, 0, 0)]
PALETTES = ("nuscenes", "occ3d", "surroundocc", "tpvformer", "semantickitti")
FIGURE_VIEWS = {  # direction from the focus to the camera, view-up, orthographic?
    "iso": ((-1.0, -0.85, 0.95), (0, 0, 1), False),
    "top": ((0.0, 0.0, 1.0), (1, 0, 0), False),  # a camera high above (perspective: walls lean out)
    "bev": ((0.0, 0.0, 1.0), (1, 0, 0), True),  # the bird's-eye map (orthographic)
    "front": ((-1.0, 0.0, 0.42), (0, 0, 1), False),
    "side": ((0.0, -1.0, 0.3), (0, 0, 1), False),
}


def palette_colors(name: str, label_set: str | None) -> "np.ndarray":
    """(256, 3) uint8 colours of a paper palette (ids beyond it keep the label set's colours)."""
    import numpy as np

    from scenelens.engine.labels import get_label_set

    base = get_label_set(label_set or "occ3d").lut().copy()
    base[255] = (200, 200, 200)  # ignore (occupied, class unknown), drawn with --show-ignore
    if name in (None, "nuscenes", "semantickitti", "default"):
        if name == "semantickitti" and (label_set or "occ3d") != "semantickitti":
            raise InputError(None, "palette semantickitti needs a SemanticKITTI grid")
        return base
    if (label_set or "occ3d") != "occ3d":
        raise InputError(None, f"palette {name!r} is for nuScenes/Occ3D classes, the grid uses {label_set}")
    if name == "occ3d":
        for k in range(17):
            base[k] = _OCC3D_VIS[k % len(_OCC3D_VIS)]
    elif name in ("surroundocc", "tpvformer"):
        base[:17] = _SURROUNDOCC
        if name == "tpvformer":
            base[6] = (255, 127, 0)
    else:
        raise InputError(None, f"unknown palette {name!r} (use {', '.join(PALETTES)})")
    return base


def frame_camera(renderer, lo, hi, view: str, aspect: float, margin: float = 1.03, points=None) -> None:
    """Point the camera along a fixed paper view so that everything drawn fits the image: the box [lo, hi],
    or — tighter, so a perspective view is not left mostly empty — the given points (what is drawn)."""
    import numpy as np

    if view not in FIGURE_VIEWS:
        raise InputError(None, f"unknown view {view!r} (use {', '.join(FIGURE_VIEWS)})")
    d, up, ortho = FIGURE_VIEWS[view]
    d = np.asarray(d, float) / np.linalg.norm(d)
    up = np.asarray(up, float)
    right = np.cross(up, d)
    if np.linalg.norm(right) < 1e-9:
        right = np.cross((0, 1, 0), d)
    right /= np.linalg.norm(right)
    up = np.cross(d, right)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    c = (lo + hi) / 2
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]) - c
    if points is not None and len(points):
        c = (np.min(points, 0) + np.max(points, 0)) / 2
        corners = np.asarray(points, float) - c
    a, r, u = corners @ d, corners @ right, corners @ up
    cam = renderer.GetActiveCamera()
    cam.SetFocalPoint(*c)
    cam.SetViewUp(*up)
    if ortho:
        cam.ParallelProjectionOn()
        cam.SetParallelScale(float(max(np.abs(u).max(), np.abs(r).max() / aspect) * margin))
        cam.SetPosition(*(c + d * (np.abs(a).max() + np.linalg.norm(hi - lo))))
    else:
        cam.ParallelProjectionOff()
        va = 30.0
        cam.SetViewAngle(va)
        tv = np.tan(np.deg2rad(va) / 2)
        th = tv * aspect
        # a corner at offset (r, u) and height a towards the camera fits when |r| ≤ (D − a)·tan(h/2), etc.
        D = float(max((a + np.abs(r) / th).max(), (a + np.abs(u) / tv).max()))
        # re-centre: shift the focus so the projected box is centred (perspective makes it lopsided)
        cam.SetPosition(*(c + d * D * margin))
        renderer.ResetCameraClippingRange()
        _centre_projection(renderer, corners + c, aspect)
    renderer.ResetCameraClippingRange()


def _centre_projection(renderer, pts, aspect: float, iterations: int = 3) -> None:
    """Pan (camera and focus together) and dolly so the projected points are centred and fill the view."""
    import numpy as np

    cam = renderer.GetActiveCamera()
    for _ in range(iterations):
        pos, foc = np.array(cam.GetPosition()), np.array(cam.GetFocalPoint())
        d = (pos - foc) / np.linalg.norm(pos - foc)
        up = np.array(cam.GetViewUp())
        right = np.cross(up, d)
        right /= np.linalg.norm(right)
        up = np.cross(d, right)
        rel = pts - pos
        depth = -(rel @ d)
        tv = np.tan(np.deg2rad(cam.GetViewAngle()) / 2)
        x = (rel @ right) / (depth * tv * aspect)
        y = (rel @ up) / (depth * tv)
        cx, cy = (x.max() + x.min()) / 2, (y.max() + y.min()) / 2
        span = max((x.max() - x.min()) / 2, (y.max() - y.min()) / 2)
        dist = np.linalg.norm(pos - foc)
        shift = right * cx * dist * tv * aspect + up * cy * dist * tv
        cam.SetPosition(*(pos + shift))
        cam.SetFocalPoint(*(foc + shift))
        if span > 0:
            cam.Dolly(1.0 / (span * 1.03))


def camera_to_dict(renderer, origin=None) -> dict:
    """The active camera in world coordinates (for `--save-camera` and batch renders)."""
    import numpy as np

    cam = renderer.GetActiveCamera()
    o = np.zeros(3) if origin is None else np.asarray(origin, float)
    return {"position": (np.array(cam.GetPosition()) + o).tolist(), "focal_point": (np.array(cam.GetFocalPoint()) + o).tolist(),
            "view_up": list(cam.GetViewUp()), "view_angle": cam.GetViewAngle(),
            "parallel": bool(cam.GetParallelProjection()), "parallel_scale": cam.GetParallelScale()}


def apply_camera(renderer, d: dict, origin=None, where=None) -> None:
    import numpy as np

    try:
        o = np.zeros(3) if origin is None else np.asarray(origin, float)
        cam = renderer.GetActiveCamera()
        cam.SetPosition(*(np.asarray(d["position"], float).reshape(3) - o))
        cam.SetFocalPoint(*(np.asarray(d["focal_point"], float).reshape(3) - o))
        cam.SetViewUp(*np.asarray(d["view_up"], float).reshape(3))
        cam.SetViewAngle(float(d.get("view_angle", 30.0)))
        cam.SetParallelProjection(bool(d.get("parallel", False)))
        cam.SetParallelScale(float(d.get("parallel_scale", 1.0)))
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(where, f"not a camera viewpoint (needs position, focal_point, view_up): {e}") from None
    renderer.ResetCameraClippingRange()


def render_figure(scene: Scene, size=(1600, 1000), view: str = "iso", palette: str | None = None,
                  camera: dict | None = None, edges: bool = True, mask: str | None = None,
                  ego: bool = True, show_ignore: bool = False):
    """A paper-style figure of the scene's voxel grids: white background, every voxel a cube with black
    edges (no merged faces, no level of detail), a paper palette, and a fixed view that frames the whole
    grid (or a saved `camera`). Returns (RGB image, camera dict in world coordinates)."""
    import numpy as np

    from scenelens.engine.scene import VoxelGrid

    grids = [lay for lay in scene.layers if isinstance(lay, VoxelGrid) and lay.visible]
    if not grids:
        raise InputError(scene.path, "holds no voxel grid to draw as a figure")
    ren = vtk.vtkRenderer()
    sr = SceneRenderer(ren)
    ren.GradientBackgroundOff()
    ren.SetBackground(1.0, 1.0, 1.0)
    for g in grids:
        if mask and f"mask_{mask}" not in g.masks:
            raise InputError(g.source or g.name, f"--mask {mask}: the grid has no mask_{mask}")
        actors = sr.add_layer(g, {"merge": False, "lod": 1, "ego_marker": False, "show_ignore": show_ignore,
                                  "mask": f"mask_{mask}" if mask else None})
        cols = palette_colors(palette, g.label_set).astype(float) / 255.0
        lut = vtk.vtkLookupTable()
        lut.SetNumberOfTableValues(256)
        lut.SetTableRange(0, 255)
        for i, c in enumerate(cols):
            lut.SetTableValue(i, *c, 1.0)
        lut.Build()
        for a in actors:
            a.GetMapper().SetLookupTable(lut)
            p = a.GetProperty()
            p.SetAmbient(0.35)
            p.SetDiffuse(0.75)
            if edges:
                p.EdgeVisibilityOn()
                p.SetEdgeColor(0.0, 0.0, 0.0)
                p.SetLineWidth(max(1.0, size[0] / 1600))
            a._sl_lod_data = None  # noqa: SLF001  (a figure never swaps in the coarse mesh)
        if ego and g.frame in ("ego", "lidar"):
            ren.AddActor(_ego_car(sr.to_local(np.zeros(3)), g.frame))
    win = offscreen_window()
    win.SetOffScreenRendering(1)
    win.SetSize(*size)
    win.AddRenderer(ren)
    if camera is not None:
        apply_camera(ren, camera, sr.origin)
    else:
        lo = np.min([sr.to_local(g.bounds()[0]) for g in grids], 0)
        hi = np.max([sr.to_local(g.bounds()[1]) for g in grids], 0)
        frame_camera(ren, lo, hi, view, size[0] / size[1], points=_drawn_points(grids, sr, mask, show_ignore))
    win.Render()
    img = image_from_window(win)
    cam = camera_to_dict(ren, sr.origin)
    win.Finalize()
    return img, cam


def _drawn_points(grids, sr, mask, show_ignore=False, n_max: int = 30000):
    """Corners of (a sample of) the voxels a figure draws, in the view's local frame."""
    import numpy as np

    pts = []
    for g in grids:
        vis = g.occupied()
        if show_ignore and g.ignore_label is not None:
            vis = vis | (g.labels == g.ignore_label)
        if mask:
            vis = vis & g.masks[f"mask_{mask}"]
        idx = np.argwhere(vis)
        if len(idx) > n_max:
            idx = idx[np.random.default_rng(0).choice(len(idx), n_max, replace=False)]
        vs = np.asarray(g.voxel_size, float)
        for corner in ((0, 0, 0), (1, 1, 1)):
            pts.append(sr.to_local(np.asarray(g.origin) + (idx + corner) * vs))
    return np.concatenate(pts) if pts else None


def _ego_car(position, frame: str):
    """A solid dark-grey car where the ego vehicle is, as the papers draw it."""
    src = vtk.vtkCubeSource()
    src.SetXLength(4.0)
    src.SetYLength(1.8)
    src.SetZLength(1.5)
    src.SetCenter(1.3 if frame == "ego" else 0.0, 0.0, 0.75 if frame == "ego" else -1.1)
    m = vtk.vtkPolyDataMapper()
    m.SetInputConnection(src.GetOutputPort())
    a = vtk.vtkActor()
    a.SetMapper(m)
    a.GetProperty().SetColor(0.25, 0.25, 0.28)
    a.GetProperty().EdgeVisibilityOn()
    a.GetProperty().SetEdgeColor(0, 0, 0)
    a.SetPosition(*position)
    return a


def figure_files(folder: Path) -> list[Path]:
    """The grid files of a folder, one per frame (SemanticKITTI sets by their .label)."""
    from scenelens.engine.occupancy.evaluate import _files

    return [p for _, p in sorted(_files(Path(folder)).items())]


def render_figures(path, out, size=(1600, 1000), view="iso", palette=None, camera: dict | None = None,
                   edges=True, mask=None, ego=True, progress=None, show_ignore=False) -> tuple[list[Path], dict]:
    """One figure, or a folder of grids rendered with one viewpoint (the given `camera`, else the view
    framed on the first frame and kept for all). Returns (files written, the viewpoint used)."""
    import json

    from scenelens.engine.io import load
    from scenelens.engine.io.image import write_image

    src, out = Path(path), Path(out)
    if src.is_dir():
        files = figure_files(src)
        if not files:
            raise InputError(src, "folder holds no occupancy grids (.npz, .label, .npy)")
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for i, f in enumerate(files):
            img, cam = render_figure(load(f), size, view, palette, camera, edges, mask, ego, show_ignore)
            camera = camera or cam
            key = f.parent.name if f.stem == "labels" else f.stem
            write_image(out / f"{key}.png", img)
            written.append(out / f"{key}.png")
            if progress:
                progress((i + 1) / len(files), key)
        (out / "viewpoint.json").write_text(json.dumps(camera, indent=1))
        return written, camera
    img, cam = render_figure(load(src), size, view, palette, camera, edges, mask, ego, show_ignore)
    write_image(out, img)
    return [out], cam
