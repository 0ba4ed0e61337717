"""The Registration workbench under a real mouse (issue 17): manual pairs made by press/release events on the VTK
widget at the display position of known keypoints (not pick_display()), undo/redo of pairs, "Align from pairs"
from them, ICP from the hand pose with its iteration cap; the Advanced parameter section (preset defaults,
--voxel-style rescaling of unedited lengths, values reaching the job); the failure banner; the residual colour
bar and data-following histogram; the metrics above the fold at 1280×800. Plus real clicks for the other pick
kinds: a joint in the 3D view and a keypoint pixel in the image view."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from tests.conftest import wait_job

YELLOW = (255, 240, 40)  # picked-pair markers and lines


def _bench(window):
    return next(b for b in window.workbenches if type(b).__name__ == "RegistrationWorkbench")


def _count(img, rgb, tol=40):
    return int((np.abs(img.astype(int) - np.array(rgb)).max(2) < tol).sum())


def _yellow(img) -> int:
    """Pair markers/lines (lit yellow spheres shade towards olive): red and green high and close, blue low."""
    i = img.astype(int)
    return int(((i[..., 0] > 150) & (i[..., 1] > 140) & (i[..., 2] < 90) & (np.abs(i[..., 0] - i[..., 1]) < 60)).sum())


def _click(qtbot, view, xyz) -> None:
    """A real left click (press + release) on the VTK widget where `xyz` is drawn."""
    x, y = view.world_to_display(xyz)
    qtbot.mouseClick(view.vtk_widget, QtCore.Qt.LeftButton, pos=view.display_to_widget(x, y))
    qtbot.wait(80)


def _real_view(window):
    if window.view3d.interactor is None:
        pytest.skip("offscreen view: no VTK widget to click")
    return window.view3d


def _open_and_run(window, qtbot, shared_data, gt=True):
    d = shared_data / "3dmatch_pair"
    wb = _bench(window)
    wait_job(qtbot, wb.open_pair(str(d / "src.npy"), str(d / "ref.npy"), str(d / "gt.npy") if gt else None))
    wait_job(qtbot, wb.run(), timeout=180000)
    assert wb.result is not None
    for lay in window.scene.layers:
        window.set_layer_visible(lay.uid, lay.name.startswith("registration: "))
    return wb


def _room_pair(window, n: int = 6000):
    """A synthetic room corner (tests/registration/helpers) and a copy moved by a known transform."""
    from scenelens.engine.registration.kabsch import rotation_matrix
    from scenelens.engine.scene import PointCloud, Scene
    from tests.registration.helpers import room

    rng = np.random.default_rng(0)
    tgt = room(rng, n)
    T = np.eye(4)
    T[:3, :3] = rotation_matrix(np.array([0.0, 0.0, 1.0]), np.deg2rad(25))
    T[:3, 3] = (0.4, -0.3, 0.1)
    src_pts = (room(rng, n) - T[:3, 3]) @ T[:3, :3]  # the same room seen from elsewhere: T maps it back
    a, b = PointCloud(name="room source", points=src_pts), PointCloud(name="room target", points=tgt)
    window.set_scene(Scene(name="room", layers=[a, b]), workspace="Registration")
    wb = _bench(window)
    wb.set_pair(a, b)
    return wb, T


def _in_front(view, pts: np.ndarray, px: float = 4.0, margin: float = 0.04) -> np.ndarray:
    """Per point: on screen (away from the edges) and nothing drawn within `px` pixels of it is more than
    `margin` closer to the camera — a click there lands on it or on a same-depth neighbour."""
    from scipy.spatial import cKDTree

    w, h = view.window.GetSize()
    disp = np.array([view.world_to_display(p) for p in pts])
    eye = np.asarray(view.renderer.GetActiveCamera().GetPosition()) + (0 if view.origin is None else view.origin)
    depth = np.linalg.norm(pts - eye, axis=1)
    ok = (disp[:, 0] > 20) & (disp[:, 0] < w - 20) & (disp[:, 1] > 20) & (disp[:, 1] < h - 20)
    for i, nb in enumerate(cKDTree(disp).query_ball_point(disp, px)):
        ok[i] &= depth[i] <= depth[nb].min() + margin
    return ok


def test_manual_pairs_by_real_clicks_undo_redo_align_and_icp(window, qtbot, shared_data, tmp_path):
    from scipy.spatial import cKDTree

    from scenelens.engine.registration import metrics as M

    view = _real_view(window)
    window.resize(1280, 800)
    wb = _open_and_run(window, qtbot, shared_data)
    r, gt = wb.result, wb.result.gt
    # show the source at the true pose moved 3.5 m aside (across the top view): side by side, clicks unambiguous
    shift = np.eye(4)
    shift[1, 3] = 3.5
    wb.set_manual_pose(shift @ gt, "test: side by side")
    window.view3d.reset_camera("top")
    qtbot.wait(100)

    # candidate pairs: a source keypoint and its true match on the target, both on top in their clouds
    T = wb.current_T()
    shown_src = r.src_down @ T[:3, :3].T + T[:3, 3]
    dist, nn = cKDTree(r.tgt_down).query(r.src_down @ gt[:3, :3].T + gt[:3, 3])
    front = _in_front(view, np.concatenate([shown_src, r.tgt_down]))
    ok = (dist < 0.03) & front[: len(shown_src)] & front[len(shown_src):][nn]
    cand = np.flatnonzero(ok)
    assert len(cand) > 20, len(cand)
    picks = [int(cand[np.argmin(shown_src[cand, 0] + s * shown_src[cand, 1])]) for s in (-1.0, 1.0)]
    picks += [int(cand[np.argmax(shown_src[cand, 0] + s * shown_src[cand, 1])]) for s in (-1.0, 1.0)]
    assert len(set(picks)) == 4

    qtbot.mouseClick(wb.pick_btn, QtCore.Qt.LeftButton)  # "Pick pairs" on
    assert wb.pick_btn.isChecked()
    # the clicks go through the correspondence lines drawn over the clouds (they stop taking picks)
    assert wb.corr_box.isChecked() and wb.corr_layer.visible
    for k, i in enumerate(picks):
        _click(qtbot, view, shown_src[i])
        assert wb._pending is not None and wb._pending[0] == "source", k
        assert "source point picked" in wb.pairs_label.text()
        _click(qtbot, view, r.tgt_down[nn[i]])
        assert len(wb.manual_pairs) == k + 1, (k, len(wb.manual_pairs))
        p, q = wb.manual_pairs[-1]
        # within two 5 cm voxels: the picker takes the front-most point within its few-pixel tolerance
        assert np.linalg.norm(p - r.src_down[i]) < 0.1 and np.linalg.norm(q - r.tgt_down[nn[i]]) < 0.1, k
    # pixels, with the 4,000 correspondence lines out of the way (a real click on their check box)
    qtbot.mouseClick(wb.corr_box, QtCore.Qt.LeftButton, pos=QtCore.QPoint(8, wb.corr_box.height() // 2))
    assert not wb.corr_box.isChecked()
    img4 = view.screenshot(str(tmp_path / "four_pairs.png"))
    counts = [_yellow(img4)]
    assert counts[-1] > 400, counts  # markers on both clouds and the lines between them
    # the view's own pick marker is sized to the fragment (0.6 % of its extent: 2.5 cm), not a fixed 0.25 m
    assert wb.window.view3d._marker_src.GetRadius() < 0.05
    # markers sit on both clouds: yellow pixels around each picked spot
    for i in picks:
        for xyz in (shown_src[i], r.tgt_down[nn[i]]):
            x, y = view.world_to_display(xyz)
            row = img4.shape[0] - 1 - int(y)
            patch = img4[max(0, row - 6): row + 7, max(0, int(x) - 6): int(x) + 7]
            assert _yellow(patch) > 3, (xyz, x, y)

    # Edit ▸ Undo removes the last pair (and its markers), Edit ▸ Redo brings it back
    def action(prefix):
        return next(a for a in window.findChildren(QtGui.QAction) if a.text().replace("&", "").startswith(prefix))

    assert "pick point pair" in action("Undo").text()
    action("Undo").trigger()
    assert len(wb.manual_pairs) == 3
    y_undo = _yellow(view.screenshot())
    assert y_undo < counts[-1]
    action("Redo").trigger()
    assert len(wb.manual_pairs) == 4
    assert _yellow(view.screenshot()) == pytest.approx(counts[-1], rel=0.05)
    action("Undo").trigger()
    action("Undo").trigger()
    assert len(wb.manual_pairs) == 2 and _yellow(view.screenshot()) < y_undo
    action("Redo").trigger()
    action("Redo").trigger()
    assert len(wb.manual_pairs) == 4

    # "Align from pairs" (a real button click) solves the pose from the clicked pairs: close to the truth
    qtbot.mouseClick(wb.solve_btn, QtCore.Qt.LeftButton)
    assert wb.stage == "manual"
    re, te = M.transform_errors(wb.T_manual, gt)
    assert re < 15 and te < 30, (re, te)  # registered by 3DMatch's criterion, from four clicked pairs

    # ICP from the hand pose: a cap of 3 stops it while still improving (said in red), 200 lets it converge
    wb.icp_iter_spin.setValue(3)
    start = wb.T_manual.copy()
    wait_job(qtbot, wb.icp_from_current())
    assert len(wb.icp_history) - 1 == 3 and "cap" in wb.icp_status.text(), wb.icp_status.text()
    window.undo_stack.undo()
    assert np.allclose(wb.T_manual, start)
    wb.icp_iter_spin.setValue(200)
    wait_job(qtbot, wb.icp_from_current())
    n = len(wb.icp_history) - 1
    assert 3 < n < 200 and "converged" in wb.icp_status.text(), (n, wb.icp_status.text())
    last = wb.icp_history[-2:]
    assert abs(last[1]["rmse"] - last[0]["rmse"]) < 1e-6 and abs(last[1]["fitness"] - last[0]["fitness"]) < 1e-6
    print(f"ICP from the clicked pose: {n} iterations to converge")
    re2, te2 = M.transform_errors(wb.T_manual, gt)
    assert re2 < 5 and te2 < 30, (re2, te2)  # the pipeline's own refined pose: 2.9° / 17.5 cm on this pair

    # either cloud first: a click on the target, then on the source, also makes a pair
    wb.set_manual_pose(shift @ gt, "test: side by side again")
    qtbot.wait(50)
    n0 = len(wb.manual_pairs)
    i = picks[1]
    _click(qtbot, view, r.tgt_down[nn[i]])
    assert wb._pending is not None and wb._pending[0] == "target"
    assert "target point picked" in wb.pairs_label.text()
    _click(qtbot, view, shown_src[i])
    assert len(wb.manual_pairs) == n0 + 1 and wb._pending is None
    assert np.linalg.norm(wb.manual_pairs[-1][0] - r.src_down[i]) < 0.1

    # Clear pairs is one undoable edit
    clear = next(b for b in wb.dock.widget().findChildren(QtWidgets.QPushButton) if b.text() == "Clear pairs")
    qtbot.mouseClick(clear, QtCore.Qt.LeftButton)
    assert wb.manual_pairs == [] and _yellow(view.screenshot()) < 30
    action("Undo").trigger()
    assert len(wb.manual_pairs) == n0 + 1

    # with "Pick pairs" off, clicks select points but make no pairs
    qtbot.mouseClick(wb.pick_btn, QtCore.Qt.LeftButton)
    assert not wb.pick_btn.isChecked()
    _click(qtbot, view, r.tgt_down[nn[picks[2]]])
    assert len(wb.manual_pairs) == n0 + 1 and wb._pending is None
    assert window.session.selection is not None and window.session.selection.layer == wb.tgt_layer.uid


def _set_spin(qtbot, spin, value) -> None:
    """Type a value into a spin box with the keyboard (select all, type, Enter), as a user edits it."""
    le = spin.lineEdit()
    spin.setFocus()
    qtbot.mouseClick(le, QtCore.Qt.LeftButton)
    le.selectAll()
    qtbot.keyClicks(le, (f"{value:g}" if isinstance(value, float) else str(value)))
    qtbot.keyClick(le, QtCore.Qt.Key_Return)
    qtbot.wait(20)


def test_advanced_parameters_follow_preset_rescale_with_voxel_and_reach_the_job(window, qtbot, shared_data):
    from scenelens.engine.registration.pipeline import PRESETS, RegistrationParams

    wb = _bench(window)
    adv = wb.advanced
    qtbot.mouseClick(adv.box, QtCore.Qt.LeftButton, pos=QtCore.QPoint(12, 8))  # the group's check box
    if not adv.box.isChecked():
        adv.box.setChecked(True)
    assert adv.body.isVisibleTo(adv.box)
    # every pipeline parameter has a control (generated from the engine's dataclasses)
    for name in ("voxel", "normal_radius", "fpfh_radius", "d_thre", "inlier_threshold", "min_range", "ego_box",
                 "ground", "k1", "k2", "max_points", "icp_iterations", "icp_max_dist", "min_inliers", "seed"):
        assert name in adv.widgets, name
    w = adv.widgets
    assert w["voxel"].value() == pytest.approx(PRESETS["3dmatch"]["voxel"])
    assert w["normal_radius"].value() == pytest.approx(PRESETS["3dmatch"]["normal_radius"])

    # a new voxel rescales every length not edited, exactly as the CLI's --voxel (the engine's for_preset)
    _set_spin(qtbot, w["voxel"], 0.3)
    ref = RegistrationParams.for_preset("3dmatch", voxel=0.3)
    assert w["normal_radius"].value() == pytest.approx(ref.normal_radius, abs=1e-4) == pytest.approx(0.6)
    assert w["fpfh_radius"].value() == pytest.approx(ref.fpfh_radius, abs=1e-4)
    assert w["inlier_threshold"].value() == pytest.approx(0.6, abs=1e-4)
    # an edited length stays; the others keep following the voxel
    _set_spin(qtbot, w["normal_radius"], 0.9)
    _set_spin(qtbot, w["voxel"], 0.1)
    assert w["normal_radius"].value() == pytest.approx(0.9)
    assert w["fpfh_radius"].value() == pytest.approx(0.5, abs=1e-4)
    assert adv.labels["normal_radius"].font().bold() and not adv.labels["fpfh_radius"].font().bold()
    # switching preset refills what was not edited
    wb.preset_combo.setCurrentText("kitti")
    assert w["ground"].currentText() == "remove" and w["min_range"].value() == pytest.approx(2.5)
    assert w["normal_radius"].value() == pytest.approx(0.9)  # still the user's
    prm = wb.params()
    assert prm.preset == "kitti" and prm.voxel == pytest.approx(0.1) and prm.normal_radius == pytest.approx(0.9)
    assert prm.fpfh_radius == pytest.approx(PRESETS["kitti"]["fpfh_radius"] / 3, abs=1e-6)
    qtbot.mouseClick(next(b for b in adv.body.findChildren(QtWidgets.QPushButton) if b.text() == "Reset to preset"),
                     QtCore.Qt.LeftButton)
    assert w["voxel"].value() == pytest.approx(0.3) and w["normal_radius"].value() == pytest.approx(0.6)
    assert not adv.edited

    # a bad ego box is one clear line when the job would start, not a failed job
    wb.preset_combo.setCurrentText("3dmatch")
    wb, _T = _room_pair(window)
    le = w["ego_box"]
    qtbot.mouseClick(le, QtCore.Qt.LeftButton)
    qtbot.keyClicks(le, "1 2 3")
    qtbot.keyClick(le, QtCore.Qt.Key_Return)
    assert wb.run() is None
    assert "ego box" in window.log_panel.entries[-1][1] and window.log_panel.entries[-1][0] == "error"
    le.clear()
    qtbot.keyClick(le, QtCore.Qt.Key_Return)

    # values reach the job: a min-inliers requirement no result can meet makes the run a reported failure
    _set_spin(qtbot, w["min_inliers"], 100000)
    _set_spin(qtbot, w["icp_iterations"], 7)
    # ICP convergence thresholds: shown in scientific form (a fixed-decimal box would round 1e-6 to 0 and
    # silently turn the convergence test off), typed values reach the job
    assert w["icp_relative_rmse"].text() == "1e-06" and w["icp_relative_rmse"].value() == pytest.approx(1e-6)
    _set_spin(qtbot, w["icp_relative_fitness"], 2.5e-7)
    wait_job(qtbot, wb.run(), timeout=180000)
    res = wb.result
    assert res.params.min_inliers == 100000 and res.params.icp_iterations == 7
    assert res.params.icp_relative_fitness == pytest.approx(2.5e-7) and res.params.icp_relative_rmse == pytest.approx(1e-6)
    assert len(res.icp_history) - 1 <= 7
    assert res.failure and "inlier" in res.failure


def test_failure_banner_is_visible_and_notified(window, qtbot, shared_data, tmp_path):
    from scenelens.engine.scene import PointCloud, Scene

    window.resize(1280, 800)
    window.set_workspace("Registration")
    wb = _bench(window)
    rng = np.random.default_rng(3)
    # two unrelated, tiny clouds: nothing to register (too few inliers)
    a = PointCloud(name="a", points=rng.uniform(0, 1, (60, 3)))
    b = PointCloud(name="b", points=rng.uniform(0, 1, (60, 3)))
    window.set_scene(Scene(name="junk", layers=[a, b]), workspace="Registration")
    wb.set_pair(a, b)
    assert not wb.failure_banner.isVisible()
    wait_job(qtbot, wb.run(), timeout=120000)
    assert wb.result is not None and wb.result.failure, wb.result.failure
    qtbot.wait(100)
    assert wb.failure_banner.isVisible() and wb.result.failure in wb.failure_banner.text()
    assert "FAILED" in wb.metrics_label.text()
    # a notification (toast), not only a log line
    toasts = window.notifications.toasts()
    assert any(t.level == "warning" and "registration failed" in t.message for t in toasts)
    # the banner is on screen, amber, above the fold of the panel at 1280×800
    panel = wb.dock.widget()
    img = panel.grab().toImage()
    top = wb.failure_banner.mapTo(panel, QtCore.QPoint(0, 0))
    c = img.pixelColor(top.x() + 3, top.y() + 3)
    assert (c.red(), c.green(), c.blue()) == pytest.approx((0xb8, 0x86, 0x0b), abs=12)
    assert top.y() + wb.failure_banner.height() <= panel.height()
    # a good run clears it
    wb, T = _room_pair(window)
    assert not wb.failure_banner.isVisible()  # a new scene starts clean
    wait_job(qtbot, wb.run(), timeout=180000)
    from scenelens.engine.registration import metrics as M

    assert M.transform_errors(wb.result.transform, T)[0] < 5
    assert wb.result.failure is None and not wb.failure_banner.isVisible()


def test_residual_colour_bar_histogram_range_and_metrics_above_the_fold(window, qtbot, shared_data, tmp_path):
    view = _real_view(window)
    window.resize(1280, 800)
    wb = _open_and_run(window, qtbot, shared_data)
    window.view3d.reset_camera("top")
    # metrics visible without scrolling in the panel at 1280×800
    scroll = wb.dock.widget()
    vp = scroll.viewport()
    top = wb.metrics_label.mapTo(vp, QtCore.QPoint(0, 0))
    assert wb.metrics_label.isVisible() and 0 <= top.y() and top.y() + wb.metrics_label.height() <= vp.height(), (
        top.y(), wb.metrics_label.height(), vp.height())
    assert "RE" in wb.metrics_label.text()

    img_flat = view.screenshot()
    src_px = _count(img_flat, (255, 140, 0))
    wb.residual_box.setChecked(True)
    img = view.screenshot(str(tmp_path / "residual.png"))
    assert _count(img, (255, 140, 0)) < 0.2 * src_px
    # bright cyan→magenta colours (blue high, red+green ≥ 255·0.6): no near-black well-aligned points
    i = img.astype(int)
    cool = (i[..., 2] > 190) & (i[..., 0] + i[..., 1] > 200) & (np.abs(i[..., 0] + i[..., 1] - 255) < 90)
    assert cool.sum() > 0.5 * src_px, (cool.sum(), src_px)
    # the colour bar: an actor in the view and a vertical cyan→magenta ramp at the right edge
    bar = wb._colour_bar
    assert bar is not None and window.view3d.renderer.HasViewProp(bar)
    lo, hi = bar.GetLookupTable().GetTableRange()
    assert lo == 0 and hi == pytest.approx(200 * wb.result.params.inlier_threshold)
    h, w = img.shape[:2]
    strip = i[:, int(0.86 * w):]
    cyan = (strip[..., 1] > 200) & (strip[..., 2] > 200) & (strip[..., 0] < 80)
    magenta = (strip[..., 0] > 200) & (strip[..., 2] > 200) & (strip[..., 1] < 80)
    assert cyan.sum() > 50 and magenta.sum() > 50, (cyan.sum(), magenta.sum())
    # a ramp: cyan (0) at the bottom, magenta (2τ) at the top
    assert np.nonzero(cyan)[0].mean() > np.nonzero(magenta)[0].mean() + 0.3 * h
    wb.residual_box.setChecked(False)
    assert not window.view3d.renderer.HasViewProp(bar)

    # the residual histogram's range follows the data (99th percentile), not a fixed 0–50 cm
    res_cm = 100 * wb.stage_residual()
    x0, x1 = wb.res_plot.vb.viewRange()[0]
    p99 = np.percentile(res_cm, 99)
    assert x1 == pytest.approx(p99, rel=0.05), (x1, p99)
    item = wb.res_plot.listDataItems()[0]
    xs, ys = item.getData()
    assert ys[-1] <= 0.02 * len(res_cm) + 1  # the last bin holds ≈1 %, not a pile-up


def test_real_click_picks_a_joint_in_3d(window, qtbot, shared_data):
    from scenelens.engine.io import load
    from scenelens.engine.scene import Skeleton

    view = _real_view(window)
    window.set_scene(load(shared_data / "cmu_mocap_131_01" / "131_01.bvh"))
    window.view3d.reset_camera("front")
    qtbot.wait(100)
    sk = window.scene.of_type(Skeleton)[0]
    from scenelens.gui.views.layers.skeleton import current_frame, display_rotation, scale_of

    style = window.view3d.scene_renderer.styles.get(sk.uid, {})
    t = current_frame(sk, style)
    xyz = sk.joints[t, 0] @ display_rotation(sk).T
    bone = scale_of(sk)
    # joints nothing else is drawn in front of — no other joint, no bone (sampled along its length); BVH has
    # coincident joints: those count as the same spot
    b = np.asarray(sk.bones)
    f = np.linspace(0.15, 0.85, 8)[:, None, None]
    along = (xyz[b[:, 0]][None] * (1 - f) + xyz[b[:, 1]][None] * f).reshape(-1, 3)
    front = np.flatnonzero(_in_front(view, np.concatenate([xyz, along]), px=10.0, margin=0.5 * bone)[: len(xyz)])
    hits = 0
    tried = 0
    for j in front[:: max(1, len(front) // 8)]:
        x, y = view.world_to_display(xyz[j])
        tried += 1
        window.inspector.info = {}
        qtbot.mouseClick(view.vtk_widget, QtCore.Qt.LeftButton, pos=view.display_to_widget(x, y))
        qtbot.wait(60)
        info = window.inspector.info
        if "joint" in info:
            picked = int(info["index"])
            hits += np.linalg.norm(xyz[picked] - xyz[j]) < 0.5 * bone
    assert tried >= 6 and hits >= tried - 1, (hits, tried)
    assert window.session.selection is not None and window.session.selection.layer == sk.uid


def test_real_click_on_the_image_picks_a_keypoint_pixel(window, qtbot, shared_data):
    import json

    from scenelens.engine.io import load

    d = shared_data / "coco_keypoints"
    window.set_scene(load(d / "test_coco.json"))
    window.set_workspace("Pose")
    window.resize(1400, 900)
    pose = next(b for b in window.workbenches if type(b).__name__ == "PoseWorkbench")
    key = "000000000785.jpg"
    window.view2d.show_image(window.view2d.images[key], key)
    qtbot.wait(100)
    ann = json.loads((d / "test_coco.json").read_text())
    kp = np.array(next(a for a in ann["annotations"] if a["image_id"] == 785)["keypoints"], float).reshape(-1, 3)
    got = []
    window.view2d.clicked.connect(lambda x, y: got.append((x, y)))
    view, vb = window.view2d.graphics, window.view2d.plot.vb
    vp = view.viewport()
    for j in (0, 5, 11):  # nose, left shoulder, left hip
        xy = kp[j, :2] + 0.5  # pixel centre
        pos = view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(*xy)))
        pose.selected = None
        qtbot.mouseClick(vp, QtCore.Qt.LeftButton, pos=pos)
        qtbot.wait(40)
        assert got, j
        assert np.linalg.norm(np.array(got[-1]) - xy) < 3.0, (got[-1], xy)  # the pixel under the cursor
        assert pose.selected is not None and pose.selected[3] == j, (pose.selected, j)
