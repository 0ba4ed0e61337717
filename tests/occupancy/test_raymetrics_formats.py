"""RayIoU (SparseOcc's definition) and F-score, eval's label-set check, --per-frame text, .label + .invalid."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenelens.engine.occupancy.raymetrics import FScore, RayIoU, cast, lidar_rays, select_origins

ROOT = Path(__file__).resolve().parents[2]
OCC = "occ3d_nuscenes_sample/labels.npz"


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_lidar_rays_follow_the_reference_pitch_table():
    r = lidar_rays()
    pitch = np.unique(np.round(np.arcsin(r[:, 2]), 6))
    assert len(r) == len(pitch) * 360
    assert pitch.min() == pytest.approx(-np.pi / 4, abs=1e-6)  # k = 0: −(π/2 − atan 1)
    assert pitch.max() >= 0.21 and pitch[pitch < 0.21].max() < 0.21
    assert np.allclose(np.linalg.norm(r, axis=1), 1, atol=1e-6)


def test_cast_depth_is_exit_of_first_occupied_voxel():
    lab = np.full((40, 40, 8), 17, np.uint8)
    lab[30, :, :] = 15  # a wall in plane x = 30
    lab[5, 10, 2] = 4  # behind the origin, along −x
    d, l = cast(lab, 17, np.array([10.5, 10.5, 2.5]), np.array([[1.0, 0, 0], [-1.0, 0, 0], [0, 1.0, 0]]))
    assert d[0] == pytest.approx(31 - 10.5) and l[0] == 15  # leaves voxel 30 at x = 31
    assert d[1] == pytest.approx(10.5 - 5) and l[1] == 4
    assert d[2] == pytest.approx(40 - 10.5) and l[2] == 17  # nothing hit: grid exit, free


def test_rayiou_thresholds_on_a_shifted_wall():
    vs = 0.4
    gt = np.full((200, 200, 16), 17, np.uint8)
    gt[150, 95:105, :10] = 15  # a 4 m wide, 4 m high wall 20 m ahead
    pred = np.full_like(gt, 17)
    pred[146, 85:115, :] = 15  # 1.6 m nearer, wider and taller, so every ray that hits the GT wall hits it first
    r = RayIoU()
    r.add(pred, gt, [(0.0, 0.0, 1.0)], vs, (-40, -40, -1))
    res = r.result()
    # depth errors are 1.6 m along the axis, a little more off-axis: none under 1 m, all under 4 m
    assert res["rayiou@1"] == pytest.approx(0.0) and res["rayiou@2"] > 90 and res["rayiou@4"] == pytest.approx(100.0)
    assert res["rayiou"] == pytest.approx((res["rayiou@1"] + res["rayiou@2"] + res["rayiou@4"]) / 3)
    r = RayIoU()
    r.add(gt, gt, [(0.0, 0.0, 1.0)], vs, (-40, -40, -1))
    assert r.result()["rayiou"] == pytest.approx(100.0)
    o = np.array([[0, 0, 0], [50, 0, 0]] + [[i, 0, 0] for i in range(1, 12)], float)
    assert len(select_origins(o)) == 8 and (np.abs(select_origins(o)[:, 0]) < 39).all()


def test_fscore_reference_definition():
    gt = np.full((20, 20, 4), 17, np.uint8)
    gt[5, 5:15, 1] = 11
    pred = gt.copy()
    pred[15, 5:15, 1] = 11  # 10 extra voxels 4 m away: accuracy 0.5, completeness 1
    f = FScore(threshold=0.4)
    acc, comp, fs = f.add(pred, gt, None, (0, 0, 0), (0.4, 0.4, 0.4))
    assert acc == pytest.approx(0.5) and comp == pytest.approx(1.0) and fs == pytest.approx(2 / 3, abs=1e-6)
    m = np.zeros(gt.shape, bool)
    m[:10] = True  # the mask hides the extra voxels
    assert FScore().add(pred, gt, m, (0, 0, 0), (0.4,) * 3)[2] == pytest.approx(1.0, abs=1e-6)


def test_eval_cli_fscore_rayiou_per_frame_text_and_label_set_check(shared_data, tmp_path):
    gt = shared_data / OCC
    with np.load(gt) as z:
        sem = z["semantics"]
    p = np.roll(sem, 1, axis=0)
    np.savez(tmp_path / "pred.npz", p)
    r = cli("eval", "occupancy", "--pred", tmp_path / "pred.npz", "--gt", gt, "--fscore", "--rayiou", "--per-frame")
    assert r.returncode == 0, r.stderr
    assert "F-score" in r.stdout and "RayIoU" in r.stdout and "per frame:" in r.stdout and "pred.npz" in r.stdout
    r = cli("eval", "occupancy", "--pred", gt, "--gt", gt, "--rayiou", "--fscore", "--json")
    res = json.loads(r.stdout)
    assert res["rayiou"] == pytest.approx(100.0) and res["fscore"] == pytest.approx(100.0, abs=1e-4)
    # a label set that does not fit the files is refused, naming the file
    r = cli("eval", "occupancy", "--pred", gt, "--gt", gt, "--labels", "semantickitti")
    assert r.returncode == 2 and "labels.npz" in r.stderr and "occ3d classes" in r.stderr


def test_label_output_writes_invalid(shared_data, tmp_path):
    scan = shared_data / "semantickitti_00_000000" / "velodyne" / "000000.bin"
    out = tmp_path / "000000.label"
    r = cli("run", "occupancy", scan, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    inv = tmp_path / "000000.invalid"
    assert inv.stat().st_size == 256 * 256 * 32 // 8
    from scenelens.engine.io.semantickitti_voxels import read_ssc

    g = read_ssc(out)
    s = json.loads(r.stdout)
    assert int((~g.masks["invalid"]).sum()) == s["observed"]  # .invalid = not observed by any ray
