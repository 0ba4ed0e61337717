"""Ground-truth builder and ray metrics, printed as ratios measured in one run on this machine.

1. Camera visibility (Occ3D's first-hit rays from a camera to every occupied voxel it sees): our
   all-rays-at-once plane-crossing caster vs a plain per-ray Python voxel walk (Amanatides–Woo), per ray.
2. RayIoU traversal (SparseOcc's virtual LiDAR, 14,040 rays): our vectorised walk vs the same walk one
   ray at a time in Python, per ray (the reference runs a compiled C++/CUDA loop).
3. The builder end to end on a synthetic 4-frame nuScenes-style sequence (stage times).
(The clip, timeline and 2M-voxel viewer numbers are in bench/bench_occupancy.py.)

Run: `.venv/bin/python bench/bench_occupancy_gt.py`.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SAMPLE = ROOT.parent / "shared" / "data" / "occ3d_nuscenes_sample" / "labels.npz"


def walk_one(occ, o, d, stop_at_first=True):
    """Plain per-ray voxel walk in voxel units; returns visited cells up to the first occupied one."""
    X, Y, Z = occ.shape
    v = np.floor(o).astype(int)
    step = np.where(d >= 0, 1, -1)
    with np.errstate(divide="ignore"):
        tmax = np.where(d != 0, (v + (step > 0) - o) / d, np.inf)
        tdel = np.where(d != 0, step / d, np.inf)
    out = []
    for _ in range(1000):
        if not (0 <= v[0] < X and 0 <= v[1] < Y and 0 <= v[2] < Z):
            break
        out.append(tuple(v))
        if stop_at_first and occ[tuple(v)]:
            break
        a = int(np.argmin(tmax))
        v[a] += step[a]
        tmax[a] += tdel[a]
    return out


def bench_camera_mask():
    from scenelens.engine.occupancy.grids import preset
    from scenelens.engine.occupancy.sequence import CameraInfo, camera_visibility

    with np.load(SAMPLE) as z:
        occ = z["semantics"] != 17
    spec = preset("occ3d")
    T = np.eye(4)
    T[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)
    T[:3, 3] = (1.5, 0, 1.5)
    cam = CameraInfo("front", np.array([[1260.0, 0, 800], [0, 1260, 450], [0, 0, 1]]), T, (1600, 900))
    t = time.perf_counter()
    camera_visibility(occ, spec, cam, np.eye(4))
    ours = time.perf_counter() - t
    # the rays that camera casts: occupied voxel centres in its image
    idx = np.argwhere(occ)
    c = np.asarray(spec.origin) + (idx + 0.5) * 0.4
    pc = (c - T[:3, 3]) @ T[:3, :3]
    uv = pc @ cam.K.T
    vis = (pc[:, 2] > 0) & (np.abs(uv[:, 0] / uv[:, 2] - 800) < 800) & (np.abs(uv[:, 1] / uv[:, 2] - 450) < 450)
    n_rays = int(vis.sum())
    o = (T[:3, 3] - np.asarray(spec.origin)) / 0.4
    sub = np.flatnonzero(vis)[:: max(1, n_rays // 300)][:300]
    t = time.perf_counter()
    for i in sub:
        e = (c[i] - np.asarray(spec.origin)) / 0.4
        d = e - o
        walk_one(occ, o, d / np.linalg.norm(d))
    naive = (time.perf_counter() - t) / len(sub) * n_rays
    print(f"camera mask, one camera, {n_rays:,} rays: ours {ours * 1e3:.0f} ms, per-ray Python walk "
          f"{naive * 1e3:.0f} ms (extrapolated from {len(sub)} rays) -> {naive / ours:.1f}x")


def bench_rayiou():
    from scenelens.engine.occupancy.raymetrics import NUSCENES_LIDAR_ORIGIN_EGO, cast, lidar_rays

    with np.load(SAMPLE) as z:
        sem = z["semantics"]
    rays = lidar_rays()
    o = (np.asarray(NUSCENES_LIDAR_ORIGIN_EGO) - (-40, -40, -1)) / 0.4
    t = time.perf_counter()
    cast(sem, 17, o, rays)
    ours = time.perf_counter() - t
    occ = sem != 17
    sub = np.arange(0, len(rays), len(rays) // 300)[:300]
    t = time.perf_counter()
    for i in sub:
        walk_one(occ, o, rays[i].astype(float))
    naive = (time.perf_counter() - t) / len(sub) * len(rays)
    print(f"RayIoU traversal, {len(rays):,} rays: ours {ours * 1e3:.0f} ms, per-ray Python walk {naive * 1e3:.0f} ms "
          f"-> {naive / ours:.1f}x")


def bench_builder():
    from scenelens.engine.jobs import JobContext
    from scenelens.engine.occupancy.grids import preset
    from scenelens.engine.occupancy.sequence import build_ground_truth, detect_sequence, occ3d_ground_spec
    from tests.occupancy.test_sequence_gt import write_nuscenes_layout

    with tempfile.TemporaryDirectory() as d:
        seq = detect_sequence(write_nuscenes_layout(Path(d) / "nus"))
        ctx = JobContext()
        t = time.perf_counter()
        g = build_ground_truth(seq, occ3d_ground_spec(preset("occ3d"), 0), 0, ctx=ctx)
        total = time.perf_counter() - t
    pts = sum(len(f.points) for f in seq.frames)
    stages = ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in ctx.stage_times.items())
    print(f"builder, {len(seq.frames)} frames / {pts:,} points -> {int((g.labels != 17).sum()):,} voxels: "
          f"{total:.2f} s ({stages})")


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    bench_camera_mask()
    bench_rayiou()
    bench_builder()
