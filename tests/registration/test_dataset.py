"""`eval registration --dataset` (issue 12 §2) on synthetic benchmark folders written in tmp_path: a 3DMatch-style
scene (fragments, gt.log, gt.info) and a KITTI-odometry-style sequence (velodyne/*.bin, poses.txt)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from engine.io.registration_formats import write_gt_log
from engine.registration import metrics as M
from engine.registration.dataset import kitti_pairs
from engine.registration.kabsch import random_transform

from .helpers import room
from .street import drive, make_street

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def test_kitti_pairs_follow_the_fcgf_rule():
    x = np.arange(0, 30.1, 2.5)  # frames every 2.5 m
    pos = np.c_[x, np.zeros_like(x), np.zeros_like(x)]
    # first frame > 10 m from frame 0 is 5 (12.5 m); its predecessor 4 is the partner; restart at 5
    assert kitti_pairs(pos) == [(0, 4), (5, 9)]
    assert kitti_pairs(pos, min_dist=5) == [(0, 2), (3, 5), (6, 8), (9, 11)]
    # nothing 10 m ahead: no pair, the search moves on
    assert kitti_pairs(pos[:4]) == []


def _scene(tmp_path: Path):
    """Four fragments of one room in their own frames; fragment 3 is structureless noise (its pairs fail)."""
    rng = np.random.default_rng(0)
    world = room(rng, 6000)
    poses = [np.eye(4)] + [random_transform(rng, 30, 0.3) for _ in range(3)]  # fragment → world
    for k, P in enumerate(poses):
        pts = room(np.random.default_rng(10 + k), 6000) if k < 3 else rng.uniform(0, 3, (6000, 3))
        local = (pts - P[:3, 3]) @ P[:3, :3]
        np.save(tmp_path / f"cloud_bin_{k}.npy", local)
    del world
    pairs = [(0, 1), (0, 2), (1, 3)]
    entries = {(i, j): np.linalg.inv(poses[i]) @ poses[j] for i, j in pairs}  # M maps fragment j into i
    write_gt_log(tmp_path / "gt.log", entries, 4)
    info = "\n".join(f"{i}\t{j}\t4\n" + "\n".join("\t".join(f"{v:g}" for v in r) for r in np.diag([600.0] * 3 + [60.0] * 3))
                     for i, j in pairs)
    (tmp_path / "gt.info").write_text(info + "\n")
    return entries


def test_eval_dataset_3dmatch_scene_pair_and_official_recall(tmp_path):
    scene = tmp_path / "scene"
    scene.mkdir()
    entries = _scene(scene)
    out = tmp_path / "report.json"
    p = subprocess.run([sys.executable, "main.py", "eval", "registration", "--dataset", str(scene), "--out", str(out),
                        "--json", "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=600)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    rows = {r["pair"]: r for r in rep["pairs"]}
    assert set(rows) == {"0_1", "0_2", "1_3"}
    assert rows["0_1"]["success"] and rows["0_2"]["success"] and not rows["1_3"]["success"]
    s = rep["summary"]
    assert s["pairs"] == 3 and abs(s["registration_recall"] - 2 / 3) < 1e-9
    ok = [rows[k] for k in ("0_1", "0_2")]
    assert abs(s["mean_rotation_error_deg"] - np.mean([r["rotation_error_deg"] for r in ok])) < 1e-9
    # official protocol: only pairs with j − i > 1 (0_2 and 1_3), error from gt.info
    assert s["official_pairs"] == 2 and abs(s["official_recall"] - 0.5) < 1e-9
    assert rows["0_2"]["success_official"] and not rows["0_1"]["official_pair"]
    # the per-pair RE agrees with scoring the written transform independently
    js = json.loads(out.read_text())
    assert js["summary"] == s
    # a rerun resumes every pair from the results file beside --out, and the text table prints
    p = subprocess.run([sys.executable, "main.py", "eval", "registration", "--dataset", str(scene), "--out", str(out),
                        "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=600)
    assert p.returncode == 0, p.stderr
    assert "registration recall 0.667" in p.stdout and "official recall 0.500" in p.stdout
    assert json.loads(out.read_text())["run"]["resumed"] == 3
    # the gt direction: block "0 1" maps fragment 1 into 0, so source = 1, target = 0
    assert rows["0_1"]["rotation_error_deg"] < 5 and entries[(0, 1)].shape == (4, 4)


def test_eval_dataset_kitti_sequence(tmp_path):
    seq = tmp_path / "00"
    (seq / "velodyne").mkdir(parents=True)
    xs = np.arange(0, 25.1, 2.5)
    scans, poses = drive(make_street(1), xs, seed=1)
    for k, s in enumerate(scans):
        np.c_[s, np.zeros(len(s))].astype(np.float32).tofile(seq / "velodyne" / f"{k:06d}.bin")
    (seq / "poses.txt").write_text("\n".join(" ".join(f"{v:.9g}" for v in P[:3].ravel()) for P in poses) + "\n")
    p = subprocess.run([sys.executable, "main.py", "eval", "registration", "--dataset", str(seq), "--preset", "nuscenes",
                        "--json", "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=900)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    want = kitti_pairs(np.array([P[:3, 3] for P in poses]))
    assert len(want) == 2 and [r["pair"] for r in rep["pairs"]] == [f"{a}_{b}" for a, b in want]
    assert rep["summary"]["thresholds"] == {"rotation_deg": 5.0, "translation_cm": 60.0}
    assert rep["summary"]["registration_recall"] == 1.0, rep["pairs"]
    assert "poses taken as the clouds' frames" in rep["frame"]
    # bad folder: one line, exit 2
    p = subprocess.run([sys.executable, "main.py", "eval", "registration", "--dataset", str(tmp_path / "nope")],
                       cwd=ROOT, capture_output=True, text=True, env=ENV, timeout=300)
    assert p.returncode == 2 and "nope" in p.stderr
    assert M.THRESHOLDS["nuscenes"] == (5.0, 60.0)
