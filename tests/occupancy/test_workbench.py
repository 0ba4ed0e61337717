"""Occupancy workbench in a real window: pixels of real renders, metrics table, diff mode, planes, painting
with undo, camera projection and pixel rays, sequence timeline, LiDAR task with what-if, exports."""
from __future__ import annotations

import numpy as np
import pytest

from scenelens.engine.io import load
from tests.conftest import colourful_fraction, wait_job
from tests.occupancy.occ_helpers import OCC, colour_fraction, open_occ_with_prediction, wb_of


def test_render_toggle_classes_and_masks(qtbot, window, shared_data):
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    window.view3d.reset_camera("top")
    img = window.view3d.screenshot()
    assert colourful_fraction(img) > 0.1
    veg = colour_fraction(img, (0, 175, 0))
    drive = colour_fraction(img, (0, 207, 191))
    assert veg > 0.02 and drive > 0.02
    wb.set_class_visible(16, False)  # vegetation off
    img2 = window.view3d.screenshot()
    assert colour_fraction(img2, (0, 175, 0)) < 0.2 * veg
    wb.set_class_visible(16, True)
    # camera-mask only: fewer coloured pixels than all voxels
    wb.mask_combo.setCurrentText("mask_camera")
    img3 = window.view3d.screenshot()
    assert colourful_fraction(img3) < colourful_fraction(window.view3d.screenshot()) + 1e-9
    assert colourful_fraction(img3) < colourful_fraction(img)


def test_metrics_table_and_diff_mode(qtbot, window, shared_data, tmp_path):
    from scenelens.engine.occupancy.evaluate import evaluate_grids

    gt, pred = open_occ_with_prediction(window, shared_data)
    wb = wb_of(window)
    assert wb.grid is pred and wb.gt is gt
    h = wb.compute_metrics()
    wait_job(qtbot, h)
    ref = evaluate_grids(pred, gt, "occ3d", "camera")
    assert wb.metrics["miou"] == pytest.approx(ref["miou"])
    last = wb.table.rowCount()
    assert wb.table.item(last - 2, 0).text() == "mIoU" and wb.table.item(last - 2, 1).text() == f"{ref['miou']:.2f}"
    assert len(wb.bar_plot.getPlotItem().items) == 1
    wb.export_metrics(tmp_path / "m.json")
    qtbot.waitUntil(lambda: (tmp_path / "m.json").exists(), timeout=10000)
    # diff mode colours wrong/false/missed voxels
    wb.diff_check.setChecked(True)
    qtbot.waitUntil(lambda: wb.codes is not None, timeout=10000)
    qtbot.wait(100)
    window.view3d.reset_camera("top")
    img = window.view3d.screenshot()
    red = colour_fraction(img, (220, 30, 30), 50)
    green = colour_fraction(img, (120, 190, 120), 40)
    assert green > 0.02 and red > 0.0005
    window.view3d.screenshot(str(tmp_path / "diff.png"))


def test_planes_clip_and_paint_undo(qtbot, window, shared_data):
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    g = wb.grid
    top = wb.plane_views[0]
    wb.set_slice(2, 0)  # ground layer: driveable surface
    img = top["image"].image
    assert img.shape == (200, 200, 3)
    assert colour_fraction(img, (0, 207, 191), 5) > 0.1
    # paint a disk of 'car' on the ground slice, then undo
    before = g.labels.copy()
    wb.mode_combo.setCurrentText("paint")
    wb.paint_class.setCurrentIndex(wb.paint_class.findData(4))
    wb.brush.setValue(3)
    wb.plane_click(2, 100.5, 100.5)
    assert (g.labels[97:104, 97:104, 0] == 4).sum() >= 25 and g.labels[100, 100, 1] == before[100, 100, 1]
    assert colour_fraction(top["image"].image, (255, 158, 0), 5) > 0
    window.undo_stack.undo()
    assert np.array_equal(g.labels, before)
    window.undo_stack.redo()
    assert g.labels[100, 100, 0] == 4
    window.undo_stack.undo()
    # box fill
    wb.mode_combo.setCurrentText("box fill")
    wb.plane_click(2, 10.5, 10.5)
    wb.plane_click(2, 12.5, 13.5)
    assert (g.labels[10:13, 10:14, 0] == 4).all()
    window.undo_stack.undo()
    assert np.array_equal(g.labels, before)
    # the 3-D clip linked to the z slice removes everything above it
    wb.set_slice(2, 2)
    wb.clip_check.setChecked(True)
    window.view3d.reset_camera("top")
    clipped = window.view3d.screenshot()
    wb.clip_check.setChecked(False)
    full = window.view3d.screenshot()
    assert colour_fraction(full, (0, 175, 0)) > 3 * colour_fraction(clipped, (0, 175, 0))


def test_pick_in_3d_shows_voxel(qtbot, window, shared_data):
    window.set_scene(load(shared_data / OCC))
    wb = wb_of(window)
    window.view3d.reset_camera("top")
    # a car voxel on top: project its centre to the display and pick there
    g = wb.grid
    idx = np.argwhere(g.labels == 4)
    w, h = window.view3d.window.GetSize()
    for top in idx[np.argsort(-idx[:, 2], kind="stable")]:  # the highest car voxel well inside the view
        if top[2] + 1 < g.shape[2] and g.labels[tuple(top + [0, 0, 1])] != 4:
            world = g.centers(top[None])[0] + [0, 0, 0.2]
            x, y = window.view3d.world_to_display(world)
            if 20 < x < w - 20 and 20 < y < h - 20:
                break
    info = window.view3d.pick_display(int(x), int(y))
    assert info is not None and info["layer"] == g.uid
    assert info["details"]["class"].endswith("car")


