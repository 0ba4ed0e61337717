"""Helpers shared by the occupancy workbench GUI tests: sample paths, finding the workbench, colour counts,
and a GT + perturbed-prediction scene."""
from __future__ import annotations

import numpy as np

from scenelens.engine.io import load_layers
from scenelens.engine.scene import Scene

OCC = "occ3d_nuscenes_sample/labels.npz"
NUS = "nuscenes_sample/n015-2018-07-24-11-22-45+0800.pkl"


def wb_of(window):
    return next(w for w in window.workbenches if w.title == "Occupancy")


def colour_fraction(img, rgb, tol=40):
    return float((np.abs(img.astype(int) - np.asarray(rgb)).max(2) < tol).mean())


def open_occ_with_prediction(window, shared_data, seed=0):
    gt = load_layers(shared_data / OCC)[0]
    pred = load_layers(shared_data / OCC, role="prediction", name="prediction")[0]
    rng = np.random.default_rng(seed)
    flip = rng.random(pred.shape) < 0.05
    pred.labels[flip] = rng.integers(0, 18, int(flip.sum()))
    pred.masks = {}
    window.set_scene(Scene("occ", [gt, pred]))
    return gt, pred


def visible_voxel(grid, scene_renderer, renderer, candidates):
    """The first of `candidates` (voxel indices, in order) whose centre is inside `renderer`'s viewport and
    seen from its camera with no other occupied voxel in between, and its display position (x, y). The line
    of sight is sampled in numpy at a third of a voxel, independently of VTK's picker; it must stay 3 voxels
    (1.2 m) clear of other occupied voxels (the view's cell picker takes cells within ~4 px, about 1 m at
    300 m) until it is within four voxels of the target."""
    import vtk
    from scipy.ndimage import binary_dilation

    cam = renderer.GetActiveCamera()
    eye = scene_renderer.to_world(cam.GetPosition())
    occ = binary_dilation(grid.occupied(), np.ones((3, 3, 3), bool), iterations=3)
    step = min(grid.voxel_size) / 3
    w, h = renderer.GetRenderWindow().GetSize()
    vp = renderer.GetViewport()
    coord = vtk.vtkCoordinate()
    coord.SetCoordinateSystemToWorld()
    for idx in candidates:
        idx = np.asarray(idx)
        p = grid.centers(idx[None])[0]
        coord.SetValue(*scene_renderer.to_local(p))
        x, y = coord.GetComputedDoubleDisplayValue(renderer)
        if not (vp[0] * w + 10 < x < vp[2] * w - 10 and vp[1] * h + 10 < y < vp[3] * h - 10):
            continue
        n = int(np.linalg.norm(p - eye) / step)
        ray = eye + (p - eye) * (np.arange(n) / max(n, 1))[:, None]
        ij = grid.index_of(ray)
        inside = ((ij >= 0) & (ij < np.asarray(grid.shape))).all(1) & (np.abs(ij - idx).max(1) > 4)
        ij = ij[inside]
        if not occ[ij[:, 0], ij[:, 1], ij[:, 2]].any():
            return idx, (x, y)
    raise AssertionError("no candidate voxel is in view and unoccluded")
