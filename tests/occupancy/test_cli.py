"""The occupancy CLI end to end: eval (files, folders, JSON, exit codes), run (scans, adapter), render."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
OCC = "occ3d_nuscenes_sample/labels.npz"


def cli(*args, timeout=240):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_eval_folder_json_equals_accumulated_reference(shared_data, tmp_path):
    with np.load(shared_data / OCC) as z:
        gt, cam = z["semantics"], z["mask_camera"].astype(bool)
    rng = np.random.default_rng(5)
    (tmp_path / "gts").mkdir()
    (tmp_path / "preds").mkdir()
    hist = np.zeros((18, 18), np.int64)
    for i in range(6):  # more frames than the reader's look-ahead window
        tok = f"token{i}"
        (tmp_path / "gts" / "scene-0001" / tok).mkdir(parents=True)
        g = np.roll(gt, i, axis=1)
        m = np.roll(cam, i, axis=1)
        np.savez_compressed(tmp_path / "gts" / "scene-0001" / tok / "labels.npz", semantics=g,
                            mask_camera=m.astype(np.uint8), mask_lidar=m.astype(np.uint8))
        p = g.copy()
        f = rng.random(g.shape) < 0.2
        p[f] = rng.integers(0, 18, int(f.sum()))
        np.savez_compressed(tmp_path / "preds" / f"{tok}.npz", p)  # submission layout: arr_0
        hist += np.bincount(18 * g[m].astype(int) + p[m], minlength=324).reshape(18, 18)
    r = cli("eval", "occupancy", "--pred", tmp_path / "preds", "--gt", tmp_path / "gts", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"miou", "iou_geometry", "per_class"} <= set(out) and out["n_frames"] == 6
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.diag(hist) / (hist.sum(0) + hist.sum(1) - np.diag(hist))
    assert out["miou"] == pytest.approx(100 * np.nanmean(iou[:17]), abs=1e-9)
    # human-readable output and the CSV export
    r = cli("eval", "occupancy", "--pred", tmp_path / "preds", "--gt", tmp_path / "gts", "--csv", tmp_path / "m.csv")
    assert r.returncode == 0 and "mIoU" in r.stdout and "driveable_surface" in r.stdout
    assert "mIoU" in (tmp_path / "m.csv").read_text()


def test_eval_bad_input_exit_2(shared_data, tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    r = cli("eval", "occupancy", "--pred", bad, "--gt", shared_data / OCC)
    assert r.returncode == 2 and "broken.npz" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "p").mkdir()
    (tmp_path / "g").mkdir()
    np.savez(tmp_path / "g" / "a.npz", semantics=np.zeros((200, 200, 16), np.uint8))
    r = cli("eval", "occupancy", "--pred", tmp_path / "p", "--gt", tmp_path / "g")
    assert r.returncode == 2 and "no prediction" in r.stderr


def test_run_semantickitti_then_eval_self(shared_data, tmp_path):
    scan = shared_data / "semantickitti_00_000000" / "velodyne" / "000000.bin"
    out = tmp_path / "voxels" / "000000.label"
    r = cli("run", "occupancy", scan, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["grid"] == "semantickitti" and s["occupied"] > 5000 and s["observed"] > s["occupied"]
    assert out.stat().st_size == 256 * 256 * 32 * 2
    r = cli("eval", "occupancy", "--pred", out, "--gt", out, "--labels", "semantickitti", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["iou_geometry"] == pytest.approx(100.0)
    present = [v for v in res["per_class"].values() if v > 0]
    assert all(v == pytest.approx(100.0) for v in present) and len(present) >= 8


ADAPTER = '''
import numpy as np
import torch

class CameraBrightness:
    """A toy 'model': occupies the ground row in front of each camera whose image is bright enough."""
    def load(self, spec, device):
        self.net = torch.nn.Identity()
    def predict(self, inputs, progress, cancel):
        spec = inputs["grid"]
        rig = [l for l in inputs["scene"].layers if l.kind == "cameras"][0]
        out = np.full(spec.shape, spec.free_label, np.uint8)
        for i, cam in enumerate(rig.cameras):
            if float(self.net(torch.as_tensor(cam.image, dtype=torch.float32)).mean()) > 20:
                out[100 + i, 100, 0] = 11
            progress((i + 1) / len(rig.cameras), cam.name)
        return {"labels": torch.as_tensor(out), "scores": np.full(spec.shape, 0.9, np.float32)}
'''


def test_run_user_adapter_on_cameras(shared_data, tmp_path):
    (tmp_path / "my_adapter.py").write_text(ADAPTER)
    pkl = shared_data / "nuscenes_sample" / "n015-2018-07-24-11-22-45+0800.pkl"
    out = tmp_path / "pred.npz"
    r = cli("run", "occupancy", pkl, "--out", out, "--model", tmp_path / "my_adapter.py", "--json")
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        assert (z["semantics"] == 11).sum() == 6 and z["scores"].max() == pytest.approx(0.9)


def test_run_nuscenes_and_render(shared_data, tmp_path):
    pkl = shared_data / "nuscenes_sample" / "n015-2018-07-24-11-22-45+0800.pkl"
    out = tmp_path / "nus.npz"
    r = cli("run", "occupancy", pkl, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["class_counts"].get("4", 0) > 0
    shot = tmp_path / "shot.png"
    r = cli("render", shared_data / OCC, "--out", shot)
    assert r.returncode == 0, r.stderr
    import cv2

    img = cv2.imread(str(shot))[:, :, ::-1]
    from tests.conftest import colourful_fraction

    assert colourful_fraction(img) > 0.05  # class colours drawn, not an empty background


@pytest.mark.parametrize("opts, word", [
    (["--voxel-size", "-1"], "voxel size"),
    (["--voxel-size", "0"], "voxel size"),
    (["--shape", "0", "0", "0"], "shape"),
    (["--shape", "100", "100", "0"], "shape"),
    (["--shape", "100000", "100000", "100"], "voxels"),
    (["--origin", "nan", "0", "0"], "origin"),
])
def test_run_bad_grid_geometry_exit_2_one_line(shared_data, tmp_path, opts, word):
    """A custom grid that cannot hold a voxel is refused (it used to write an empty 0-voxel grid, exit 0)."""
    scan = shared_data / "semantickitti_00_000000" / "velodyne" / "000000.bin"
    out = tmp_path / "x.npz"
    r = cli("run", "occupancy", scan, "--out", out, "--grid", "semantickitti", *opts)
    err = [ln for ln in r.stderr.splitlines() if ln.strip() and "X server" not in ln]
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert len(err) == 1 and word in err[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X/EGL window selection is Linux-only")
def test_headless_figure_and_render_print_no_x_warning(shared_data, tmp_path):
    """Without a display `figure` and `render` used to print VTK's yellow 'bad X server connection' warning
    on every run (VTK then falls back to EGL and renders fine)."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for verb in ("figure", "render"):
        out = tmp_path / f"{verb}.png"
        r = subprocess.run([sys.executable, str(ROOT / "main.py"), verb, str(shared_data / OCC), "--out", str(out),
                            "--size", "320x200"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=240)
        assert r.returncode == 0, r.stderr
        assert "X server" not in r.stderr and "WARN" not in r.stderr, r.stderr
        assert out.stat().st_size > 1000


def test_eval_refuses_grids_of_other_voxel_size(shared_data, tmp_path):
    """A SurroundOcc list (0.5 m voxels, same 200×200×16 shape) scored against an Occ3D grid (0.4 m) was
    compared voxel by voxel (mIoU 0.00, exit 0); the same list against itself still scores."""
    with np.load(shared_data / OCC) as z:
        sem = z["semantics"]
    occ = np.argwhere((sem != 17) & (sem != 255))
    lst = np.concatenate([occ, sem[tuple(occ.T)][:, None].clip(1, 16)], 1).astype(np.int64)
    np.save(tmp_path / "so.npy", lst)
    r = cli("eval", "occupancy", "--pred", tmp_path / "so.npy", "--gt", shared_data / OCC)
    assert r.returncode == 2 and "Traceback" not in r.stderr, (r.returncode, r.stdout, r.stderr)
    assert "0.5 m" in r.stderr and "0.4 m" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = cli("eval", "occupancy", "--pred", tmp_path / "so.npy", "--gt", tmp_path / "so.npy", "--labels", "surroundocc", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["iou_geometry"] == pytest.approx(100.0)


def test_run_sequence_summary_counts_ignore_voxels(shared_data, tmp_path):
    """The nuScenes sample has no lidarseg: the summary said '222 occupied voxels' for a grid with 5,587
    occupied (5,365 of them class unknown)."""
    out = tmp_path / "gt.npz"
    r = cli("run", "occupancy", shared_data / "nuscenes_sample" / "n015-2018-07-24-11-22-45+0800.pkl", "--out", out)
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        sem = z["semantics"]
    ign, cls = int((sem == 255).sum()), int(((sem != 17) & (sem != 255)).sum())
    assert ign > 0
    assert f"{cls:,} occupied voxels with a class, {ign:,} more occupied with class unknown (255)" in r.stdout, r.stdout
