"""File ▸ Export in the window: the demo scene as a Rerun recording and a voxel grid as a mesh, both as jobs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import wait_job

ROOT = Path(__file__).resolve().parents[2]


def test_export_menu_writes_rrd_and_mesh(window, qtbot, tmp_path, shared_data):
    rr = pytest.importorskip("rerun")
    trimesh = pytest.importorskip("trimesh")
    from scenelens.engine.io import load, load_layers
    from scenelens.engine.scene import Scene

    wb = next(w for w in window.workbenches if w.title == "Export")
    assert wb.rrd_action.isEnabled() and wb.mesh_action.isEnabled()
    window.set_scene(load(ROOT / "assets" / "demo" / "scene.json"))
    n_layers = len(window.scene.layers)
    out = tmp_path / "demo.rrd"
    wait_job(qtbot, wb.export_rrd(str(out)))
    from tests.rrd_read import Recording

    paths = Recording(out).entities()
    assert any(p.startswith("/world/points/") for p in paths) and any(p.startswith("/world/cameras/") for p in paths)
    assert len(window.scene.layers) == n_layers  # the window's scene is untouched
    assert wb.export_mesh(str(tmp_path / "none.ply")) is None  # no grid in the demo: a notification, no job
    grid = load_layers(shared_data / "occ3d_nuscenes_sample" / "labels.npz")[0]
    window.set_scene(Scene("occ", [grid]))
    mesh = tmp_path / "grid.glb"
    wait_job(qtbot, wb.export_mesh(str(mesh)))
    m = trimesh.load(mesh, force="mesh", process=False)
    lo, hi = grid.bounds()
    assert len(m.faces) > 1000 and np.all(m.bounds[0] >= lo - 1e-4) and np.all(m.bounds[1] <= hi + 1e-4)
