"""`eval registration --dataset` (issue 12 §2) on synthetic benchmark folders written in tmp_path: a 3DMatch-style
scene (fragments, gt.log, gt.info) and a KITTI-odometry-style sequence (velodyne/*.bin, poses.txt)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scenelens.engine.io.registration_formats import write_gt_log
from scenelens.engine.registration import metrics as M
from scenelens.engine.registration.dataset import kitti_pairs
from scenelens.engine.registration.kabsch import random_transform

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


# ------------------------------------------------------------------------------------------- nuScenes layout

@pytest.fixture(scope="module")
def nuscenes_drive():
    from .street import nuscenes_sequence

    xs = np.arange(0, 25.1, 5.0)  # 2 Hz keyframes at 10 m/s
    return nuscenes_sequence(make_street(3), xs, seed=3)


def _cli(*args, timeout=900):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env=ENV, timeout=timeout)


def test_lidar_sequence_readers_give_sensor_to_global_poses(tmp_path, nuscenes_drive):
    """Devkit tables and an mmdet3d info file describe the same sweeps: pose = ego2global · lidar2ego, keyframes
    of LIDAR_TOP only (the camera record and the non-keyframe sweep are left out), in time order."""
    from scenelens.engine.io.registration_formats import read_lidar_sequence

    from .street import write_nuscenes_devkit, write_nuscenes_info

    sweeps, egos, l2e = nuscenes_drive
    write_nuscenes_devkit(tmp_path / "nus", sweeps, egos, l2e)
    (tmp_path / "info").mkdir()
    write_nuscenes_info(tmp_path / "info" / "nuscenes_infos_val.pkl", sweeps, egos, l2e)
    for src in (tmp_path / "nus", tmp_path / "info" / "nuscenes_infos_val.pkl", tmp_path / "info"):
        fr = read_lidar_sequence(src)
        assert len(fr) == len(sweeps), src
        for f, E in zip(fr, egos):
            np.testing.assert_allclose(f.pose, E @ l2e, atol=1e-9)
            assert f.path.exists() and f.columns == 5
        # the sweep is in the LiDAR frame: moved by its pose it lands on the world's ground (z ≈ 0) and walls
        pts = np.fromfile(fr[0].path, np.float32).reshape(-1, 5)[:, :3].astype(float)
        world = pts @ fr[0].pose[:3, :3].T + fr[0].pose[:3, 3]
        assert np.mean(np.abs(world[:, 2]) < 0.1) > 0.2
    # the mmdet3d v1.0 layout: `infos` with translations and wxyz quaternions
    import pickle

    from .street import _quat_wxyz

    old = [{"token": f"t{k}", "timestamp": k, "lidar_path": f"./data/nuscenes/samples/LIDAR_TOP/info_sweep_{k:02d}.pcd.bin",
            "lidar2ego_translation": list(l2e[:3, 3]), "lidar2ego_rotation": _quat_wxyz(l2e[:3, :3]),
            "ego2global_translation": np.asarray(E[:3, 3]), "ego2global_rotation": _quat_wxyz(E[:3, :3])}
           for k, E in enumerate(egos)]
    (tmp_path / "info" / "old_infos.pkl").write_bytes(pickle.dumps({"infos": old, "metadata": {"version": "v1.0"}}))
    fr = read_lidar_sequence(tmp_path / "info" / "old_infos.pkl")
    assert [f.path.name for f in fr] == [f"info_sweep_{k:02d}.pcd.bin" for k in range(len(egos))]
    for f, E in zip(fr, egos):
        np.testing.assert_allclose(f.pose, E @ l2e, atol=1e-9)


def test_eval_dataset_nuscenes_devkit_sequence(tmp_path, nuscenes_drive):
    from scenelens.engine.registration.dataset import first_beyond_pairs

    from .street import write_nuscenes_devkit

    sweeps, egos, l2e = nuscenes_drive
    root = tmp_path / "nuscenes"
    write_nuscenes_devkit(root, sweeps, egos, l2e)
    out = tmp_path / "nus.json"
    p = _cli("eval", "registration", "--dataset", root, "--json", "--device", "cpu", "--out", out)
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    pos = np.array([(E @ l2e)[:3, 3] for E in egos])
    want = first_beyond_pairs(pos, 10.0)
    assert len(want) == 2 and [r["pair"] for r in rep["pairs"]] == [f"{a}_{b}" for a, b in want]
    for a, b in want:
        assert np.linalg.norm(pos[b] - pos[a]) >= 10.0
    # without --preset the nuScenes preset runs, scored at the outdoor thresholds
    assert rep["preset"] == "nuscenes" and rep["layout"] == "nuscenes" and rep["keyframes"] == len(sweeps)
    assert rep["summary"]["thresholds"] == {"rotation_deg": 5.0, "translation_cm": 60.0}
    # every row is scored against the relative sensor pose inv(L_b)·L_a, L = ego2global·lidar2ego: recompute
    # RE/TE from the transforms in the results file beside --out with the ground truth built here
    done = {}
    for line in (tmp_path / "nus.json.items.jsonl").read_text().splitlines()[1:]:
        rec = json.loads(line)
        done[rec["key"]] = rec["result"]
    L = [E @ l2e for E in egos]
    for a, b in want:
        row = next(r for r in rep["pairs"] if r["pair"] == f"{a}_{b}")
        re, te = M.transform_errors(np.asarray(done[f"{a}_{b}"]["transform"]), np.linalg.inv(L[b]) @ L[a])
        assert abs(re - row["rotation_error_deg"]) < 1e-9 and abs(te - row["translation_error_cm"]) < 1e-9
        assert row["success"] == (re < 5 and te < 60)
    ok = [r for r in rep["pairs"] if r["success"]]
    assert len(ok) >= 1, rep["pairs"]  # a wrong ground-truth direction would fail every pair
    assert abs(rep["summary"]["registration_recall"] - len(ok) / len(want)) < 1e-12
    assert abs(rep["summary"]["mean_translation_error_cm"] - np.mean([r["translation_error_cm"] for r in ok])) < 1e-9
    js = json.loads(out.read_text())
    assert js["summary"] == rep["summary"]
    # the text table: one row per pair and the recall line
    p = _cli("eval", "registration", "--dataset", root, "--device", "cpu", "--out", out)
    assert p.returncode == 0, p.stderr
    assert f"registration recall {rep['summary']['registration_recall']:.3f} at 5°/60 cm" in p.stdout
    assert f"{want[0][0]}_{want[0][1]}" in p.stdout


def test_eval_dataset_nuscenes_info_pkl_and_bad_inputs(tmp_path, nuscenes_drive):
    from .street import write_nuscenes_info

    sweeps, egos, l2e = nuscenes_drive
    pkl = tmp_path / "nuscenes_infos_val.pkl"
    write_nuscenes_info(pkl, sweeps[:3], egos[:3], l2e)
    p = _cli("eval", "registration", "--dataset", pkl, "--json", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout.strip().splitlines()[-1])
    assert rep["layout"] == "nuscenes" and [r["pair"] for r in rep["pairs"]] == ["0_2"]
    # an info file whose unpickling would run code: refused, one line, exit 2
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cos\nsystem\n(S'echo hacked'\ntR.")
    p = _cli("eval", "registration", "--dataset", evil)
    assert p.returncode == 2 and "evil.pkl" in p.stderr and "not allowed" in p.stderr
    assert "Traceback" not in p.stderr and "hacked" not in p.stdout
    # a sequence whose keyframes never get 10 m apart
    short = tmp_path / "short.pkl"
    write_nuscenes_info(short, sweeps[:2], egos[:2], l2e)
    p = _cli("eval", "registration", "--dataset", short)
    assert p.returncode == 2 and "no keyframe pairs ≥ 10 m apart" in p.stderr and "Traceback" not in p.stderr


# ------------------------------------------------------------------------------------------- 3DLoMatch pair lists

def _pairlist(tmp_path: Path, style: str):
    """Three fragments of one room as .pth (torch.save of numpy arrays, as Predator/GeoTransformer ship 3DMatch)
    under data/test/<scene>/, and a pair list in the given style; returns (pkl, data root, {key: T_gt})."""
    import pickle

    import torch

    rng = np.random.default_rng(5)
    scene = "7-scenes-redkitchen"
    d = tmp_path / "data" / "test" / scene
    d.mkdir(parents=True)
    poses = [np.eye(4)] + [random_transform(rng, 40, 0.4) for _ in range(2)]  # fragment → world
    for k, P in enumerate(poses):
        pts = room(np.random.default_rng(20 + k), 6000)
        torch.save(((pts - P[:3, 3]) @ P[:3, :3]).astype(np.float32), d / f"cloud_bin_{k}.pth")
    pairs = [(1, 0), (2, 0), (2, 1)]  # (source, target)
    gts = {f"{scene}/cloud_bin_{s}_cloud_bin_{t}": np.linalg.inv(poses[t]) @ poses[s] for s, t in pairs}
    rel = [(f"test/{scene}/cloud_bin_{s}.pth", f"test/{scene}/cloud_bin_{t}.pth") for s, t in pairs]
    T = list(gts.values())
    if style == "predator":
        obj = {"src": [a for a, _ in rel], "tgt": [b for _, b in rel], "rot": np.stack([g[:3, :3] for g in T]),
               "trans": np.stack([g[:3, 3:] for g in T]), "overlap": np.array([0.25, 0.18, 0.12])}
    else:  # GeoTransformer: pcd0 is the reference (target), pcd1 the source
        obj = [{"scene_name": scene, "frag_id0": t, "frag_id1": s, "overlap": o, "pcd0": b, "pcd1": a,
                "rotation": g[:3, :3], "translation": g[:3, 3]}
               for (s, t), (a, b), g, o in zip(pairs, rel, T, (0.25, 0.18, 0.12))]
    pkl = tmp_path / "3DLoMatch.pkl"
    pkl.write_bytes(pickle.dumps(obj))
    return pkl, tmp_path / "data", gts


def test_pair_list_reader_both_styles_give_source_to_target(tmp_path):
    from scenelens.engine.io.registration_formats import read_pair_list, read_pth_points

    for style in ("predator", "geotransformer"):
        pkl, root, gts = _pairlist(tmp_path / style, style)
        rows = read_pair_list(pkl)
        assert [r["overlap"] for r in rows] == [0.25, 0.18, 0.12]
        for r, (key, T) in zip(rows, gts.items()):
            np.testing.assert_allclose(r["gt"], T, atol=1e-6)
            src = read_pth_points(root / r["source"])
            tgt = read_pth_points(root / r["target"])
            # the ground truth maps the source fragment onto the target fragment (same room points)
            moved = src @ r["gt"][:3, :3].T + r["gt"][:3, 3]
            from scipy.spatial import cKDTree

            assert np.median(cKDTree(tgt).query(moved)[0]) < 0.05, (style, key)


def test_eval_dataset_3dlomatch_pkl_serial_equals_two_ray_workers(tmp_path):
    pkl, root, gts = _pairlist(tmp_path, "predator")
    outs = []
    for extra in ((), ("--workers", "2")):
        p = _cli("eval", "registration", "--dataset", pkl, "--data-root", root, "--json", "--device", "cpu",
                 "--out", tmp_path / f"r{len(extra)}.json", *extra)
        assert p.returncode == 0, p.stderr
        outs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    s, r = outs
    assert s["run"]["backend"] == "serial" and r["run"]["backend"] == "ray" and r["run"]["workers"] == 2
    assert [x["pair"] for x in s["pairs"]] == list(gts)
    strip = lambda rows: [{k: v for k, v in x.items() if k != "seconds"} for x in rows]  # noqa: E731
    assert strip(s["pairs"]) == strip(r["pairs"])  # the same numbers, whatever order the workers finished in
    assert {k: v for k, v in s["summary"].items() if k != "mean_seconds"} == \
        {k: v for k, v in r["summary"].items() if k != "mean_seconds"}
    summ = s["summary"]
    assert summ["registration_recall"] == 1.0 and summ["official_recall"] == 1.0 and summ["official_pairs"] == 3
    assert summ["thresholds"] == {"rotation_deg": 15.0, "translation_cm": 30.0}
    assert abs(summ["mean_overlap"] - np.mean([0.25, 0.18, 0.12])) < 1e-9
    for row in s["pairs"]:
        assert row["rmse"] < 0.2 and row["success_official"] and "overlap" in row
    # a fragment path that leaves the data root is refused with one line
    import pickle

    bad = tmp_path / "bad.pkl"
    obj = pickle.loads(pkl.read_bytes())
    obj["src"][0] = "../../../etc/passwd"
    bad.write_bytes(pickle.dumps(obj))
    p = _cli("eval", "registration", "--dataset", bad, "--data-root", root)
    assert p.returncode == 2 and "leaves the folder" in p.stderr and "Traceback" not in p.stderr


def test_3dlomatch_scene_with_pth_fragments_and_gt_log_elsewhere(tmp_path):
    """Predator's layout: benchmarks/3DLoMatch/<scene>/gt.log + gt.info, fragments data/test/<scene>/*.pth —
    `--dataset FRAGMENTS --gt BENCH/gt.log` picks gt.info beside gt.log and reads the .pth fragments."""
    import torch

    from scenelens.engine.registration.dataset import _load_points, dataset_items

    frag = tmp_path / "data" / "test" / "scene"
    bench = tmp_path / "benchmarks" / "3DLoMatch" / "scene"
    frag.mkdir(parents=True)
    bench.mkdir(parents=True)
    pts = np.random.default_rng(0).uniform(0, 1, (100, 3)).astype(np.float32)
    for k in range(3):
        torch.save(pts + k, frag / f"cloud_bin_{k}.pth")
    entries = {(0, 2): random_transform(np.random.default_rng(1), 30, 0.2)}
    write_gt_log(bench / "gt.log", entries, 3)
    (bench / "gt.info").write_text("0\t2\t3\n" + "\n".join("\t".join("1" if i == j else "0" for j in range(6))
                                                         for i in range(6)) + "\n")
    layout, items, meta, official = dataset_items(frag, {"p": 1}, gt=bench / "gt.log")
    assert layout == "3dmatch" and meta["gt_info"] == str(bench / "gt.info")
    (key, args), = items
    assert key == "0_2" and args[0].endswith("cloud_bin_2.pth") and args[1].endswith("cloud_bin_0.pth")
    np.testing.assert_allclose(args[2], entries[(0, 2)])
    assert args[4] is not None and args[5] is True and args[6]["protocol"] == "3dmatch" and official == {"0_2"}
    np.testing.assert_allclose(_load_points(args[0]), pts + 2)
