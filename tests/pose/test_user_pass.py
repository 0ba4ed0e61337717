"""What a user met opening pose results that the CLI wrote (session 6, user pass): a `run pose` result JSON
opens on its video (people drawn over the frames, one colour per track, stepping the timeline moves the
frame), the video found under the rule for paths inside files; a `run pose3d` NPZ fills the per-track
timeline, a person seen in one frame only included; and the CLI refuses option values that gave empty or
meaningless results with one line and exit code 2."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from scenelens.engine.io import load_layers
from scenelens.engine.scene import ImageLayer, Skeleton, Trajectory
from tests.conftest import wait_job

ROOT = Path(__file__).resolve().parents[2]
FRAMES = 8


def _bench(window):
    return next(b for b in window.workbenches if type(b).__name__ == "PoseWorkbench")


def _count(img, rgb, tol=30):
    return int((np.abs(img.astype(int) - np.array(rgb)).max(2) < tol).sum())


def _qimage_rgb(widget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8, count=img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    return arr[:, : 3 * w].reshape(h, w, 3).copy()


@pytest.fixture
def clip_results(tmp_path, shared_data):
    """The two-person crossing clip and a result JSON for it, written as `run pose` writes one (PoseTrack
    style: image_id = frame, track_id, the video's path as given, frame, image_size), from the clip's truth."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_crossing_clip import make_crossing_clip

    folder = tmp_path / "clip"
    folder.mkdir()
    video = folder / "crossing.avi"
    truth = make_crossing_clip(video, frames=FRAMES)
    res = []
    for t in range(FRAMES):
        for k in range(2):
            kp = truth[t, k].copy()
            kp[:, 2] = 2
            x, y = kp[:, 0], kp[:, 1]
            res.append({"image_id": t, "category_id": 1, "keypoints": np.round(kp, 2).ravel().tolist(), "score": 0.9,
                        "bbox": [float(x.min()), float(y.min()), float(np.ptp(x)), float(np.ptp(y))],
                        "track_id": k + 1, "file_name": f"crossing.avi#{t}", "video": str(video), "frame": t,
                        "image_size": [960, 540]})
    out = folder / "crossing.json"
    out.write_text(json.dumps(res))
    return video, out


def test_result_json_opens_on_its_video_with_one_colour_per_track(window, qtbot, clip_results):
    from scenelens.gui.workbenches.pose import track_colour

    video, res = clip_results
    wait_job(qtbot, window.open_path(res))
    imgs = [lay for lay in window.scene.of_type(ImageLayer)]
    assert len(imgs) == 1 and imgs[0].path == str(video) and imgs[0].n_frames == FRAMES
    wb = _bench(window)
    qtbot.wait(100)
    assert window.view2d.current == "crossing.avi"
    first = window.view2d.grab_image()
    # both tracks drawn in their own colours over the frame (the clip's background is grey-blue)
    assert _count(first, track_colour(1)) > 30 and _count(first, track_colour(2)) > 30
    assert wb.track_plot.isVisible() and len(wb.track_curves) == 2
    # a real key press on the timeline slider steps to the next frame: the people have moved
    wb.slider.setFocus()
    qtbot.keyClick(wb.slider, QtCore.Qt.Key_Right)
    qtbot.wait(100)
    assert wb.frame == 1
    second = window.view2d.grab_image()
    assert np.abs(second.astype(int) - first.astype(int)).mean() > 1.0


def test_result_video_follows_the_rule_for_paths_inside_files(tmp_path, clip_results):
    video, res = clip_results
    elsewhere = tmp_path / "results"
    elsewhere.mkdir()
    moved = elsewhere / res.name
    shutil.copy(res, moved)
    layers = load_layers(moved)  # the video lies outside the JSON's folder: not opened, one warning
    assert not any(isinstance(lay, ImageLayer) for lay in layers)
    sk = next(lay for lay in layers if isinstance(lay, Skeleton))
    assert sk.meta["track_ids"] == [1, 2] and "leaves the folder" in " ".join(sk.meta["warnings"])
    shutil.copy(video, elsewhere / video.name)  # the same name beside the JSON is taken
    layers = load_layers(moved)
    img = next(lay for lay in layers if isinstance(lay, ImageLayer))
    assert img.path == str(elsewhere / video.name) and img.n_frames == FRAMES
    (elsewhere / video.name).write_bytes(b"not a video")  # a named file that does not decode: results still open
    layers = load_layers(moved)
    sk = next(lay for lay in layers if isinstance(lay, Skeleton))
    assert not any(isinstance(lay, ImageLayer) for lay in layers) and "is not shown" in sk.meta["warnings"][-1]


def _pose3d_npz(tmp_path) -> Path:
    """`run pose3d` (a real subprocess) on three views' 2-D results: person A in every frame, person B in
    frame 4 only → tracks 1 and 2, track 2 one frame long."""
    from tests.pose.test_multiview import _cameras, _stand, _write_toml

    cams = _cameras(3)
    _write_toml(tmp_path / "Calib.toml", cams)
    views = []
    for c in cams:
        res = []
        for t in range(10):
            people = [_stand(-0.6 + 0.04 * t, 0.0)] + ([_stand(0.8, 0.6)] if t == 4 else [])
            for X in people:
                res.append({"image_id": t, "category_id": 1, "score": 0.9, "keypoint_scores": [0.9] * 17,
                            "keypoints": np.c_[c.project(X), np.full(17, 2)].ravel().tolist()})
        p = tmp_path / f"{c.name}_2d.json"
        p.write_text(json.dumps(res))
        views.append(str(p))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "pose3d", *views, "--calib",
                        str(tmp_path / "Calib.toml"), "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "2 track(s), median reprojection 0.00 px" in r.stdout  # two decimals, not a raw float
    return out / "pose3d.npz"


def test_pose3d_result_fills_the_track_timeline(window, qtbot, tmp_path):
    from scenelens.gui.workbenches.pose import track_colour

    npz = _pose3d_npz(tmp_path)
    sk = load_layers(npz)[0]
    assert sk.meta["track_ids"] == [1, 2] and sk.meta["valid"][:, 1].sum() == 1
    wait_job(qtbot, window.open_path(npz))
    wb = _bench(window)
    qtbot.wait(100)
    assert wb.track_plot.isVisible() and len(wb.track_curves) == 2
    img = _qimage_rgb(wb.track_plot)
    assert _count(img, track_colour(1), 20) > 100
    assert _count(img, track_colour(2), 20) > 10  # the one-frame track is drawn too
    # the reprojection into each camera carries the same IDs
    reproj = [s for s in window.scene.of_type(Skeleton) if s.meta.get("format") == "pose3d-reprojection"]
    assert len(reproj) == 3 and all(s.meta["track_ids"] == [1, 2] for s in reproj)
    # each camera is in the image view's selector (a plain canvas of its size: the views carry no pictures),
    # and choosing one draws the people reprojected into it, in their track colours
    sel = window.view2d.selector
    assert sorted(sel.itemText(i) for i in range(sel.count())) == ["cam_01", "cam_02", "cam_03"]
    sel.setCurrentIndex(sel.findText("cam_02"))
    qtbot.keyClick(wb.slider, QtCore.Qt.Key_Right)  # frame 0 → 1: person A only
    qtbot.wait(100)
    assert window.view2d.current == "cam_02" and window.view2d.images["cam_02"].shape == (720, 1280, 3)
    img = window.view2d.grab_image()
    assert _count(img, track_colour(1)) > 30 and _count(img, track_colour(2)) == 0
    wb.set_frame(4)  # both people
    qtbot.wait(100)
    img = window.view2d.grab_image()
    assert _count(img, track_colour(1)) > 30 and _count(img, track_colour(2)) > 30


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_cli_refuses_meaningless_values_in_one_line(tmp_path, shared_data, clip_results):
    gt = shared_data / "coco_keypoints" / "test_coco.json"
    _, res = clip_results
    r = _cli("eval", "pose", "--pred", res, "--gt", gt)  # a video's results against a COCO file: nothing in common
    assert r.returncode == 2 and "none of its 16 predictions is on an image of test_coco.json" in r.stderr
    assert "image_ids: 0, 1, 2, 3, 4, …" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    preds = tmp_path / "gt_as_pred.json"
    preds.write_text(gt.read_text())
    for alpha in ("-1", "0", "1.5"):
        r = _cli("eval", "pose", "--pred", preds, "--gt", gt, "--alpha", alpha)
        assert r.returncode == 2 and "--alpha must be in (0, 1]" in r.stderr and "Traceback" not in r.stderr
    from tests.pose.test_multiview import _cameras, _write_toml

    _write_toml(tmp_path / "Calib.toml", _cameras(2))
    views = []
    for k in range(2):
        p = tmp_path / f"cam_0{k + 1}_2d.json"
        p.write_text(json.dumps([{"image_id": 0, "keypoints": [1.0] * 51, "score": 1.0}]))
        views.append(p)
    for opt, val, msg in (("--threshold", "-1", "--threshold must be a positive"),
                          ("--min-cameras", "3", "--min-cameras 3 but the calibration has 2 cameras"),
                          ("--fps", "-5", "--fps must be positive")):
        r = _cli("run", "pose3d", *views, "--calib", tmp_path / "Calib.toml", "--out", tmp_path / "o", opt, val)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def _tum(path, t, xyz):
    q = np.tile([0.0, 0.0, 0.0, 1.0], (len(t), 1))
    np.savetxt(path, np.c_[t, xyz, q], fmt="%.9f")


def test_compare_trajectories_from_an_empty_scene_asks_for_the_files(window, qtbot, tmp_path, monkeypatch):
    """File → Open replaces the scene and two paths open as a registration pair, so a user had no way to get
    an estimate and a reference into the window: the panel's "Compare trajectories" button (a real click)
    now asks for the files, adds both and compares them — the same APE as `eval trajectory`."""
    from PySide6 import QtWidgets

    from scenelens.engine.pose.trajectory_eval import evaluate

    t = np.linspace(0, 10, 200)
    ref = np.c_[3 * np.cos(t / 2), 2 * np.sin(t / 2), 0.1 * t]
    est = 0.5 * ref + np.random.default_rng(2).normal(0, 0.03, ref.shape) + [1, 0, 0]  # monocular: scale 0.5
    _tum(tmp_path / "est.tum", t, est)
    _tum(tmp_path / "ref.tum", t, ref)
    asked = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileNames",
                        lambda *a, **k: (asked.append(a[1]) or [str(tmp_path / "est.tum"), str(tmp_path / "ref.tum")], ""))
    answers = iter(["est.tum", "ref.tum", "Sim(3): with scale (monocular; --correct_scale)"])
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", lambda *a, **k: (next(answers), True))
    wb = _bench(window)
    window.set_workspace("Pose")
    qtbot.wait(50)
    button = next(b for b in window.findChildren(QtWidgets.QToolButton)
                  if b.defaultAction() is not None and b.defaultAction().text().startswith("Compare trajectories")
                  and b.isVisible())
    qtbot.mouseClick(button, QtCore.Qt.LeftButton)
    qtbot.waitUntil(lambda: wb.ate_curve.getData()[1] is not None and len(wb.ate_curve.getData()[1]) > 0, timeout=60000)
    assert asked and "0 in the scene" in asked[0]
    names = sorted(tr.name for tr in window.scene.of_type(Trajectory) if not tr.source.startswith("ATE alignment"))
    assert names == ["est.tum", "ref.tum"]
    _x, y = wb.ate_curve.getData()
    from scenelens.engine.io import load_layers

    e, r = (load_layers(tmp_path / n)[0] for n in ("est.tum", "ref.tum"))
    want = evaluate(e.poses, r.poses, e.timestamps, r.timestamps, "sim3")
    np.testing.assert_allclose(np.sqrt(np.mean(np.asarray(y) ** 2)), want["ape"]["translation_m"]["rmse"], rtol=1e-9)
    # the legend sits in an opaque box over the curves (they ran through its text before)
    legend = wb.ate_plot.getPlotItem().legend
    qtbot.wait(100)
    img = _qimage_rgb(wb.ate_plot)
    r = legend.mapRectToScene(legend.boundingRect())
    x, y = int(r.right()) - 4, int(r.bottom()) - 3
    assert _count(img[y - 1:y + 2, x - 1:x + 2], (45, 45, 45), 12) == 9, img[y - 1:y + 2, x - 1:x + 2]
    assert want["ape"]["translation_m"]["rmse"] < 0.15 and abs(want["alignment"]["scale"] - 2.0) < 0.05


def test_pose3d_on_videos_opens_on_each_cameras_video(window, qtbot, tmp_path, shared_data):
    """`run pose3d` on two videos (the crossing clip seen by two cameras of a flat scene, as in
    test_multiview) → the NPZ names its views; opened in the window, each camera's video is in the image
    view's selector and shows the timeline's frame, with that camera's reprojection drawn over it."""
    import cv2

    sys.path.insert(0, str(ROOT / "scripts"))
    from make_crossing_clip import render_frames

    from scenelens.engine.io.image import VideoReader
    from scenelens.engine.pose.multiview import Camera
    from scenelens.gui.workbenches.pose import track_colour
    from tests.pose.test_multiview import _write_toml

    size, f, shift = (960, 540), 1000.0, 100
    paths = [tmp_path / "cam_01.avi", tmp_path / "cam_02.avi"]
    ws = [cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size) for p in paths]
    M = np.float32([[1, 0, -shift], [0, 1, 0]])
    for img, _, _ in render_frames(6):
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        ws[0].write(bgr)
        ws[1].write(cv2.warpAffine(bgr, M, size, borderMode=cv2.BORDER_REPLICATE))
    for w in ws:
        w.release()
    K = np.array([[f, 0, 480], [0, f, 270], [0, 0, 1]])
    _write_toml(tmp_path / "Calib.toml", [Camera("cam_01", size, K, np.zeros(5), np.eye(3), np.zeros(3)),
                                          Camera("cam_02", size, K, np.zeros(5), np.eye(3), np.array([-0.5, 0, 0]))])
    env = dict(__import__("os").environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "pose3d", *map(str, paths), "--calib",
                        str(tmp_path / "Calib.toml"), "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    npz = tmp_path / "pose3d.npz"
    layers = load_layers(npz)
    vids = {lay.name: lay for lay in layers if isinstance(lay, ImageLayer)}
    assert sorted(vids) == ["cam_01", "cam_02"] and all(v.n_frames == 6 for v in vids.values())
    assert vids["cam_02"].path == str(paths[1])
    wait_job(qtbot, window.open_path(npz))
    wb = _bench(window)
    sel = window.view2d.selector
    assert {"cam_01", "cam_02"} <= {sel.itemText(i) for i in range(sel.count())}  # (+ attribution's own)
    sel.setCurrentIndex(sel.findText("cam_02"))
    for _ in range(3):
        qtbot.keyClick(wb.slider, QtCore.Qt.Key_Right)
    qtbot.wait(100)
    assert wb.frame == 3 and window.view2d.current == "cam_02"
    np.testing.assert_array_equal(window.view2d.images["cam_02"], VideoReader(str(paths[1])).read(3))
    img = window.view2d.grab_image()
    tid = next(s for s in window.scene.of_type(Skeleton) if s.meta.get("camera") == "cam_02").meta["track_ids"][0]
    assert _count(img, track_colour(tid)) > 30  # the reprojected people over the video
    sel.setCurrentIndex(sel.findText("cam_01"))  # the other camera shows the same frame, not its first
    qtbot.wait(100)
    np.testing.assert_array_equal(window.view2d.images["cam_01"], VideoReader(str(paths[0])).read(3))
