"""Headless commands: version, render, run, and one-line errors with exit 2 for bad input."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _no_traceback(r):
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "WARN" not in ln and ln.strip()]
    assert len(lines) == 1, r.stderr


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("SceneLens ")


def test_unknown_task_and_missing_file_exit_2(tmp_path):
    r = cli("run", "nosuchtask", "x")
    assert r.returncode == 2 and "unknown task 'nosuchtask'" in r.stderr
    _no_traceback(r)
    r = cli("render", tmp_path / "missing.ply", "--out", tmp_path / "o.png")
    assert r.returncode == 2 and "missing.ply" in r.stderr
    _no_traceback(r)
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\nformat ascii 1.0\nelement vertex 2\nproperty float x\nend_header\n")
    r = cli("render", bad, "--out", tmp_path / "o.png")
    assert r.returncode == 2 and "bad.ply" in r.stderr
    _no_traceback(r)
    r = cli("render", bad, "--out", tmp_path / "o.png", "--size", "big")
    assert r.returncode == 2


def test_render_demo_scene_in_colour(tmp_path):
    from scenelens.engine.io.image import read_image

    out = tmp_path / "shot.png"
    r = cli("render", ROOT / "assets/demo/scene.json", "--out", out, "--size", "640x400")
    assert r.returncode == 0, r.stderr
    img = read_image(out)
    assert img.shape == (400, 640, 3)
    # background is a dark blue-grey gradient; the scan adds many bright pixels and the
    # annotated objects and camera frustums add saturated colours
    bright = (img.max(2) > 120).mean()
    sat = ((img.max(2).astype(int) - img.min(2)) > 80).mean()
    assert bright > 0.02 and sat > 0.001, (bright, sat)


def test_render_semantickitti_classes(tmp_path, shared_data):
    from scenelens.engine.io.image import read_image
    from scenelens.engine.labels import get_label_set

    out = tmp_path / "sk.png"
    r = cli("render", shared_data / "semantickitti_00_000000/velodyne/000000.bin", "--out", out,
            "--size", "500x400", "--view", "top")
    assert r.returncode == 0, r.stderr
    img = read_image(out).reshape(-1, 3).astype(int)
    ls = get_label_set("semantickitti")
    # the road (magenta) and vegetation (green) class colours must be drawn exactly
    for cid in (9, 15):
        hits = (np.abs(img - ls.colors[cid].astype(int)).sum(1) <= 3).sum()
        assert hits > 500, (ls.names[cid], hits)


def test_run_preprocess(tmp_path, shared_data):
    out = tmp_path / "down.ply"
    r = cli("run", "preprocess", shared_data / "kitti_000008/000008.bin", "--voxel", "0.5", "--out", out,
            "--json", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert 0 < s["output_points"] < s["input_points"] == 17238 and out.exists()
