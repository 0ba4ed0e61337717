"""3-D people from calibrated views: calibration readers (Pose2Sim TOML, OpenCV YAML), weighted DLT that
drops a view by reprojection error, cross-view association of two people, 3-D tracks, and `run pose3d`
end to end on per-view 2-D results (TRC, NPZ, metrics.json)."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.pose.multiview import Camera, read_calibration, track_people, triangulate

ROOT = Path(__file__).resolve().parents[2]
COCO_STAND = np.array([  # metres, z up
    [0, 0.05, 1.65], [0.03, 0.04, 1.68], [-0.03, 0.04, 1.68], [0.07, 0, 1.66], [-0.07, 0, 1.66], [0.18, 0, 1.48],
    [-0.18, 0, 1.48], [0.2, 0.05, 1.2], [-0.2, 0.05, 1.2], [0.22, 0.1, 0.95], [-0.22, 0.1, 0.95], [0.12, 0, 1.0],
    [-0.12, 0, 1.0], [0.12, 0.02, 0.55], [-0.12, 0.02, 0.55], [0.12, 0, 0.1], [-0.12, 0, 0.1]])


def _cameras(n=3):
    """Cameras on a 4 m circle around the origin, looking at (0, 0, 1), with some radial distortion."""
    cams = []
    for k in range(n):
        a = 2 * np.pi * k / n + 0.3
        c = np.array([4 * np.cos(a), 4 * np.sin(a), 1.5])
        z = np.array([0, 0, 1.0]) - c
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        R = np.stack([x, y, z])
        K = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
        cams.append(Camera(f"cam_{k + 1:02d}", (1280, 720), K, np.array([-0.05, 0.01, 0, 0, 0]), R, -R @ c))
    return cams


def _people(t):
    a = _stand(-0.6 + 0.04 * t, 0.0)
    b = _stand(0.6 - 0.04 * t, 0.5)
    return [a, b]


def _stand(x, y):
    return COCO_STAND + [x, y, 0]


def test_dlt_recovers_points_and_drops_an_outlier_view():
    cams = _cameras(4)
    X = _stand(0.1, 0.2)
    kps = np.stack([c.project(X) for c in cams])
    conf = np.ones((4, 17))
    kps[2, 9] += [60.0, -40.0]  # one view's left wrist is wrong
    Y, err, used = triangulate(kps, conf, cams)
    np.testing.assert_allclose(Y, X, atol=1e-6)
    assert not used[2, 9] and used[:, 9].sum() == 3 and used[:, :9].all()
    assert np.nanmax(err) < 1e-3
    conf[:, 3] = 0.0  # a joint nobody saw stays missing
    Y, err, used = triangulate(kps, conf, cams)
    assert np.isnan(Y[3]).all() and not used[:, 3].any()


def test_track_people_keeps_ids_across_a_gap():
    frames = [[_stand(0.05 * t, 0), _stand(1 - 0.05 * t, 2)] for t in range(5)]
    frames[2] = frames[2][1:]
    ids = track_people(frames)
    assert ids[0] == ids[1] == ids[3] == ids[4] and ids[2] == [ids[0][1]]


def test_two_people_crossing_keep_their_3d_ids():
    """Two people walk towards each other and cross (0.2 m apart in depth), seen by three cameras; while
    they pass, the one behind is seen by one camera only (frames 6–10: not triangulated). Per frame the views
    are associated and triangulated, then tracked: after the crossing each person keeps the ID they had
    before. (Without motion prediction the one still seen, now where the hidden one was last, took the
    hidden one's ID and the hidden one came back under a new ID.)"""
    from scenelens.engine.pose.multiview import associate

    cams = _cameras(3)
    rng = np.random.default_rng(1)
    T, v = 16, 0.16  # metres per frame
    people3d, truth = [], []
    for t in range(T):
        a, b = _stand(v * (8 - t), 0.0), _stand(v * (t - 8), 0.2)
        truth.append([a, b])
        views = []
        for k, c in enumerate(cams):
            seen = [a, b] if not (6 <= t <= 10 and k != 0) else [b]
            views.append([(c.project(X) + rng.normal(0, 0.3, (17, 2)), np.full(17, 0.9)) for X in seen[::-1]])
        frame = []
        for g in associate(views, cams):
            kps = np.full((3, 17, 2), np.nan)
            conf = np.zeros((3, 17))
            for c, i in enumerate(g):
                if i is not None:
                    kps[c], conf[c] = views[c][i]
            X, _, _ = triangulate(kps, conf, cams)
            frame.append(X)
        people3d.append(frame)
    assert [len(f) for f in people3d] == [2] * 6 + [1] * 5 + [2] * 5
    ids = track_people(people3d)
    who = {}  # truth person → track IDs given to them
    for t in range(T):
        for X, i in zip(people3d[t], ids[t]):
            m = int(np.argmin([np.linalg.norm(X - P, axis=1).mean() for P in truth[t]]))
            assert np.linalg.norm(X - truth[t][m], axis=1).max() < 0.02
            who.setdefault(m, set()).add(i)
    assert who[0] != who[1] and len(who[0]) == len(who[1]) == 1, who


def _write_toml(path, cams):
    lines = []
    for c in cams:
        rvec = cv2.Rodrigues(c.R)[0].ravel()
        lines += [f"[{c.name}]", f'name = "{c.name}"', f"size = [{c.size[0]}.0, {c.size[1]}.0]",
                  "matrix = [" + ", ".join("[" + ", ".join(f"{v:.10f}" for v in r) + "]" for r in c.K) + "]",
                  "distortions = [" + ", ".join(f"{v:.10f}" for v in c.dist[:4]) + "]",
                  "rotation = [" + ", ".join(f"{v:.12f}" for v in rvec) + "]",
                  "translation = [" + ", ".join(f"{v:.12f}" for v in c.t) + "]", "fisheye = false", ""]
    lines += ["[metadata]", "adjusted = false", "error = 0.0", ""]
    path.write_text("\n".join(lines))


def test_calibration_readers_agree(tmp_path):
    cams = _cameras(3)
    toml = tmp_path / "Calib.toml"
    _write_toml(toml, cams)
    yml = tmp_path / "calib.yml"
    fs = cv2.FileStorage(str(yml), cv2.FILE_STORAGE_WRITE)
    for c in cams:
        fs.startWriteStruct(c.name, cv2.FILE_NODE_MAP)
        fs.write("K", c.K)
        fs.write("dist", c.dist.reshape(1, -1))
        fs.write("rvec", cv2.Rodrigues(c.R)[0])
        fs.write("T", c.t.reshape(3, 1))
        fs.write("image_width", c.size[0])
        fs.write("image_height", c.size[1])
        fs.endWriteStruct()
    fs.release()
    for p in (toml, yml):
        got = read_calibration(p)
        assert [g.name for g in got] == [c.name for c in cams]
        for g, c in zip(got, cams):
            np.testing.assert_allclose(g.P, c.P, atol=1e-6)
            assert g.size == c.size
    bad = tmp_path / "one.toml"
    _write_toml(bad, cams[:1])
    with pytest.raises(InputError, match="at least 2"):
        read_calibration(bad)


def test_run_pose3d_on_per_view_results(tmp_path):
    cams = _cameras(3)
    _write_toml(tmp_path / "Calib.toml", cams)
    rng = np.random.default_rng(0)
    T = 12
    truth = np.array([_people(t) for t in range(T)])  # T×2×17×3
    views = []
    for k, c in enumerate(cams):
        res = []
        for t in range(T):
            people = _people(t)
            if k == 1 and t == 5:
                people = people[:1]  # this view misses a person once
            for X in people[::-1] if k == 2 else people:  # detection order differs between views
                uv = c.project(X) + rng.normal(0, 0.3, (17, 2))
                if k == 0:
                    uv[9] += [80.0, 0]  # camera 1 always gets the left wrist wrong
                res.append({"image_id": t, "category_id": 1, "score": 0.9, "keypoints": np.c_[uv, np.full(17, 2)].ravel().tolist(),
                            "keypoint_scores": [0.9] * 17})
        p = tmp_path / f"{c.name}_2d.json"  # file names carry the camera names, given out of order below
        p.write_text(json.dumps(res))
        views.append(p)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "pose3d", str(views[2]), str(views[0]), str(views[1]),
                        "--calib", str(tmp_path / "Calib.toml"), "--out", str(out), "--fps", "25", "--json"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(s["tracks"]) == 2 and s["frames"] == T
    assert s["median_reprojection_px"] < 1.0
    d = np.load(out / "pose3d.npz")
    J = d["joints"]
    assert J.shape == (T, 2, 17, 3)
    for k in range(2):  # each track is one person throughout, within a centimetre (median over joints;
        # in frame 5 one person is seen by two views only, and two views cannot outvote camera 1's bad wrist)
        m = int(np.argmin([np.nanmean(np.linalg.norm(J[0, k] - truth[0, m], axis=1)) for m in range(2)]))
        e = np.array([np.linalg.norm(J[t, k] - truth[t, m], axis=1) for t in range(T)])
        assert np.median(e, axis=1).max() < 0.01
        assert np.delete(e, 5, axis=0).max() < 0.01
    assert (d["views_used"][..., 9] <= 2).all()  # the wrong wrist view was dropped every time
    from scenelens.engine.io import load_layers

    layers = load_layers(out / "pose3d.npz")
    sk = layers[0]  # opens as a 3-D skeleton layer (missing joints: confidence 0)
    assert sk.joint_set == "coco17" and sk.joints.shape == (T, 2, 17, 3) and np.isfinite(sk.joints).all()
    assert sk.meta["up_axis"] == "z"
    # with its rig (drawn as frustums) and the people reprojected into every camera, one 2-D layer per view
    assert [c["name"] for c in sk.meta["rig_cameras"]] == [str(n) for n in d["cameras"]]  # the views' order
    assert sorted(str(n) for n in d["cameras"]) == [c.name for c in cams]
    reproj = {lay.meta["camera"]: lay for lay in layers[1:]}
    assert set(reproj) == {c.name for c in cams}
    for c in cams:
        lay = reproj[c.name]
        assert lay.dims == 2 and lay.image_size == c.size
        ok = lay.confidence[0] > 0
        assert ok.sum() >= 30
        np.testing.assert_allclose(lay.joints[0][ok], c.project(J[0])[ok], atol=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["per_joint_median_reprojection_px"]) >= {"nose", "left_wrist"}
    trc = (out / f"track_{s['tracks'][0]}.trc").read_text().splitlines()
    assert trc[0].startswith("PathFileType\t4") and trc[2].split("\t")[:4] == ["25", "25", str(T), "17"]
    assert trc[3].startswith("Frame#\tTime\tnose") and len(trc) == 5 + T
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "pose3d", str(views[0]),
                        "--calib", str(tmp_path / "Calib.toml"), "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 2 and "3 cameras but 1 view" in r.stderr


def test_run_pose3d_on_two_videos_of_a_flat_scene(tmp_path, shared_data):
    """The video path end to end: the crossing clip seen by two cameras 0.5 m apart, looking at a flat
    scene 5 m away (view 2 = view 1 shifted by f·b/Z = 100 px) → people triangulated on that plane."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_crossing_clip import render_frames

    f, b, Z, shift = 1000.0, 0.5, 5.0, 100
    size = (960, 540)
    paths = [tmp_path / "cam_01.avi", tmp_path / "cam_02.avi"]
    writers = [cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, size) for p in paths]
    M = np.float32([[1, 0, -shift], [0, 1, 0]])
    for img, _, _ in render_frames(8):
        bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        writers[0].write(bgr)
        writers[1].write(cv2.warpAffine(bgr, M, size, borderMode=cv2.BORDER_REPLICATE))
    for w in writers:
        w.release()
    K = np.array([[f, 0, 480], [0, f, 270], [0, 0, 1]])
    cams = [Camera("cam_01", size, K, np.zeros(5), np.eye(3), np.zeros(3)),
            Camera("cam_02", size, K, np.zeros(5), np.eye(3), np.array([-b, 0, 0]))]
    _write_toml(tmp_path / "Calib.toml", cams)
    out = tmp_path / "out"
    env = dict(__import__("os").environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "pose3d", *map(str, paths), "--calib",
                        str(tmp_path / "Calib.toml"), "--out", str(out), "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout.strip().splitlines()[-1])
    assert s["median_reprojection_px"] < 3.0 and len(s["tracks"]) >= 2
    J = np.load(out / "pose3d.npz")["joints"]
    z = J[..., 2][np.isfinite(J[..., 2])]
    assert z.size > 100 and abs(float(np.median(z)) - Z) < 0.1


def _write_qca(path, cams, extra=""):
    """A Qualisys QTM .qca.txt for OpenCV cameras, written the way QTM stores them: the camera pose in the
    world (centre in mm, rotation r11…r33 with QTM's camera axes: looking down −z, y up), intrinsics in
    1/64 pixel relative to the full sensor."""
    flip = np.diag([1.0, -1.0, -1.0])
    rows = []
    for c, (serial, res) in zip(cams, (("cam_2", None), ("cam_10", "540p"), ("cam_1", None))):
        M = flip @ c.R  # QTM's world → camera rotation before the π turn about x
        centre = -c.R.T @ c.t * 1000.0
        s = 2.0 if res == "540p" else 1.0  # a 540p recording of a 1080-line sensor: full-sensor values ×2
        w, h = int(c.size[0] * s), int(c.size[1] * s)
        left, top = 8, 4
        rows.append(
            f'<camera active="1" avg-residual="0.4" model="Miqus Video" serial="{serial}" viewrotation="0"'
            + (f' video_resolution="{res}"' if res else "") + ">"
            f'<fov_video left="{left}" top="{top}" right="{left + w - 1}" bottom="{top + h - 1}"/>'
            f'<transform x="{centre[0]}" y="{centre[1]}" z="{centre[2]}" '
            + " ".join(f'r{i + 1}{j + 1}="{float(M[i, j])!r}"' for i in range(3) for j in range(3)) + "/>"
            f'<intrinsic focalLengthU="{c.K[0, 0] * s * 64}" focalLengthV="{c.K[1, 1] * s * 64}" '
            f'centerPointU="{(c.K[0, 2] * s + left) * 64}" centerPointV="{(c.K[1, 2] * s + top) * 64}" '
            f'radialDistortion1="{c.dist[0] * 64}" radialDistortion2="{c.dist[1] * 64}" '
            f'tangentalDistortion1="{c.dist[2] * 64}" tangentalDistortion2="{c.dist[3] * 64}"/></camera>')
    marker = ('<camera active="1" avg-residual="0.2" model="Oqus 700+" serial="99"><fov_video left="0" top="0" '
              'right="10" bottom="10"/><transform x="0" y="0" z="0" r11="1" r12="0" r13="0" r21="0" r22="1" r23="0" '
              'r31="0" r32="0" r33="1"/><intrinsic focalLengthU="64" focalLengthV="64" centerPointU="0" '
              'centerPointV="0" radialDistortion1="0" radialDistortion2="0" tangentalDistortion1="0" '
              'tangentalDistortion2="0"/></camera>')
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><calibration source="test" type="regular"><cameras>'
                    + "".join(rows) + marker + extra + "</cameras></calibration>")


def test_qualisys_qca_calibration(tmp_path):
    """A Qualisys .qca.txt reads as Pose2Sim's calibration step converts it: video cameras only, natural
    order of the serials, 1/64-pixel intrinsics less the fov offset, 540p scaling, the π turn about x, and
    the translation in millimetres → metres once (the 4 m camera circle stays 4 m)."""
    cams = _cameras(3)
    qca = tmp_path / "calib.qca.txt"
    _write_qca(qca, cams)
    got = read_calibration(qca)
    order = {"cam_1": cams[2], "cam_2": cams[0], "cam_10": cams[1]}
    assert [g.name for g in got] == ["cam_1", "cam_2", "cam_10"]  # natural order; the marker camera left out
    X = _stand(0.2, -0.1)
    for g in got:
        c = order[g.name]
        assert g.size == c.size
        np.testing.assert_allclose(g.K, c.K, atol=1e-9)
        np.testing.assert_allclose(g.dist, c.dist, atol=1e-12)
        np.testing.assert_allclose(-g.R.T @ g.t, -c.R.T @ c.t, atol=1e-9)  # camera centre, metres
        np.testing.assert_allclose(g.project(X), c.project(X), atol=1e-6)
        assert np.linalg.norm((-g.R.T @ g.t)[:2]) == pytest.approx(4.0)
    # binned recording: pixels halve
    half = read_calibration(qca, binning=2)  # binned recording: focal lengths halve; Pose2Sim subtracts the
    c = order["cam_1"]  # fov offset (8, 4 px) after halving the centre
    np.testing.assert_allclose(half[0].K[[0, 1], [0, 1]], c.K[[0, 1], [0, 1]] / 2, atol=1e-9)
    np.testing.assert_allclose(half[0].K[:2, 2], (c.K[:2, 2] + [8, 4]) / 2 - [8, 4], atol=1e-9)
    assert half[0].size == (c.size[0] // 2, c.size[1] // 2)
    bad = tmp_path / "bad.qca.txt"
    bad.write_text("<calibration><cameras><camera")
    with pytest.raises(InputError, match="Qualisys"):
        read_calibration(bad)
    _write_qca(bad, cams, extra='<camera model="Miqus Video" serial="x"><fov_video left="0"/></camera>')
    with pytest.raises(InputError, match="camera x: missing or bad field"):
        read_calibration(bad)
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "run", "pose3d", "a.json", "b.json", "c.json",
                        "--calib", str(bad), "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "bad.qca.txt" in r.stderr and "Traceback" not in r.stderr


def test_scene_manifest_cameras_as_calibration(tmp_path):
    """A SceneLens scene manifest's cameras (K, cam_to_frame) calibrate `run pose3d`: the frame is the world."""
    cams = _cameras(2)
    entries = []
    for c in cams:
        img = tmp_path / f"{c.name}.png"
        cv2.imwrite(str(img), np.zeros((c.size[1], c.size[0], 3), np.uint8))
        c2w = np.eye(4)
        c2w[:3, :3], c2w[:3, 3] = c.R.T, -c.R.T @ c.t
        entries.append({"path": img.name, "name": c.name, "camera": {"K": c.K.tolist(), "cam_to_frame": c2w.tolist()}})
    man = tmp_path / "scene.json"
    man.write_text(json.dumps({"scenelens_scene": 1, "name": "rig", "layers": entries}))
    got = read_calibration(man)
    assert [g.name for g in got] == [c.name for c in cams]
    X = _stand(0.0, 0.3)
    for g, c in zip(got, cams):
        assert g.size == c.size and not g.dist.any()
        np.testing.assert_allclose(g.P, c.P, atol=1e-9)
    noc = tmp_path / "nocams.json"
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((4, 4, 3), np.uint8))
    noc.write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "x.png"}]}))
    with pytest.raises(InputError, match="no cameras"):
        read_calibration(noc)
    # triangulating with it: the pinhole projections of a person come back in 3-D
    kps = np.stack([np.stack([K @ (c.R @ x + c.t) for x in X]) for K, c in ((c.K, c) for c in cams)])
    uv = kps[..., :2] / kps[..., 2:]
    Y, err, used = triangulate(uv, np.ones((2, 17)), got, undistorted=True)
    np.testing.assert_allclose(Y, X, atol=1e-6)
