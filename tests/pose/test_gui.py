"""The Pose workbench in a real window: overlays drawn over the image (checked by pixel colour), a
streamed model run, keypoint edits with undo/redo saved in the project, the shared timeline driving the
3-D view, trajectories with ATE, and the overlay video export."""
import json

import numpy as np
import pytest

from scenelens.engine.io import load
from scenelens.engine.project import load_project, save_project
from scenelens.engine.scene import Skeleton, Trajectory
from tests.conftest import colourful_fraction, wait_job


def _bench(window):
    return next(b for b in window.workbenches if type(b).__name__ == "PoseWorkbench")


def _count(img, rgb, tol=40):
    return int((np.abs(img.astype(int) - np.array(rgb)).max(2) < tol).sum())


def test_coco_overlay_model_run_and_edits(window, qtbot, shared_data, tmp_path):
    d = shared_data / "coco_keypoints"
    window.set_scene(load(d / "test_coco.json"))
    wb = _bench(window)
    window.view2d.show_image(window.view2d.images["000000000785.jpg"], "000000000785.jpg")
    qtbot.wait(50)
    img = window.view2d.grab_image()
    assert _count(img, (40, 255, 40)) > 50  # GT keypoints/bones in green
    # run the model on the image: result streams, then prediction layers arrive
    h = wb.run_on(str(d / "000000000785.jpg"))
    wait_job(qtbot, h)
    assert wb.live["frames"] == 1
    preds = [s for s in wb.skeletons(2) if s.meta.get("kind") == "pred"]
    assert len(preds) == 1 and wb.skeletons(3)
    window.view2d.show_image(window.view2d.images["000000000785.jpg"], "000000000785.jpg")
    wb.redraw_2d()
    qtbot.wait(50)
    img = window.view2d.grab_image()
    window.view2d.graphics.grab().save(str(tmp_path / "overlay.png"))
    assert _count(img, (60, 140, 255)) > 20 and _count(img, (255, 110, 40)) > 20  # left/right colours
    assert _count(img, (255, 40, 200), 30) > 10                                  # error vectors
    # click near the GT nose → inspector; drag-equivalent edit with undo/redo
    gt = next(s for s in wb.skeletons(2) if s.meta.get("kind") == "gt" and "000000000785.jpg" in s.meta["file_names"])
    ann = json.loads((d / "test_coco.json").read_text())
    nose = np.array(next(a for a in ann["annotations"] if a["image_id"] == 785)["keypoints"][:2], float)
    wb._on_click(*(nose + 1))
    assert wb.selected is not None and window.scene.get(wb.selected[0]) is not None
    info = wb.select(preds[0], 0, 0, 0)
    assert info["joint"] == "nose" and float(info["error vs GT (px)"]) < 30
    before = gt.joints.copy()
    wb.move_keypoint(gt, 0, 0, 0, nose + (25, -10))
    np.testing.assert_allclose(gt.joints[0, 0, 0], nose + (25, -10))
    window.undo_stack.undo()
    np.testing.assert_array_equal(gt.joints, before)
    window.undo_stack.redo()
    wb.selected = (gt.uid, 0, 0, 3)
    wb.toggle_visibility()
    assert gt.meta["visibility"][0, 0, 3] == 1
    p = wb.add_person(gt)
    assert gt.joints.shape[1] == 2 and gt.meta["valid"][0, p]
    # edits are saved with the project and come back
    proj = window.current_project()
    path = tmp_path / "p.slproj"
    save_project(path, proj)
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert gt.joints.shape[1] == 1 and gt.meta["visibility"][0, 0, 3] == 2
    wb.restore_annotations(load_project(path))
    assert gt.joints.shape[1] == 2 and gt.meta["visibility"][0, 0, 3] == 1
    np.testing.assert_allclose(gt.joints[0, 0, 0], nose + (25, -10))
    # export stays valid for pycocotools
    out = tmp_path / "edited.json"
    wait_job(qtbot, wb.export("coco", str(out), "ground truth"))
    from pycocotools.coco import COCO

    assert len(COCO(str(out)).getAnnIds()) == len(ann["annotations"]) + 1
    # by default, with ground truth and predictions loaded, both are exported (predictions marked)
    both = tmp_path / "both.json"
    wait_job(qtbot, wb.export("coco", str(both)))
    anns = COCO(str(both)).dataset["annotations"]
    assert len(anns) == len(ann["annotations"]) + 2 and sum(a.get("source") == "prediction" for a in anns) == 1


def test_bvh_timeline_drives_3d_view(window, qtbot, shared_data, tmp_path):
    window.set_scene(load(shared_data / "cmu_mocap_131_01" / "scaled_131_01.bvh"))
    wb = _bench(window)
    assert wb.slider.maximum() == 994
    window.view3d.reset_camera("front")
    a = window.view3d.screenshot(str(tmp_path / "bvh0.png"))
    assert colourful_fraction(a) > 0.003
    wb.set_frame(600)
    b = window.view3d.screenshot(str(tmp_path / "bvh600.png"))
    assert wb.lbl_frame.text() == "601 / 995"
    assert np.abs(a.astype(int) - b.astype(int)).max(2).astype(bool).mean() > 0.002  # the figure moved
    wb.toggle_play()
    qtbot.wait(300)
    wb.toggle_play()
    assert wb.frame != 600
    # pick a joint sphere → inspector details with the joint name
    sk = window.scene.of_type(Skeleton)[0]
    acts = window.view3d.scene_renderer.actors[sk.uid]
    picks = [a._sl_pick for a in acts if getattr(a, "_sl_pick", None) is not None]
    info = picks[0](0, 0, (0, 0, 0))
    assert info["joint"] in sk.joint_names and "coordinates" in info


def test_trajectories_ate_curve(window, qtbot, tmp_path):
    from scipy.spatial.transform import Rotation

    n = 60
    t = np.linspace(0, 6, n)
    ref = np.tile(np.eye(4), (n, 1, 1))
    ref[:, :3, 3] = np.c_[3 * np.cos(t), 3 * np.sin(t), 0.2 * t]
    r = Rotation.from_euler("z", 40, degrees=True).as_matrix()
    est = ref.copy()
    est[:, :3, 3] = ref[:, :3, 3] @ r.T + [1, 2, 0] + np.random.default_rng(0).normal(scale=0.05, size=(n, 3))
    e = Trajectory(name="est", poses=est, timestamps=t)
    rf = Trajectory(name="ref", poses=ref, timestamps=t)
    window.add_layer(e)
    window.add_layer(rf)
    wb = _bench(window)
    wait_job(qtbot, wb.compare_trajectories(e, rf))
    x, y = wb.ate_curve.getData()
    assert len(y) == n and 0 < float(np.sqrt(np.mean(y ** 2))) < 0.15
    window.view3d.reset_camera("top")
    img = window.view3d.screenshot(str(tmp_path / "traj.png"))
    assert colourful_fraction(img) > 0.002


def test_ate_picker_with_three_trajectories(window, qtbot, monkeypatch):
    """With more than two trajectories loaded, the user names the estimate and the reference."""
    from PySide6 import QtWidgets

    n = 30
    t = np.linspace(0, 3, n)
    base = np.tile(np.eye(4), (n, 1, 1))
    base[:, :3, 3] = np.c_[t, np.sin(t), 0 * t]
    far = base.copy()
    far[:, :3, 3] *= 3.0  # a differently shaped path: large ATE against the others
    near = base.copy()
    near[:, :3, 3] += [5, 0, 0]  # the same shape, shifted: ATE ~0 after alignment
    for name, poses in (("far", far), ("ref", base), ("near", near)):
        window.add_layer(Trajectory(name=name, poses=poses, timestamps=t))
    answers = iter(["near", "ref"])
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", lambda *a, **k: (next(answers), True))
    wb = _bench(window)
    wait_job(qtbot, wb.compare_trajectories())
    _x, y = wb.ate_curve.getData()
    assert len(y) == n and float(np.max(y)) < 1e-6  # 'near' vs 'ref' was compared, not the first two layers


def test_video_streaming_and_overlay_export(window, qtbot, shared_data, tmp_path):
    import cv2

    src = cv2.imread(str(shared_data / "coco_keypoints" / "000000000785.jpg"))
    vid = tmp_path / "clip.avi"
    vw = cv2.VideoWriter(str(vid), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (src.shape[1], src.shape[0]))
    for i in range(5):
        vw.write(np.roll(src, 4 * i, axis=1))
    vw.release()
    window.set_scene(load(vid))
    wb = _bench(window)
    h = wb.run_on(str(vid))
    wait_job(qtbot, h)
    assert wb.live["frames"] == 5
    sk = next(s for s in wb.skeletons(2) if s.meta.get("video"))
    assert sk.joints.shape[:2] == (5, 1)
    wb.set_frame(3)
    assert wb.frame == 3
    out = tmp_path / "overlay.avi"
    wait_job(qtbot, wb.export("video", str(out)))
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    assert len(frames) == 5
    # drawn keypoints: the side colours appear in the exported frame (BGR)
    f0 = frames[0]
    assert _count(f0, (255, 140, 60), 40) + _count(f0, (40, 110, 255), 40) > 30


def _mouse(widget, kind, pos, buttons):
    from PySide6 import QtCore, QtGui, QtWidgets

    t = {"press": QtCore.QEvent.MouseButtonPress, "move": QtCore.QEvent.MouseMove,
         "release": QtCore.QEvent.MouseButtonRelease}[kind]
    button = QtCore.Qt.LeftButton if kind != "move" else QtCore.Qt.NoButton
    ev = QtGui.QMouseEvent(t, QtCore.QPointF(pos), QtCore.QPointF(widget.mapToGlobal(pos)), button, buttons,
                           QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, ev)


def test_dragging_a_keypoint_with_real_mouse_events(window, qtbot, shared_data):
    """Press, several moves and release on the image view, as a mouse sends them: the preview follows, the
    release is one undoable edit (the first move used to crash: GraphItem.data is a method in pyqtgraph 0.14)."""
    from PySide6 import QtCore

    d = shared_data / "coco_keypoints"
    window.set_scene(load(d / "test_coco.json"))
    window.set_workspace("Pose")
    window.resize(1400, 900)
    wb = _bench(window)
    key = "000000000785.jpg"
    window.view2d.show_image(window.view2d.images[key], key)
    qtbot.wait(100)
    gt = next(s for s in wb.skeletons(2) if s.meta.get("kind") == "gt" and key in s.meta["file_names"])
    t = gt.meta["file_names"].index(key) if gt.joints.shape[0] > 1 else 0
    j = 0
    xy = gt.joints[t, 0, j, :2].copy()
    view = window.view2d.graphics
    vb = window.view2d.plot.vb

    def to_widget(p):
        return view.mapFromScene(vb.mapViewToScene(QtCore.QPointF(float(p[0]), float(p[1]))))

    start = to_widget(xy)
    target = xy + (30.0, 20.0)
    end = to_widget(target)
    vp = view.viewport()
    _mouse(vp, "press", start, QtCore.Qt.LeftButton)
    for f in np.linspace(0.1, 1.0, 8):
        p = QtCore.QPoint(int(start.x() + f * (end.x() - start.x())), int(start.y() + f * (end.y() - start.y())))
        _mouse(vp, "move", p, QtCore.Qt.LeftButton)
        qtbot.wait(5)
    np.testing.assert_allclose(gt.joints[t, 0, j, :2], xy)  # moves only preview; the model changes on release
    item = next(it for it in wb._items if getattr(it, "sk", None) is gt and it.p == 0)
    px = abs(vb.viewPixelSize()[0])
    drawn = np.asarray(item.pos)[j]  # the drawn keypoint followed the mouse (within the last event or two)
    assert np.linalg.norm(drawn - xy) > 20 and np.linalg.norm(drawn - target) < 8 * px + 2.0, (drawn, target)
    _mouse(vp, "release", end, QtCore.Qt.NoButton)
    qtbot.wait(20)
    moved = gt.joints[t, 0, j, :2]
    assert np.linalg.norm(moved - target) < 3 * px + 1.0, (moved, target)
    window.undo_stack.undo()
    np.testing.assert_allclose(gt.joints[t, 0, j, :2], xy)


def _tool_button(window, action):
    from PySide6 import QtWidgets

    return next(b for b in window.findChildren(QtWidgets.QToolButton) if b.defaultAction() is action)


def _red(img):
    i = img.astype(int)
    return int(((i[..., 0] > 190) & (i[..., 1] < 70) & (i[..., 2] < 70)).sum())


def test_aligned_trajectory_coloured_by_error_with_colour_bar(window, qtbot, tmp_path):
    """After APE/RPE the aligned estimate is coloured by its per-pose error (evo's jet: the badly estimated
    stretch red, the rest blue) with a colour bar at the right edge; the panel's toggle (a real click)
    turns it back to a time colouring and removes the bar."""
    from PySide6 import QtCore

    n = 80
    t = np.linspace(0, 8, n)
    ref = np.tile(np.eye(4), (n, 1, 1))
    ref[:, :3, 3] = np.c_[4 * np.cos(t / 1.6), 4 * np.sin(t / 1.6), 0 * t]
    est = ref.copy()
    est[:, :3, 3] += np.random.default_rng(1).normal(scale=0.02, size=(n, 3))
    est[50:60, :3, 3] += [0.0, 0.0, 1.2]  # a stretch with a large error
    e = Trajectory(name="est", poses=est, timestamps=t)
    rf = Trajectory(name="ref", poses=ref, timestamps=t)
    window.add_layer(e)
    window.add_layer(rf)
    wb = _bench(window)
    wait_job(qtbot, wb.compare_trajectories(e, rf, "se3"))
    aligned = next(x for x in window.scene.of_type(Trajectory) if x.source.startswith("ATE alignment"))
    errs = aligned.meta["ate_errors"]
    assert errs[50:60].min() > 3 * np.median(errs)
    window.view3d.reset_camera("top")
    img = window.view3d.screenshot(str(tmp_path / "traj_error.png"))
    h, w = img.shape[:2]
    bar = img[int(0.1 * h):int(0.9 * h), int(0.93 * w):int(0.99 * w)].astype(int)
    assert _red(bar) > 20 and int(((bar[..., 2] > 150) & (bar[..., 0] < 60)).sum()) > 20  # red top, blue bottom
    acts = window.view3d.scene_renderer.actors[aligned.uid]
    assert any(type(a).__name__ == "vtkScalarBarActor" for a in acts)
    from vtk.util import numpy_support as vns

    path = next(a for a in acts if getattr(a, "_sl_pick", None) is not None and "ATE (m)" in a._sl_pick(0, 0, (0, 0, 0)))
    seg = vns.vtk_to_numpy(path.GetMapper().GetInput().GetCellData().GetScalars()).astype(int)
    assert (seg[50:59, 0] > 100).all() and (seg[50:59, 2] < 80).all()  # the bad stretch: jet's red end
    assert (seg[5:40, 2] > seg[5:40, 0]).mean() > 0.9  # the good part: the blue end
    button = _tool_button(window, wb.act_err_colour)
    qtbot.mouseClick(button, QtCore.Qt.LeftButton)
    assert not wb.act_err_colour.isChecked()
    img2 = window.view3d.screenshot(str(tmp_path / "traj_time.png"))
    assert not any(type(a).__name__ == "vtkScalarBarActor" for a in window.view3d.scene_renderer.actors[aligned.uid])
    assert _red(img2[int(0.1 * h):int(0.9 * h), int(0.93 * w):int(0.99 * w)]) < 5  # the bar is gone


def test_camera_rig_drawn_around_the_skeleton(window, qtbot, tmp_path):
    """A 3-D skeleton with `meta["rig_cameras"]` (Panoptic, run pose3d) shows one frustum per camera in
    its own colour around the person; picking a frustum names its camera."""
    import cv2

    from scenelens.engine.pose.joints import COCO17

    J = np.zeros((1, 1, 17, 3))
    J[0, 0, :, 2] = np.linspace(1.7, 0.0, 17)  # a standing stick figure, z up
    J[0, 0, :, 0] = np.sin(np.arange(17)) * 0.2
    cams = []
    for i, ang in enumerate(np.deg2rad([0, 120, 240])):
        centre = np.array([4 * np.cos(ang), 4 * np.sin(ang), 1.0])
        z = -centre / np.linalg.norm(centre)  # looking at the origin
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])  # world → camera rows
        cams.append({"name": f"cam{i}", "size": [640, 480], "K": [[500, 0, 320], [0, 500, 240], [0, 0, 1]],
                     "R": R.tolist(), "t": (-R @ centre).tolist(), "dist": [0] * 5})
    sk = Skeleton(name="rig test", joints=J, confidence=np.ones((1, 1, 17)), joint_set="coco17",
                  joint_names=list(COCO17.names), bones=list(COCO17.bones))
    sk.meta.update({"up_axis": "z", "rig_cameras": cams})
    window.add_layer(sk)
    window.view3d.reset_camera("top")
    img = window.view3d.screenshot(str(tmp_path / "rig.png"))
    for rgb in ((255, 80, 80), (80, 200, 255), (255, 200, 60)):  # the three cameras' colours
        assert _count(img, rgb, 45) > 20, rgb
    acts = window.view3d.scene_renderer.actors[sk.uid]
    rig_pick = next(a._sl_pick for a in acts if getattr(a, "_sl_pick", None) is not None
                    and "camera" in a._sl_pick(8, 0, (0, 0, 0)))
    assert rig_pick(8, 0, (0, 0, 0))["camera"] == "cam1" and rig_pick(17, 0, (0, 0, 0))["camera"] == "cam2"
    centre = np.array([float(v) for v in rig_pick(0, 0, (0, 0, 0))["centre (m)"].split(",")])
    np.testing.assert_allclose(centre, [4, 0, 1], atol=1e-6)
    cv2.imwrite(str(tmp_path / "rig_bgr.png"), img[..., ::-1])
