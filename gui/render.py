"""Headless `render`: draws a scene offscreen with the same builders and camera presets as the 3D view."""
from __future__ import annotations

from pathlib import Path

import vtk

from engine.errors import InputError
from engine.scene import Scene

from .views.scene_renderer import VIEWS, SceneRenderer
from .views.vtk_utils import image_from_window


def render_scene(scene: Scene, size: tuple[int, int] = (1280, 800), view: str = "iso"):
    """RGB array of the scene rendered offscreen."""
    if view not in VIEWS:
        raise InputError(None, f"unknown view {view!r} (use {', '.join(VIEWS)})")
    ren = vtk.vtkRenderer()
    sr = SceneRenderer(ren)
    sr.set_scene(scene)
    if not sr.actors or not any(sr.actors.values()):
        raise InputError(scene.path, "nothing to draw in 3D (no point cloud, voxel grid, skeleton… layer)")
    win = vtk.vtkRenderWindow()
    win.SetOffScreenRendering(1)
    win.SetSize(*size)
    win.AddRenderer(ren)
    sr.set_view(view)
    win.Render()
    img = image_from_window(win)
    win.Finalize()
    return img


def render_file(path: str, out: str, size: tuple[int, int], view: str = "iso") -> Path:
    from engine.io import load
    from engine.io.image import write_image

    scene = load(path)
    img = render_scene(scene, size, view)
    write_image(out, img)
    return Path(out)
