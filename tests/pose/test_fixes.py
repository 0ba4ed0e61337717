"""Issue-13 fixes: COCO export keeps segmentation and offers predictions / ground truth / both; visibility 0
outside the image; confidence colours distinct from the ground truth's green; playback at real time;
the 3-D camera never framed on an empty frame."""
import json

import numpy as np
import pytest

from scenelens.engine.io import load, load_layers
from scenelens.engine.io.coco_keypoints import export_coco, skeletons_to_results
from scenelens.engine.pose.run import FrameResult, PoseRun
from scenelens.engine.pose.types import Person
from scenelens.engine.scene import Skeleton
from tests.conftest import wait_job


def _pred_run(w=200, h=100):
    kp = np.tile([[50.0, 50.0]], (17, 1))
    kp[15] = [250.0, 50.0]  # left ankle outside the image (x ≥ width)
    kp[16] = [60.0, -5.0]   # right ankle above it
    p = Person(kp, np.full(17, 0.9), "coco17").with_coco()
    run = PoseRun("img.jpg", "images", [FrameResult(0, 0, 785, "000000000785.jpg", (w, h), [p])], model="test")
    return run


def test_visibility_zero_outside_the_image_keeps_the_prediction():
    res = _pred_run().results()
    kp = np.asarray(res[0]["keypoints"]).reshape(17, 3)
    assert kp[15].tolist() == [250.0, 50.0, 0] and kp[16].tolist() == [60.0, -5.0, 0]
    assert set(kp[:15, 2]) == {2} and "bbox" in res[0]


def test_coco_export_keeps_segmentation_and_offers_all_three(shared_data):
    path = shared_data / "coco_keypoints" / "test_coco.json"
    src = json.loads(path.read_text())
    gt_layers = [s for s in load_layers(path) if isinstance(s, Skeleton)]
    pred = _pred_run().skeletons()[0]
    gt = export_coco(gt_layers, "ground truth")
    seg_in = {a["id"]: a["segmentation"] for a in src["annotations"] if "segmentation" in a}
    seg_out = {a["id"]: a.get("segmentation") for a in gt["annotations"]}
    assert seg_in and all(seg_out[i] == s for i, s in seg_in.items())
    preds = export_coco(gt_layers + [pred], "predictions")
    assert isinstance(preds, list) and len(preds) == 1 and preds[0]["image_id"] == 785
    both = export_coco(gt_layers + [pred], "both")
    srcs = [a.get("source") for a in both["annotations"]]
    assert srcs.count("prediction") == 1 and len(srcs) == len(gt["annotations"]) + 1
    assert len({a["id"] for a in both["annotations"]}) == len(srcs)  # ids stay unique
    from scenelens.engine.errors import InputError

    with pytest.raises(InputError, match="no ground-truth"):
        export_coco([pred], "ground truth")


def _bench(window):
    return next(b for b in window.workbenches if type(b).__name__ == "PoseWorkbench")


def test_confidence_colours_are_not_ground_truth_green(window, qtbot):
    from scenelens.gui.workbenches.pose import GT_QT

    wb = _bench(window)
    sk = _pred_run().skeletons()[0]
    sk.confidence[:] = np.linspace(0, 1, 17)
    window.add_layer(sk)
    wb.colour_mode = "confidence"
    from scenelens.gui.workbenches.pose import KeypointItem

    item = KeypointItem(wb, sk, 0, 0, False)
    cols = np.array([b.color().getRgb()[:3] for b in item._drawn["symbolBrush"]])
    assert np.abs(cols - np.array(GT_QT)).sum(1).min() > 120  # far from the GT colour, low to high


def test_playback_follows_the_clock_and_skips_frames(window, qtbot, shared_data, monkeypatch):
    import scenelens.gui.workbenches.pose as P

    window.set_scene(load(shared_data / "cmu_mocap_131_01" / "scaled_131_01.bvh"))
    wb = _bench(window)
    fps = max(s.fps for s in wb.skeletons())
    assert fps >= 100  # 120 Hz motion capture
    now = [1000.0]
    monkeypatch.setattr(P.time, "perf_counter", lambda: now[0])
    wb.set_frame(0)
    wb.toggle_play()
    wb.timer.stop()  # drive the ticks by hand
    now[0] += 0.5
    wb._play_tick()
    assert wb.frame == int(0.5 * fps)  # half a second of a 120 Hz file = 60 frames, not 30
    now[0] += 0.25
    wb._play_tick()
    assert wb.frame == int(0.75 * fps)


def test_camera_not_framed_on_an_empty_first_frame(window, qtbot):
    wb = _bench(window)
    j = np.zeros((5, 1, 17, 3))
    j[2:, 0] = np.random.default_rng(0).normal(0, 0.3, (3, 17, 3)) + [0, 0, 1]
    conf = np.zeros((5, 1, 17))
    conf[2:] = 1
    sk = Skeleton(name="late", source="x", joints=j, confidence=conf, joint_set="h36m17")
    window.add_layer(sk)
    assert wb.first_frame_with_people() == 2


def test_tracked_people_drawn_in_their_track_colour_with_id(window, qtbot):
    from scenelens.gui.workbenches.pose import KeypointItem, track_colour

    wb = _bench(window)
    run = _pred_run()
    q = run.frames[0].persons[0]
    q.track_id = 7
    q2 = Person(q.keypoints + 20, q.scores.copy(), "coco17").with_coco()
    q2.track_id = 3
    run.frames[0].persons.append(q2)
    run.kind = "video"
    sk = run.skeletons()[0]
    assert sk.meta["track_ids"] == [7, 3]
    items = [KeypointItem(wb, sk, 0, p, False) for p in range(2)]
    assert [it.track_id for it in items] == [7, 3]
    assert items[0]._label.toPlainText() == "ID 7"
    assert items[0]._drawn["pen"].color().getRgb()[:3] == track_colour(7) != track_colour(3)


def test_trajectory_comparison_asks_names_and_alignment(window, qtbot, monkeypatch):
    from PySide6 import QtWidgets

    from scenelens.engine.scene import Trajectory

    n = 40
    t = np.linspace(0, 4, n)
    ref = np.tile(np.eye(4), (n, 1, 1))
    ref[:, :3, 3] = np.c_[2 * np.cos(t), 2 * np.sin(t), 0.1 * t]
    est = ref.copy()
    est[:, :3, 3] = 0.5 * ref[:, :3, 3] + [3, 0, 0]  # half the size: only Sim(3) aligns it
    window.add_layer(Trajectory(name="ref", poses=ref, timestamps=t))
    window.add_layer(Trajectory(name="est", poses=est, timestamps=t))
    wb = _bench(window)
    answers = iter(["est", "ref", "Sim(3): with scale (monocular; --correct_scale)"])
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", lambda *a, **k: (next(answers), True))
    wait_job(qtbot, wb._compare_dialog())
    r = wb.last_eval
    assert r["align"] == "sim3" and r["alignment"]["scale"] == pytest.approx(2.0)
    assert r["ape"]["translation_m"]["rmse"] < 1e-9
    _x, y = wb.rpe_curve.getData()
    assert len(y) == n - 1 and float(np.max(y)) < 1e-9
    answers = iter(["est", "ref", "SE(3): rigid (evo --align)"])
    wait_job(qtbot, wb._compare_dialog())
    assert wb.last_eval["align"] == "se3" and wb.last_eval["ape"]["translation_m"]["rmse"] > 0.1
    names = [lay.name for lay in window.scene.of_type(Trajectory)]
    assert "est aligned (sim3)" in names and "est aligned (se3)" in names


def test_per_track_timeline(window, qtbot):
    wb = _bench(window)
    run = _pred_run()
    run.kind = "video"
    base = run.frames[0]
    from dataclasses import replace

    frames = []
    for t in range(6):
        a = Person(base.persons[0].keypoints + t, base.persons[0].scores.copy(), "coco17").with_coco()
        a.track_id = 4
        people = [a]
        if t >= 2:
            b = Person(base.persons[0].keypoints + 60, base.persons[0].scores.copy(), "coco17").with_coco()
            b.track_id = 9
            people.append(b)
        frames.append(replace(base, index=t, frame=t, image_id=t, file_name=f"v#{t}", persons=people))
    run.frames = frames
    window.add_layer(run.skeletons()[0])
    assert not wb.track_plot.isHidden()  # shown (its dock may be tabbed away)
    assert len(wb.track_curves) == 2
    _x, y = wb.track_curves[1].getData()
    assert np.isnan(y[:2]).all() and (y[2:] == 1).all()  # track 9 appears at frame 2
    wb.set_frame(3)
    assert wb.track_cursor.value() == 3


def test_camera_follows_the_subject_while_playing(window, qtbot, shared_data, monkeypatch):
    import scenelens.gui.workbenches.pose as P

    window.set_scene(load(shared_data / "cmu_mocap_131_01" / "scaled_131_01.bvh"))
    wb = _bench(window)
    now = [50.0]
    monkeypatch.setattr(P.time, "perf_counter", lambda: now[0])
    wb.set_frame(0)
    cam = window.view3d.renderer.GetActiveCamera()
    f0, c0 = np.array(cam.GetFocalPoint()), wb.subject_centre(0)
    wb.toggle_play()
    wb.timer.stop()
    wb.timer.start(10_000)  # "playing", ticks driven by hand
    now[0] += 2.0
    wb._play_tick()
    f1, c1 = np.array(cam.GetFocalPoint()), wb.subject_centre(wb.frame)
    wb.timer.stop()
    assert np.linalg.norm(c1 - c0) > 1e-3  # the subject moved over two seconds
    np.testing.assert_allclose(f1 - f0, c1 - c0, atol=1e-6)  # and the camera moved with it


def test_panoptic_and_pose3d_files_open_in_the_3d_view(window, qtbot, tmp_path):
    from tests.conftest import colourful_fraction
    from tests.pose.test_panoptic import _body

    f = tmp_path / "body3DScene_00000000.json"
    f.write_text(json.dumps({"bodies": [_body(0, -60), _body(1, 60)]}))
    j = np.full((3, 1, 17, 3), np.nan)
    j[1:, 0] = np.random.default_rng(0).normal(0, 0.2, (2, 17, 3)) + [0, 0, 1]
    np.savez(tmp_path / "pose3d.npz", joints=j, joint_set=np.array("coco17"), units=np.array("m"))
    wb = _bench(window)
    for p in (f, tmp_path / "pose3d.npz"):
        window.set_scene(load(p))
        wb.set_frame(wb.first_frame_with_people() or 0)
        window.view3d.reset_camera("side")
        img = window.view3d.screenshot(str(tmp_path / f"{p.stem}.png"))
        assert colourful_fraction(img) > 0.001, p.name
