"""`eval occupancy --dataset` on the dataset runner: Ray with 2 workers gives exactly the serial numbers (and the
reference confusion-matrix sum), a broken frame is reported without stopping the rest, a rerun resumes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (200, 200, 16)


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def make_frames(root: Path, n: int = 20, seed: int = 3) -> np.ndarray:
    """n Occ3D frames (gts/scene/token/labels.npz, preds/token.npz); returns the reference hist[gt, pred]."""
    rng = np.random.default_rng(seed)
    hist = np.zeros((18, 18), np.int64)
    for i in range(n):
        tok = f"tok{i:02d}"
        d = root / "gts" / f"scene-{i % 3:04d}" / tok
        d.mkdir(parents=True)
        g = np.full(SHAPE, 17, np.uint8)
        g[:, :, :3] = rng.integers(0, 17, (50, 50, 1), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
        cam = np.zeros(SHAPE, bool)
        cam[20 + i:180, 10:190, :8] = True
        np.savez_compressed(d / "labels.npz", semantics=g, mask_camera=cam.astype(np.uint8),
                            mask_lidar=cam.astype(np.uint8))
        p = g.copy()
        f = rng.random(SHAPE) < 0.02
        p[f] = rng.integers(0, 18, int(f.sum()))
        (root / "preds").mkdir(exist_ok=True)
        np.savez_compressed(root / "preds" / f"{tok}.npz", semantics=p)
        hist += np.bincount(18 * g[cam].astype(int) + p[cam], minlength=324).reshape(18, 18)
    return hist


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    root = tmp_path_factory.mktemp("occ_dataset")
    return root, make_frames(root)


def test_ray_two_workers_equal_serial_and_reference(frames, tmp_path):
    root, hist = frames
    r1 = cli("eval", "occupancy", "--dataset", root, "--json", "--out", tmp_path / "serial.json")
    assert r1.returncode == 0, r1.stderr
    r2 = cli("eval", "occupancy", "--dataset", root, "--json", "--workers", "2", "--out", tmp_path / "ray.json")
    assert r2.returncode == 0, r2.stderr
    s, r = json.loads(r1.stdout), json.loads(r2.stdout)
    assert s["run"]["backend"] == "serial" and r["run"]["backend"] == "ray" and r["run"]["workers"] == 2
    assert s["n_frames"] == r["n_frames"] == 20 and s["n_voxels"] == int(hist.sum())
    for k in ("miou", "iou_geometry", "per_class", "n_voxels"):
        assert s[k] == r[k], k  # identical, not approximately equal
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.diag(hist) / (hist.sum(0) + hist.sum(1) - np.diag(hist))
    assert s["miou"] == pytest.approx(100 * np.nanmean(iou[:17]), abs=1e-9)
    assert json.loads((tmp_path / "ray.json").read_text())["miou"] == r["miou"]
    # the single-process folder evaluation agrees too
    r3 = cli("eval", "occupancy", "--pred", root / "preds", "--gt", root / "gts", "--json")
    assert json.loads(r3.stdout)["miou"] == s["miou"]


def test_failing_frames_reported_rest_scored_then_resume(frames, tmp_path):
    src, _ = frames
    root = tmp_path / "ds"
    import shutil

    shutil.copytree(src, root)
    (root / "preds" / "tok05.npz").write_bytes(b"PK\x03\x04 not a zip")
    (root / "preds" / "tok07.npz").unlink()
    out = tmp_path / "m.json"
    r = cli("eval", "occupancy", "--dataset", root, "--json", "--out", out)
    assert r.returncode == 1, r.stderr
    res = json.loads(r.stdout)
    assert res["n_frames"] == 18 and set(res["failed"]) == {"tok05", "tok07"}
    assert "tok05 failed" in r.stderr and "tok05.npz" in r.stderr and "no prediction" in r.stderr
    lines = (tmp_path / "m.json.items.jsonl").read_text().splitlines()
    assert len(lines) == 21 and "config" in json.loads(lines[0])
    # fix one frame; the rerun skips the 18 finished frames and retries only the failures
    shutil.copy(src / "preds" / "tok07.npz", root / "preds" / "tok07.npz")
    r = cli("eval", "occupancy", "--dataset", root, "--json", "--out", out)
    res2 = json.loads(r.stdout)
    assert r.returncode == 1 and res2["run"]["resumed"] == 18 and res2["n_frames"] == 19
    assert set(res2["failed"]) == {"tok05"}
    # other options must not be mixed with the stored results
    r = cli("eval", "occupancy", "--dataset", root, "--mask", "lidar", "--out", out)
    assert r.returncode == 2 and "m.json.items.jsonl" in r.stderr and "Traceback" not in r.stderr
    r = cli("eval", "occupancy", "--dataset", root, "--mask", "lidar", "--out", out, "--no-resume", "--json")
    assert json.loads(r.stdout)["run"]["resumed"] == 0


def test_dataset_bad_input_exit_2(tmp_path):
    r = cli("eval", "occupancy", "--dataset", tmp_path)
    assert r.returncode == 2 and "gts" in r.stderr and "Traceback" not in r.stderr
    r = cli("eval", "occupancy", "--pred", tmp_path)
    assert r.returncode == 2 and "--gt" in r.stderr


def test_fscore_and_rayiou_on_ray_equal_single_process_eval(tmp_path):
    root = tmp_path / "ds"
    make_frames(root, 4, seed=9)
    flags = ("--fscore", "--rayiou", "--json")
    ref = cli("eval", "occupancy", "--pred", root / "preds", "--gt", root / "gts", *flags)
    assert ref.returncode == 0, ref.stderr
    r = cli("eval", "occupancy", "--dataset", root, "--workers", "2", *flags)
    assert r.returncode == 0, r.stderr
    a, b = json.loads(ref.stdout), json.loads(r.stdout)
    assert b["run"]["backend"] == "ray"
    for k in ("miou", "fscore", "fscore_accuracy", "fscore_completeness", "rayiou", "rayiou@1", "rayiou@2",
              "rayiou@4", "rayiou_per_class"):
        assert a[k] == b[k], k
    assert 0 < b["rayiou"] <= 100 and 0 < b["fscore"] <= 100
