"""The Registration workbench in a real window: the real 3DMatch pair is run as a job, drawn in two
colours with correspondence lines (checked by pixel colour), toggled between stages, coloured by residual,
filtered by compatibility, corrected by hand with undo/redo, refined by ICP and exported."""
import json

import numpy as np
import pytest

from scenelens.engine.io.registration_formats import read_gt_log, read_transform
from scenelens.engine.registration import metrics as M
from scenelens.gui.views.layers.correspondences import visible_lines
from tests.conftest import wait_job


def _bench(window):
    return next(b for b in window.workbenches if type(b).__name__ == "RegistrationWorkbench")


def _count(img, rgb, tol=40):
    return int((np.abs(img.astype(int) - np.array(rgb)).max(2) < tol).sum())


def test_registration_workbench_end_to_end(window, qtbot, shared_data, tmp_path):
    d = shared_data / "3dmatch_pair"
    wb = _bench(window)
    wait_job(qtbot, wb.open_pair(str(d / "src.npy"), str(d / "ref.npy"), str(d / "gt.npy")))
    assert wb.gt is not None and wb.src_combo.count() == 2
    wb.baseline_box.setChecked(True)
    wait_job(qtbot, wb.run(), timeout=120000)
    r = wb.result
    assert r is not None and r.metrics["refined"]["success"] and wb.stage == "refined"
    for lay in window.scene.layers:  # only our display layers + the two inputs
        window.set_layer_visible(lay.uid, lay.name.startswith("registration: "))
    window.view3d.reset_camera()
    img = window.view3d.screenshot(str(tmp_path / "refined.png"))
    src_px, tgt_px = _count(img, (255, 140, 0)), _count(img, (40, 140, 255))
    green, red = _count(img, (40, 220, 80)), _count(img, (230, 50, 50))
    assert src_px > 500 and tgt_px > 500, (src_px, tgt_px)
    assert red > 100, red  # outlier lines (long)
    # inlier lines are short once refined: look for green where the view projects their midpoints
    c = wb.corr_layer
    T = np.asarray(c.meta["source_transform"], float)
    P = np.asarray(c.meta["src_xyz"], float) @ T[:3, :3].T + T[:3, 3]
    Q = np.asarray(c.meta["tgt_xyz"], float)
    drawn = visible_lines(c, window.view3d.scene_renderer.styles[c.uid])  # the lines the view draws
    inl = drawn[np.asarray(c.inlier, bool)[drawn]]
    for lay in (wb.src_layer, wb.tgt_layer):  # the clouds' splats hide most of the short lines
        window.set_layer_visible(lay.uid, False)
    img_l = window.view3d.screenshot(str(tmp_path / "refined_lines.png"))
    for lay in (wb.src_layer, wb.tgt_layer):
        window.set_layer_visible(lay.uid, True)
    g_mask = np.abs(img_l.astype(int) - (40, 220, 80)).max(2) < 40
    hits = 0
    for mid in (P[inl] + Q[inl]) / 2:
        x, y = window.view3d.world_to_display(mid)
        row, col = img.shape[0] - 1 - int(round(y)), int(round(x))
        hits += bool(g_mask[max(row - 3, 0):row + 4, max(col - 3, 0):col + 4].any())
    assert len(inl) > 10 and hits > 0.5 * len(inl), (hits, len(inl), green)  # outlier lines cross some

    # the initial (raw) pose puts the source elsewhere: the orange mask changes
    mask_refined = np.abs(img.astype(int) - (255, 140, 0)).max(2) < 40
    wb.set_stage("initial")
    img0 = window.view3d.screenshot(str(tmp_path / "initial.png"))
    mask_initial = np.abs(img0.astype(int) - (255, 140, 0)).max(2) < 40
    assert (mask_initial ^ mask_refined).sum() > 0.3 * mask_refined.sum()
    wb.set_stage("refined")

    # residual colouring replaces the flat orange by a colormap
    wb.residual_box.setChecked(True)
    img_r = window.view3d.screenshot()
    assert _count(img_r, (255, 140, 0)) < 0.2 * src_px
    wb.residual_box.setChecked(False)

    # filter by compatibility with the selected seed: fewer line pixels
    wb.outliers_box.setChecked(True)
    wb.compat_slider.setValue(90)
    img_f = window.view3d.screenshot()
    assert _count(img_f, (230, 50, 50)) < 0.5 * red
    wb.compat_slider.setValue(0)

    # truth colouring shows true (green) and false (orange-yellow) inliers, true outliers dark red
    wb.colour_combo.setCurrentText("truth")
    img_t = window.view3d.screenshot()
    assert _count(img_t, (150, 40, 40), 25) > 50
    wb.colour_combo.setCurrentText("inlier")

    # a correspondence's pick info: descriptor distance, compatibility with the seed, residual
    actor = window.view3d.scene_renderer.actors[wb.corr_layer.uid][0]
    info = actor._sl_pick(0, -1, (0, 0, 0))
    assert {"descriptor distance", "compatibility with seed", "residual (m)", "predicted inlier",
            "ground-truth inlier"} <= set(info)

    # plots have content (pyqtgraph widgets grab fine)
    assert wb.icp_plot.listDataItems() and wb.seed_plot.listDataItems() and wb.res_plot.listDataItems()
    plot_img = wb.plots.grab().toImage()
    assert plot_img.width() > 100

    # manual alignment from picked pairs (source keypoint ↔ its GT-nearest target keypoint)
    gt = r.gt
    from scipy.spatial import cKDTree

    moved = r.src_down @ gt[:3, :3].T + gt[:3, 3]
    dist, nn = cKDTree(r.tgt_down).query(moved)
    good = np.flatnonzero(dist < 0.02)
    spread = good[np.argsort(r.src_down[good, 0])][[0, len(good) // 3, 2 * len(good) // 3, -1]]
    for i in spread:
        wb.pick_source(int(i))
        wb.pick_target(int(nn[i]))
    assert len(wb.manual_pairs) == 4
    T = wb.solve_from_pairs()
    assert wb.stage == "manual"
    re, te = M.transform_errors(T, gt)
    assert re < 5 and te < 10, (re, te)
    window.undo_stack.undo()
    assert wb.stage == "refined" and wb.T_manual is None
    window.undo_stack.redo()
    assert wb.stage == "manual" and np.allclose(wb.T_manual, T)

    # nudge, undo restores the pose exactly
    wb.nudge("rotate", "z", +1)
    assert M.rotation_error_deg(wb.T_manual, T) == pytest.approx(5.0, abs=1e-6)
    window.undo_stack.undo()
    assert np.allclose(wb.T_manual, T)

    # ICP from the manual pose (a job)
    wait_job(qtbot, wb.icp_from_current())
    assert wb.stage == "manual" and M.transform_errors(wb.T_manual, gt)[0] < 15
    qtbot.waitUntil(lambda: wb.manual_metrics is not None, timeout=20000)

    # exports
    wait_job(qtbot, wb.export("transform", str(tmp_path / "T.json")))
    js = json.loads((tmp_path / "T.json").read_text())
    assert np.allclose(read_transform(tmp_path / "T.json"), wb.T_manual) and "metrics" in js
    wait_job(qtbot, wb.export("log", str(tmp_path / "est.log"), (1, 0, 2)))
    assert np.allclose(read_gt_log(tmp_path / "est.log")[(0, 1)], wb.T_manual)
    wait_job(qtbot, wb.export("merged", str(tmp_path / "merged.ply")))
    from scenelens.engine.io import load_layers

    merged = load_layers(tmp_path / "merged.ply")[0]
    assert merged.n == 15953 + 18977
    wait_job(qtbot, wb.export("corr", str(tmp_path / "corr.npz")))
    z = np.load(tmp_path / "corr.npz")
    assert z["inlier"].dtype == bool and len(z["inlier"]) == len(r.corr) and "gt_inlier" in z

    # the manual pose is saved with the project
    from scenelens.engine.project import Project

    proj = Project()
    wb.save_annotations(proj)
    assert np.allclose(proj.annotations["registration.manual_transform"], wb.T_manual)
