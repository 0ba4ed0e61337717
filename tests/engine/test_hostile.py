"""Hostile-input behaviours the fuzz suite counts, checked one by one with exact messages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scenelens.engine.errors import InputError
from scenelens.engine.io import load
from scenelens.engine.io.limits import allow_outside_paths, check_zip, json_depth, load_json, memory_budget, outside_paths

ROOT = Path(__file__).resolve().parents[2]


def _ply(path: Path, pts: np.ndarray) -> Path:
    from scenelens.engine.io.pointcloud import write_ply
    from scenelens.engine.scene import PointCloud

    write_ply(path, PointCloud(name="c", points=pts))
    return path


def test_nan_points_dropped_with_a_count(tmp_path, caplog):
    pts = np.random.default_rng(0).normal(size=(100, 3))
    pts[:7] = np.nan
    p = tmp_path / "c.ply"
    _ply(p, pts)
    with caplog.at_level("WARNING", "scenelens.io"):
        s = load(p)
    assert s.layers[0].n == 93
    assert any("dropped 7 of 100 points" in r.getMessage() and "c.ply" in r.getMessage() for r in caplog.records)
    _ply(p, np.full((5, 3), np.inf))
    with pytest.raises(InputError, match="none of its 5 points has finite coordinates"):
        load(p)


def test_manifest_fields_cycles_bom_and_paths(tmp_path):
    _ply(tmp_path / "cloud.ply", np.zeros((4, 3)) + np.arange(4)[:, None])
    m = tmp_path / "scene.json"
    m.write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "cloud.ply"}], "frames": [5]}))
    with pytest.raises(InputError, match=r"field frames\.0"):
        load(m)
    m.write_text("\ufeff" + json.dumps({"scenelens_scene": 1, "layers": [{"path": "cloud.ply"}]}), encoding="utf-8")
    assert load(m).layers[0].n == 4
    (tmp_path / "b.json").write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "scene.json"}]}))
    m.write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "b.json"}]}))
    with pytest.raises(InputError, match=r"cycle \(scene.json → b.json → scene.json\)"):
        load(m)
    sub = tmp_path / "sub"
    sub.mkdir()
    inner = sub / "scene.json"
    inner.write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "../cloud.ply"}]}))
    with pytest.raises(InputError, match="leaves the folder of this file") as e:
        load(inner)
    assert str(inner) in str(e.value)
    with outside_paths(True):
        assert load(inner).layers[0].n == 4
    inner.write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "/proc/self/environ"}]}))
    with outside_paths(True), pytest.raises(InputError, match="system or device file"):
        load(inner)
    import threading

    allow_outside_paths(True)  # the session's choice holds on worker threads too (jobs load there)
    try:
        got = []
        t = threading.Thread(target=lambda: got.append(load(inner.with_name("ok.json")).layers[0].n))
        inner.with_name("ok.json").write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "../cloud.ply"}]}))
        t.start()
        t.join()
        assert got == [4]
    finally:
        allow_outside_paths(None)
    with pytest.raises(InputError, match="leaves the folder"):
        load(inner.with_name("ok.json"))


def test_json_depth_and_zip_bomb_refused_before_inflating(tmp_path, monkeypatch):
    assert json_depth('{"a": [[["]]]]"]]]}') == 4  # brackets inside strings do not count
    p = tmp_path / "deep.json"
    p.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(InputError, match="nested 5000 levels deep"):
        load_json(p)
    monkeypatch.setenv("SCENELENS_MAX_MEMORY", "64M")
    assert memory_budget() == 64 << 20
    z = tmp_path / "labels.npz"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("semantics.npy", "w", force_zip64=True) as f:
        f.write(b"\x93NUMPY\x01\x00v\x00" + b"{'descr': '|u1', 'fortran_order': False, 'shape': (2048, 2048, 32), }"
                .ljust(117) + b"\n")
        f.write(bytes(2048 * 2048 * 32))
    assert z.stat().st_size < 1 << 20
    with pytest.raises(InputError, match="over the memory budget"):
        check_zip(z)
    with pytest.raises(InputError, match="over the memory budget"):
        load(z)


def test_device_files_and_fifos_refused(tmp_path):
    link = tmp_path / "scan.bin"
    os.symlink("/dev/zero", link)
    with pytest.raises(InputError, match="system and device files are never opened"):
        load(link)
    fifo = tmp_path / "pipe.ply"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="a FIFO"):
        load(fifo)


def test_unwritable_folder_is_an_input_error(tmp_path):
    from scenelens.engine.atomic import write_text

    if os.geteuid() == 0:  # root writes anywhere: use a path under a regular file instead
        target = tmp_path / "afile" / "x.txt"
        (tmp_path / "afile").write_text("")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "x.txt"
    with pytest.raises(InputError, match="cannot write here"):
        write_text(target, "x")


def _cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", VTK_DEFAULT_OPENGL_WINDOW="vtkEGLRenderWindow")
    return subprocess.run([sys.executable, "main.py", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


def test_render_refuses_missing_out_folder_and_blank_clouds(tmp_path):
    p = _ply(tmp_path / "nan.ply", np.full((20, 3), np.nan))
    r = _cli("render", p, "--out", tmp_path / "o.png")
    assert r.returncode == 2 and "none of its 20 points has finite coordinates" in r.stderr, r.stderr
    assert not (tmp_path / "o.png").exists()
    ok = _ply(tmp_path / "ok.ply", np.random.default_rng(1).normal(size=(50, 3)))
    r = _cli("render", ok, "--out", tmp_path / "missing" / "o.png")
    assert r.returncode == 2 and "output folder" in r.stderr and "does not exist" in r.stderr, r.stderr
    assert not (tmp_path / "missing").exists()
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "scene.json").write_text(json.dumps({"scenelens_scene": 1, "layers": [{"path": "../ok.ply"}]}))
    r = _cli("render", sub / "scene.json", "--out", tmp_path / "o.png")
    assert r.returncode == 2 and "--allow-outside-paths" in r.stderr, r.stderr
    r = _cli("render", sub / "scene.json", "--out", tmp_path / "o.png", "--allow-outside-paths")
    assert r.returncode == 0 and (tmp_path / "o.png").stat().st_size > 0, r.stderr


def test_gpu_neighbour_chunks_are_sized_by_memory(monkeypatch):
    from scenelens.engine.geometry import rows_per_chunk

    assert rows_per_chunk(2_000_000, 4, 2048) == (1 << 30) // (2_000_000 * 4 * 3)  # 44 rows, not 2,048 (16 GiB)
    assert rows_per_chunk(1000, 4, 2048) == 2048  # small clouds keep the requested chunk
    monkeypatch.setenv("SCENELENS_GPU_CHUNK_BYTES", str(64 * 1000 * 4 * 3))
    assert rows_per_chunk(1000, 4, 2048) == 64
    monkeypatch.setenv("SCENELENS_GPU_CHUNK_BYTES", "1")
    assert rows_per_chunk(10**9, 8, 2048) == 1  # never zero rows
