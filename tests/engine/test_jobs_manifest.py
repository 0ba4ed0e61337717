"""Jobs report progress and cancel; the preprocess job matches a numpy reference; manifests tie files together."""
import json
import threading

import numpy as np
import pytest

from scenelens.engine.errors import InputError, JobCancelled
from scenelens.engine.io import load
from scenelens.engine.jobs import Job, JobContext, run_sync
from scenelens.engine.scene import CameraRig, PointCloud
from scenelens.engine.tasks.preprocess import downsample_with_normals


def test_progress_and_cancel():
    seen = []

    def work(ctx):
        for i in range(10):
            ctx.progress(i / 10, f"step {i}")
        return 42

    res, _ = run_sync(Job("x", work), lambda f, m: seen.append((f, m)))
    assert res == 42 and [f for f, _ in seen] == [i / 10 for i in range(10)]
    ev = threading.Event()
    ev.set()
    with pytest.raises(JobCancelled):
        Job("y", work).run(JobContext(cancel_event=ev))


def test_downsample_matches_numpy_reference():
    rng = np.random.default_rng(1)
    pts = rng.uniform(-5, 5, (4000, 3))
    # points on the plane z = 0.1 x: normals must be ±(−0.1, 0, 1)/|…|
    pts[:, 2] = 0.1 * pts[:, 0]
    out = downsample_with_normals(PointCloud(name="p", points=pts), voxel=0.5)
    keys = np.floor(pts / 0.5).astype(int)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    ref = np.zeros((len(uniq), 3))
    np.add.at(ref, inv.ravel(), pts)
    ref /= np.bincount(inv.ravel())[:, None]
    assert out.n == len(uniq)
    np.testing.assert_allclose(np.sort(out.points, 0), np.sort(ref, 0), atol=1e-5)
    n_true = np.array([-0.1, 0, 1]) / np.linalg.norm([-0.1, 0, 1])
    cos = np.abs(out.attributes["normal"] @ n_true)
    assert np.median(cos) > 0.999


def test_manifest_loads_layers_and_cameras(tmp_path):
    from scenelens.engine.io.pointcloud import write_ply

    write_ply(tmp_path / "a.ply", PointCloud(name="a", points=np.eye(3)))
    import cv2

    cv2.imwrite(str(tmp_path / "c.png"), np.full((20, 30, 3), 200, np.uint8))
    m = {"scenelens_scene": 1, "name": "t", "layers": [
        {"path": "a.ply", "name": "A"},
        {"path": "c.png", "name": "CAM", "camera": {"K": np.eye(3).tolist(), "cam_to_frame": np.eye(4).tolist()}}],
        "frames": [{"layers": [{"path": "a.ply", "name": "F"}]}]}
    (tmp_path / "s.json").write_text(json.dumps(m))
    s = load(tmp_path / "s.json")
    assert s.name == "t" and s.get("A").n == 3 and s.get("F") is not None
    rig = s.of_type(CameraRig)[0]
    assert rig.cameras[0].size == (30, 20)
    m["layers"][0]["path"] = "missing.ply"
    (tmp_path / "s.json").write_text(json.dumps(m))
    with pytest.raises(InputError, match="missing.ply"):
        load(tmp_path / "s.json")


def test_demo_manifest_loads():
    from scenelens.gui.main_window import demo_scene_path

    s = load(demo_scene_path())
    cloud = s.of_type(PointCloud)[0]
    assert cloud.label_set == "occ3d" and (cloud.attributes["label"] != 255).sum() > 300
    assert len(s.of_type(CameraRig)[0].cameras) == 6
