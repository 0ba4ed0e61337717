"""`export`: scenes and projects as Rerun recordings read back with rerun-sdk, voxel grids as meshes read back
with trimesh, bad input exit 2."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "assets" / "demo" / "scene.json"
OCC = "occ3d_nuscenes_sample/labels.npz"

rr = pytest.importorskip("rerun")
from tests.rrd_read import Recording  # noqa: E402


def cli(*args, timeout=240):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_demo_scene_to_rrd_reads_back(tmp_path):
    from scenelens.engine.io import load
    from scenelens.engine.scene import CameraRig, PointCloud

    scene = load(DEMO)
    pc = scene.of_type(PointCloud)[0]
    cams = scene.of_type(CameraRig)[0].cameras if scene.of_type(CameraRig) else []
    out = tmp_path / "demo.rrd"
    r = cli("export", DEMO, "--to", out, "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert out.stat().st_size == summary["bytes"] > 100_000
    rec = Recording(out)
    paths = rec.entities()
    ent = "/world/points/LIDAR_TOP_ego_frame"
    xyz = np.asarray(rec.static(ent, "Points3D:positions").values.values).reshape(-1, 3)
    assert xyz.shape == (pc.n, 3) and np.allclose(xyz, pc.points, atol=1e-4)
    assert len(rec.static(ent, "Points3D:class_ids").values) == pc.n  # classes under the occ3d annotation context
    assert "AnnotationContext:context" in rec.columns(ent)
    cam_paths = sorted(p for p in paths if p.startswith("/world/cameras/"))
    assert len(cam_paths) == len(cams) == 6
    for c in cams:
        e = f"/world/cameras/{c.name}"
        K = np.asarray(rec.static(e, "Pinhole:image_from_camera").values.values).reshape(3, 3).T  # column-major
        assert np.allclose(K, c.K, atol=1e-3)
        blob = np.asarray(rec.static(e, "EncodedImage:blob").values.values)
        assert blob.size == Path(c.image_path).stat().st_size  # the JPEG's own bytes
        tr = np.asarray(rec.static(e, "Transform3D:translation").values.values)
        assert np.allclose(tr, np.asarray(c.cam_to_frame)[:3, 3], atol=1e-5)


def test_grid_skeleton_trajectory_correspondences_rrd(tmp_path):
    from scenelens.engine.interop import write_rrd
    from scenelens.engine.scene import CorrespondenceSet, PointCloud, Scene, Skeleton, Trajectory, VoxelGrid

    lab = np.full((6, 5, 4), 17, np.uint8)
    lab[1:3, 2, 0] = 4
    lab[5, 4, 3] = 11
    grid = VoxelGrid(name="grid", labels=lab, origin=(-1.0, 2.0, 0.5), voxel_size=(0.5, 0.5, 0.25), label_set="occ3d",
                     free_label=17)
    rng = np.random.default_rng(0)
    a = PointCloud(name="src", points=rng.normal(size=(30, 3)))
    b = PointCloud(name="tgt", points=rng.normal(size=(30, 3)))
    b.transform = np.eye(4)
    b.transform[:3, 3] = (10, 0, 0)
    corr = CorrespondenceSet(name="matches", source_layer=a.uid, target_layer=b.uid,
                             pairs=np.stack([np.arange(10), np.arange(10) + 5], 1), inlier=np.arange(10) % 2 == 0)
    joints = rng.normal(size=(4, 1, 17, 3))
    sk = Skeleton(name="pose3d", joints=joints, bones=[(0, 1), (1, 2)], joint_set="coco17")
    P = np.tile(np.eye(4), (5, 1, 1))
    P[:, 0, 3] = np.arange(5)
    traj = Trajectory(name="ego path", poses=P, timestamps=np.arange(5) * 0.1)
    out = tmp_path / "s.rrd"
    logged = write_rrd(Scene("synthetic", [grid, a, b, corr, sk, traj]), out)
    assert logged["world/voxels/grid"] == "Boxes3D (3 voxels)" and "skipped" not in " ".join(logged.values())
    rec = Recording(out)
    centers = np.asarray(rec.static("/world/voxels/grid", "Boxes3D:centers").values.values).reshape(-1, 3)
    want = grid.centers(np.argwhere(grid.occupied()))
    assert np.allclose(np.sort(centers, 0), np.sort(want, 0))
    assert sorted(rec.static("/world/voxels/grid", "Boxes3D:class_ids").values.to_pylist()) == [4, 4, 11]
    strips = rec.static("/world/correspondences/matches", "LineStrips3D:strips").values.to_pylist()
    seg = np.asarray(strips, float).reshape(-1, 2, 3)
    assert np.allclose(seg[:, 1], b.points[5:15] + (10, 0, 0), atol=1e-5)  # target layer's transform applied
    # frames on a timeline: one skeleton frame and one pose per step
    joints_t = rec.temporal("/world/skeletons/pose3d/joints", "Points3D:positions", "frame")
    assert [t for t, _ in joints_t] == [0, 1, 2, 3]
    assert np.allclose(np.asarray(joints_t[2][1]), joints[2, 0], atol=1e-5)
    poses = rec.temporal("/world/trajectories/ego_path/pose", "Transform3D:translation", "time")
    assert len(poses) == 5 and np.allclose([p[1][0][0] for p in poses], np.arange(5))
    assert [t.total_seconds() for t, _ in poses] == pytest.approx(np.arange(5) * 0.1)


def test_voxel_grid_to_mesh_ply_and_glb(shared_data, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    from scenelens.engine.io import load_layers

    grid = load_layers(shared_data / OCC)[0]
    lo, hi = grid.bounds()
    for ext in ("ply", "glb", "gltf", "obj"):
        out = tmp_path / f"grid.{ext}"
        r = cli("export", shared_data / OCC, "--to", out, "--json")
        assert r.returncode == 0, r.stderr
        n = json.loads(r.stdout)["triangles"]
        m = trimesh.load(out, force="mesh", process=False)
        assert len(m.faces) == n > 1000
        assert np.all(m.bounds[0] >= lo - 1e-4) and np.all(m.bounds[1] <= hi + 1e-4)
        colours = {tuple(c) for c in np.asarray(m.visual.vertex_colors)[:, :3].tolist()}
        assert len(colours) > 3  # class colours survived


def test_project_exports_and_bad_input_exit_2(tmp_path):
    from scenelens.engine.session import Session

    proj = tmp_path / "demo.slproj"
    Session.open(DEMO).save(proj)
    r = cli("export", proj, "--to", tmp_path / "p.rrd")
    assert r.returncode == 0 and "wrote" in r.stdout, r.stderr
    r = cli("export", DEMO, "--to", tmp_path / "x.xyz")
    assert r.returncode == 2 and "x.xyz" in r.stderr and "Traceback" not in r.stderr
    r = cli("export", DEMO, "--to", tmp_path / "m.glb")
    assert r.returncode == 2 and "no voxel grid" in r.stderr
    r = cli("export", tmp_path / "missing.json", "--to", tmp_path / "m.rrd")
    assert r.returncode == 2 and "missing.json" in r.stderr
    (tmp_path / "afile").write_text("x")
    r = cli("export", DEMO, "--to", tmp_path / "afile" / "m.rrd")  # a file where a folder should be
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr


def test_sequences_go_on_the_frame_timeline(tmp_path):
    from scenelens.engine.interop import write_rrd
    from scenelens.engine.io import load
    from scenelens.engine.io.manifest import write_manifest
    from scenelens.engine.io.pointcloud import write_ply
    from scenelens.engine.scene import PointCloud

    sizes = [5, 9, 13]
    for i, n in enumerate(sizes):
        write_ply(tmp_path / f"{i:06d}.ply", PointCloud(name="f", points=np.full((n, 3), float(i))))
    write_ply(tmp_path / "map.ply", PointCloud(name="m", points=np.zeros((4, 3))))
    man = tmp_path / "seq.json"
    write_manifest(man, "seq", [{"path": "map.ply", "name": "map"}],
                   frames=[{"layers": [{"path": f"{i:06d}.ply", "name": "scan"}]} for i in range(3)])
    scene = load(man)
    logged = write_rrd(scene, tmp_path / "seq.rrd")
    assert logged["world/points/scan"] == "Points3D (3 frames on 'frame')"
    rec = Recording(tmp_path / "seq.rrd")
    t = rec.temporal("/world/points/scan", "Points3D:positions", "frame")
    assert [f for f, _ in t] == [0, 1, 2]
    assert [len(v) for _, v in t] == sizes
    assert np.all(np.asarray(t[2][1]) == 2.0)  # frame 2's own points
    assert len(rec.static("/world/points/map", "Points3D:positions").values) == 4

    # an Occ3D folder: one grid per frame
    occ = tmp_path / "occ"
    occ.mkdir()
    for i in range(3):
        lab = np.full((200, 200, 16), 17, np.uint8)
        lab[:i + 1, 0, 0] = 4
        np.savez_compressed(occ / f"tok{i}.npz", semantics=lab)
    logged = write_rrd(load(occ), tmp_path / "occ.rrd")
    (path, what), = [(k, v) for k, v in logged.items() if k.startswith("world/voxels/")]
    assert what == "Boxes3D (3 frames on 'frame')"
    t = Recording(tmp_path / "occ.rrd").temporal(f"/{path}", "Boxes3D:class_ids", "frame")
    assert [f for f, _ in t] == [0, 1, 2] and [len(v) for _, v in t] == [1, 2, 3]
