"""Two paths given at once (command line, a drop on the window) open by what the files are, not by their count
(session 6, helper T): two point clouds → a registration pair; a video and its `run pose` results JSON → the
results on that video; two trajectory files → both opened and compared (APE / RPE); any other pair → one error
naming both files and the pairs accepted (command line: one line, exit 2, no window)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from scenelens.engine.scene import ImageLayer, PointCloud, Skeleton, Trajectory
from tests.conftest import wait_job
from tests.pose import test_user_pass as user_pass
from tests.pose.test_user_pass import FRAMES, _bench, _count, _tum

clip_results = user_pass.clip_results  # the crossing clip and its `run pose`-style results (a fixture)
ROOT = Path(__file__).resolve().parents[2]


def _drop(qtbot, window, paths):
    """A real drop of these files on the window (file URLs in the mime data, as a file manager sends them)."""
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QtCore.QPointF(window.width() / 2, window.height() / 2)
    enter = QtGui.QDragEnterEvent(pos.toPoint(), QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    window.last_drop = None
    drop = QtGui.QDropEvent(pos, QtCore.Qt.CopyAction, mime, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
    QtWidgets.QApplication.sendEvent(window, drop)
    handle = getattr(window, "last_drop", None)
    if handle is None:  # the old handler kept no handle: wait for whatever job it started
        qtbot.wait(300)
        qtbot.waitUntil(lambda: not any(h.state == "running" for h in window.runner.handles), timeout=60000)
        qtbot.wait(300)
    else:
        wait_job(qtbot, handle)
    return handle


def _errors(window):
    return [m for lvl, m in window.log_panel.entries if lvl == "error"]


def _trajectories(tmp_path):
    t = np.linspace(0, 10, 200)
    ref = np.c_[3 * np.cos(t / 2), 2 * np.sin(t / 2), 0.1 * t]
    est = ref + np.random.default_rng(3).normal(0, 0.05, ref.shape) + [0.5, 0, 0]
    _tum(tmp_path / "est.tum", t, est)
    _tum(tmp_path / "ref.tum", t, ref)
    return tmp_path / "est.tum", tmp_path / "ref.tum"


def test_cli_refuses_a_pair_that_is_no_pair_in_one_line(tmp_path):
    """An image and a trajectory: one line naming both and the pairs accepted, exit 2, before any window (the
    old code opened the window and tried them as a registration pair: "contains no point cloud")."""
    est, _ref = _trajectories(tmp_path)
    from scenelens.engine.io.image import write_image

    img = tmp_path / "photo.png"
    write_image(img, np.full((40, 60, 3), 128, np.uint8))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SCENELENS_AUTOSHOT=str(tmp_path / "shot.png"),
               SCENELENS_STATE_DIR=str(tmp_path / "state"), SCENELENS_CONFIG_DIR=str(tmp_path / "config"),
               OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "main.py", str(img), str(est)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stdout + r.stderr
    assert "photo.png" in lines[0] and "est.tum" in lines[0] and "two point clouds" in lines[0], lines
    assert "two trajectory files" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "shot.png").exists()


def test_dropping_a_video_and_its_results_opens_the_results_on_that_video(window, qtbot, tmp_path, clip_results):
    """The JSON names a video that is not there (moved, renamed): the video dropped with it is the one shown,
    people drawn over its frames in their track colours."""
    from scenelens.gui.workbenches.pose import track_colour

    video, res = clip_results
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mine = elsewhere / "renamed.avi"
    shutil.move(str(video), mine)
    _drop(qtbot, window, [res, mine])  # results first: the order does not matter
    assert not _errors(window), _errors(window)
    imgs = window.scene.of_type(ImageLayer)
    assert len(imgs) == 1 and imgs[0].path == str(mine) and imgs[0].n_frames == FRAMES
    sk = next(s for s in window.scene.of_type(Skeleton))
    assert sk.meta["track_ids"] == [1, 2] and not sk.meta.get("warnings")
    qtbot.wait(100)  # reader warnings reach the log through a queued signal
    assert not [m for lvl, m in window.log_panel.entries if lvl == "warning"]  # "video … not shown" is moot
    assert window.workspace == "Pose"
    qtbot.wait(150)
    assert window.view2d.current == "renamed.avi"
    img = window.view2d.grab_image()
    assert _count(img, track_colour(1)) > 30 and _count(img, track_colour(2)) > 30


def test_dropping_two_trajectories_opens_and_compares_them(window, qtbot, tmp_path, monkeypatch):
    from scenelens.engine.io import load_layers
    from scenelens.engine.pose.trajectory_eval import evaluate

    est, ref = _trajectories(tmp_path)
    answers = iter(["est.tum", "ref.tum", "SE(3): rigid (evo --align)"])
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", lambda *a, **k: (next(answers), True))
    wb = _bench(window)
    _drop(qtbot, window, [ref, est])
    assert not _errors(window), _errors(window)
    qtbot.waitUntil(lambda: wb.ate_curve.getData()[1] is not None and len(wb.ate_curve.getData()[1]) > 0, timeout=60000)
    names = sorted(t.name for t in window.scene.of_type(Trajectory) if not t.source.startswith("ATE alignment"))
    assert names == ["est.tum", "ref.tum"] and window.workspace == "Pose"
    e, r = load_layers(est)[0], load_layers(ref)[0]
    want = evaluate(e.poses, r.poses, e.timestamps, r.timestamps, "se3")
    _x, y = wb.ate_curve.getData()
    np.testing.assert_allclose(np.sqrt(np.mean(np.asarray(y) ** 2)), want["ape"]["translation_m"]["rmse"], rtol=1e-9)


def test_dropping_a_pair_that_is_no_pair_says_which_pairs_open(window, qtbot, tmp_path):
    est, _ref = _trajectories(tmp_path)
    from scenelens.engine.io.image import write_image

    img = tmp_path / "photo.png"
    write_image(img, np.full((40, 60, 3), 128, np.uint8))
    before = window.scene
    _drop(qtbot, window, [img, est])
    errs = _errors(window)
    assert len(errs) == 1 and "photo.png" in errs[0] and "est.tum" in errs[0], errs
    assert "two point clouds" in errs[0] and "two trajectory files" in errs[0]
    assert window.scene is before and window.last_dialog is not None and window.last_dialog.isVisible()


def test_dropping_two_clouds_still_opens_a_registration_pair(window, qtbot, shared_data):
    d = shared_data / "3dmatch_pair"
    _drop(qtbot, window, [d / "src.npy", d / "ref.npy"])
    assert not _errors(window), _errors(window)
    clouds = window.scene.of_type(PointCloud)
    assert [c.name for c in clouds] == ["source: src.npy", "target: ref.npy"]
    assert window.workspace == "Registration"


@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X display (run under xvfb-run)")
def test_cli_video_and_results_open_the_people_on_the_video(tmp_path, clip_results):
    """`main.py VIDEO RESULTS` (the real program, its screenshot): the people in their track colours over
    the video's frame (the old code tried a registration pair and failed: exit 1)."""
    from scenelens.gui.workbenches.pose import track_colour
    from tests.gui.test_launch import _launch

    video, res = clip_results
    img, r = _launch([video, res], tmp_path)
    assert "Pose" in r.stdout, r.stdout
    assert _count(img, track_colour(1)) > 30 and _count(img, track_colour(2)) > 30
