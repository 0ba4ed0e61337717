"""Occupancy workbench jobs in a real window: camera projection and pixel rays, sequence timeline, the LiDAR
task with a what-if re-run, exports."""
from __future__ import annotations

import numpy as np
import pytest

from scenelens.engine.io import load, load_layers
from tests.conftest import wait_job
from tests.occupancy.occ_helpers import NUS, OCC, colour_fraction, wb_of


def test_camera_projection_and_pixel_ray(qtbot, window, shared_data):
    scene = load(shared_data / NUS)
    scene.add(load_layers(shared_data / OCC)[0])  # a grid in the same (ego) frame
    window.set_scene(scene)
    wb = wb_of(window)
    wait_job(qtbot, wb.project_cameras())
    assert set(wb.projections) == {c.name for c in wb.rig().cameras}
    window.view2d.show_image(wb.rig().cameras[0].image, "CAM_FRONT")
    p = wb.projections["CAM_FRONT"]
    assert len(p["uv"]) > 1000 and np.all(np.diff(p["depth"]) <= 1e-9)  # far → near
    assert len(window.view2d._overlays) == 1
    grab = window.view2d.grab_image()
    assert grab.std() > 10
    h = wb.select_pixel("CAM_FRONT", 800, 600)
    wait_job(qtbot, h)
    assert wb.highlight is not None and len(wb.highlight) > 0
    assert "voxel (i, j, k)" in window.inspector.info and "CAM_FRONT" in window.inspector.title.text()
    # the highlighted voxels lie along the ray: their centres are close to the pixel's ray line
    from scenelens.engine.occupancy.projection import pixel_ray

    o, d = pixel_ray(wb.rig().cameras[0], 800, 600)
    c = wb.grid.centers(wb.highlight) - o
    off = np.linalg.norm(c - (c @ d)[:, None] * d, axis=1)
    assert off.max() < 0.4 * np.sqrt(3)
    img = window.view3d.screenshot()
    assert colour_fraction(img, (255, 255, 255), 30) > 0  # white highlight outlines drawn


def test_sequence_timeline(qtbot, window, shared_data, tmp_path):
    with np.load(shared_data / OCC) as z:
        sem = z["semantics"]
    for i in range(3):
        s = sem.copy()
        s[:, :, 1:] = 17
        s[:, :, 0] = np.where(np.arange(200)[:, None] < 60 * (i + 1), 11, 17)
        np.savez(tmp_path / f"{i:02d}.npz", semantics=s)
    window.set_scene(load(tmp_path))
    wb = wb_of(window)
    assert wb.timeline.isEnabled() and wb.timeline.maximum() == 2
    n0 = int(wb.grid.occupied().sum())
    wb.timeline.setValue(2)
    qtbot.waitUntil(lambda: wb.frame_index == 2, timeout=10000)
    assert int(wb.grid.occupied().sum()) > n0
    assert wb.frame_label.text() == "3/3"


def test_lidar_task_whatif_and_exports(qtbot, window, shared_data, tmp_path):
    scene = load(shared_data / NUS)
    window.set_scene(scene)
    wb = wb_of(window)
    wait_job(qtbot, wb.run_lidar_task(), timeout=120000)
    first = wb.grid
    assert first.name == "LiDAR occupancy" and (first.labels == 4).sum() > 0
    # what-if: drop the car points and re-run; the old result stays as the comparison and diff mode shows it
    wait_job(qtbot, wb.run_lidar_task(drop_classes=(4,)), timeout=120000)
    assert wb.grid is not first and (wb.grid.labels == 4).sum() == 0
    assert wb.gt is first and wb.diff_check.isChecked()
    qtbot.waitUntil(lambda: wb.codes is not None and (wb.codes == 4).any(), timeout=20000)  # cars now 'missed'
    wait_job(qtbot, wb.export_occ3d(tmp_path / "out.npz"))
    assert load_layers(tmp_path / "out.npz")[0].shape == (200, 200, 16)
    wait_job(qtbot, wb.export_ply(tmp_path / "surf.ply"))
    assert (tmp_path / "surf.ply").stat().st_size > 1000
    out = wb.export_video(tmp_path / "turn.mp4", n_frames=6, size=(320, 200))
    assert out.exists() and out.stat().st_size > 1000


def test_adapter_whatif_drop_camera_and_sequence_metrics(qtbot, window, shared_data, tmp_path):
    from tests.occupancy.test_cli import ADAPTER

    (tmp_path / "ad.py").write_text(ADAPTER)
    window.set_scene(load(shared_data / NUS))
    wb = wb_of(window)
    wait_job(qtbot, wb.run_adapter(str(tmp_path / "ad.py")))
    assert int((wb.grid.labels == 11).sum()) == 6 and wb.grid.scores is not None
    wait_job(qtbot, wb.run_adapter(str(tmp_path / "ad.py"), drop_cameras=("CAM_BACK", "CAM_FRONT")))
    assert int((wb.grid.labels == 11).sum()) == 4  # the model saw two cameras fewer
    # sequence metrics: one confusion over all frames of the open folder against a GT folder
    with np.load(shared_data / OCC) as z:
        sem, cam = z["semantics"], z["mask_camera"]
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    for i in range(3):
        np.savez(tmp_path / "pred" / f"{i}.npz", semantics=np.roll(sem, i, 0))
        np.savez(tmp_path / "gt" / f"{i}.npz", semantics=np.roll(sem, i, 0), mask_camera=np.roll(cam, i, 0))
    window.set_scene(load(tmp_path / "pred"))
    wait_job(qtbot, wb.sequence_metrics(str(tmp_path / "gt")))
    assert wb.metrics["n_frames"] == 3 and wb.metrics["miou"] == pytest.approx(100.0)


def test_unobserved_translucent(qtbot, window, shared_data):
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    window.view3d.reset_camera("top")
    wb.mask_combo.setCurrentText("mask_camera")
    hidden = window.view3d.screenshot()
    wb.unobs_combo.setCurrentIndex(1)
    translucent = window.view3d.screenshot()
    # unobserved voxels now show faintly over the background: many pixels change, each only a little
    delta = np.abs(translucent.astype(int) - hidden.astype(int)).max(2)
    changed = delta > 8
    assert changed.mean() > 0.01
    assert np.median(delta[changed]) < 120
    assert len(window.view3d.scene_renderer.actors[wb.grid.uid]) >= 2


def test_lidar_points_on_cameras(qtbot, window, shared_data):
    window.set_scene(load(shared_data / NUS))
    wb = wb_of(window)
    wait_job(qtbot, wb.project_cameras(source="points"))
    p = wb.projections["CAM_FRONT"]
    assert len(p["uv"]) > 2000 and np.all(np.diff(p["depth"]) <= 1e-9)
    assert (p["labels"] == 4).any()  # points inside annotated cars keep the car class
    window.view2d.show_image(wb.rig().cameras[0].image, "CAM_FRONT")
    before = window.view2d.grab_image()
    window.view2d.clear_overlays()
    bare = window.view2d.grab_image()
    wb._draw_projection()
    assert np.abs(before.astype(int) - bare.astype(int)).max(2).mean() > 1  # the overlay changes the picture
