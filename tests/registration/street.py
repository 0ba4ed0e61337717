"""Synthetic outdoor LiDAR: a street scene ray-cast by a spinning multi-beam sensor on a car roof.

The scene (world frame, ground z = 0) has what makes sensor-frame LiDAR registration hard: a flat ground
that every beam hits at the same ranges in every scan (concentric rings fixed to the sensor), the ego
vehicle's own roof returns (identical in every scan), and sparse world-fixed structure — building blocks
with varying setbacks and gaps, poles, tree trunks and parked cars. Scans are returned in the sensor
frame, with their sensor→world poses, along a path that drives down the street.

Used by the registration tests and bench/bench_registration.py; deterministic for a given seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# beam layouts: (elevations in degrees, azimuth steps, sensor height above ground in m)
SENSORS = {
    "nuscenes": (np.linspace(-30.67, 10.67, 32), 1080, 1.84),  # HDL-32E on the roof
    "kitti": (np.linspace(-24.9, 2.0, 64), 1500, 1.73),  # HDL-64E (azimuth thinned from ~2000)
}

# the ego vehicle's roof and sensor mount as a box in the sensor frame (x forward, z up), 0.35 m under the
# sensor: the lowest 6–8 of 32 beams hit it within ~1.2 m, ~22 % of a sweep (a real nuScenes LIDAR_TOP sweep has
# 23 % of its returns within 1 m of the sensor and none between 2.5 and 3 m)
EGO_BOX = (-0.8, 0.8, -0.8, 0.8, -1.84, -0.35)


@dataclass
class Street:
    boxes: np.ndarray  # (B, 6) xmin xmax ymin ymax zmin zmax, world frame
    cylinders: np.ndarray  # (C, 5) cx cy radius zmin zmax
    length: float
    meta: dict = field(default_factory=dict)


def make_street(seed: int = 0, length: float = 80.0) -> Street:
    """Buildings on both sides of a street along +x (setbacks 7–11 m, blocks 6–18 m with 2–6 m gaps,
    4–14 m high), a cross street, poles every 6–12 m, tree trunks and parked cars at the kerb."""
    rng = np.random.default_rng(seed)
    boxes, cyl = [], []
    for side in (-1, 1):
        x = -30.0
        while x < length + 30:
            w = rng.uniform(6, 18)
            if 20 < x < 30:  # a cross street
                x += 12
                continue
            y0 = rng.uniform(7, 11)
            depth = rng.uniform(6, 12)
            h = rng.uniform(4, 14)
            ys = sorted((side * y0, side * (y0 + depth)))
            boxes.append((x, x + w, ys[0], ys[1], 0.0, h))
            x += w + rng.uniform(2, 6)
        x = -30.0
        while x < length + 30:  # poles on the pavement
            cyl.append((x + rng.uniform(-1, 1), side * rng.uniform(5.2, 6.0), rng.uniform(0.08, 0.18), 0.0,
                        rng.uniform(4, 7)))
            x += rng.uniform(6, 12)
        x = -25.0
        while x < length + 25:  # trunks
            cyl.append((x, side * rng.uniform(6.2, 6.8), rng.uniform(0.2, 0.35), 0.0, rng.uniform(2.5, 4)))
            x += rng.uniform(9, 20)
        x = -30.0
        while x < length + 30:  # parked cars
            if rng.uniform() < 0.6:
                yc, L, W = side * rng.uniform(3.5, 4.3), rng.uniform(3.8, 5.2), rng.uniform(1.7, 2.0)
                boxes.append((x, x + L, yc - W / 2, yc + W / 2, 0.2, rng.uniform(1.4, 1.9)))
            x += rng.uniform(5.5, 9)
    return Street(np.asarray(boxes, float), np.asarray(cyl, float), length)


def _ray_boxes(o: np.ndarray, d: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Nearest positive hit distance of each ray (R) with axis-aligned boxes (B,6); inf where none."""
    if len(boxes) == 0:
        return np.full(len(d), np.inf)
    lo = boxes[:, [0, 2, 4]]
    hi = boxes[:, [1, 3, 5]]
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / d  # R×3
        t1 = (lo[None] - o[:, None]) * inv[:, None]  # R×B×3
        t2 = (hi[None] - o[:, None]) * inv[:, None]
    tmin = np.nanmax(np.minimum(t1, t2), axis=2)
    tmax = np.nanmin(np.maximum(t1, t2), axis=2)
    t = np.where(tmin > 1e-6, tmin, np.where(tmax > 1e-6, tmax, np.inf))  # inside a box: exit distance
    t = np.where(tmax >= np.maximum(tmin, 0), t, np.inf)
    return t.min(1)


def _ray_cylinders(o: np.ndarray, d: np.ndarray, cyl: np.ndarray) -> np.ndarray:
    if len(cyl) == 0:
        return np.full(len(d), np.inf)
    ox, oy = o[:, 0:1] - cyl[None, :, 0], o[:, 1:2] - cyl[None, :, 1]  # R×C
    dx, dy = d[:, 0:1], d[:, 1:2]
    a = dx * dx + dy * dy
    b = 2 * (ox * dx + oy * dy)
    c = ox * ox + oy * oy - cyl[None, :, 2] ** 2
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    z = o[:, 2:3] + t * d[:, 2:3]
    ok = (disc > 0) & (t > 1e-6) & (z >= cyl[None, :, 3]) & (z <= cyl[None, :, 4])
    return np.where(ok, t, np.inf).min(1)


def scan(street: Street, pose: np.ndarray, sensor: str = "nuscenes", rng: np.random.Generator | None = None,
         max_range: float = 60.0, noise: float = 0.02, ego: bool = True) -> np.ndarray:
    """One sweep from the sensor at `pose` (4×4 sensor→world) → points (N×3) in the sensor frame.

    The ego vehicle is a box fixed to the sensor (EGO_BOX), so its roof returns are the same in every scan;
    the ground is z = 0 in the world. Range noise σ = `noise`; returns beyond `max_range` are dropped."""
    rng = rng or np.random.default_rng(0)
    elev, n_az, _ = SENSORS[sensor]
    az = np.linspace(-np.pi, np.pi, n_az, endpoint=False) + rng.uniform(0, 2 * np.pi / n_az)
    E, A = np.meshgrid(np.deg2rad(elev), az, indexing="ij")
    d_s = np.stack([np.cos(E) * np.cos(A), np.cos(E) * np.sin(A), np.sin(E)], -1).reshape(-1, 3)
    R, t = pose[:3, :3], pose[:3, 3]
    d_w = d_s @ R.T
    o_w = np.broadcast_to(t, d_w.shape)
    hits = [_ray_boxes(o_w, d_w, street.boxes), _ray_cylinders(o_w, d_w, street.cylinders)]
    with np.errstate(divide="ignore", invalid="ignore"):
        tg = np.where(d_w[:, 2] < -1e-6, -t[2] / d_w[:, 2], np.inf)  # ground plane z = 0
    hits.append(tg)
    if ego:  # the car, in the sensor frame
        hits.append(_ray_boxes(np.zeros_like(d_s), d_s, np.asarray([EGO_BOX])))
    r = np.min(np.stack(hits), 0)
    keep = np.isfinite(r) & (r < max_range)
    r = r[keep] + rng.normal(0, noise, keep.sum())
    return d_s[keep] * r[:, None]


def pose_at(x: float, y: float = 0.0, yaw_deg: float = 0.0, height: float = 1.84) -> np.ndarray:
    c, s = np.cos(np.deg2rad(yaw_deg)), np.sin(np.deg2rad(yaw_deg))
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = (x, y, height)
    return T


def drive(street: Street, xs, sensor: str = "nuscenes", seed: int = 0, wobble: float = 0.4,
          yaw: float = 4.0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Scans at positions `xs` along the street, with a seeded lateral wobble (m) and heading change (deg).
    Returns (sensor-frame scans, sensor→world poses)."""
    rng = np.random.default_rng(seed)
    h = SENSORS[sensor][2]
    poses = [pose_at(x, rng.uniform(-wobble, wobble), rng.uniform(-yaw, yaw), h) for x in xs]
    return [scan(street, P, sensor, rng) for P in poses], poses


def relative(poses, a: int, b: int) -> np.ndarray:
    """Ground truth mapping scan a (source) into scan b (target): inv(P_b) · P_a."""
    return np.linalg.inv(poses[b]) @ poses[a]


# nuScenes LIDAR_TOP calibration (scene-0061's calibrated_sensor record): 0.94 m ahead of the ego origin, 1.84 m
# up, x axis pointing to the car's right (≈ −90° yaw) with a slight tilt
NUSCENES_LIDAR2EGO = ([0.943713, 0.0, 1.84023],
                      [0.7077955119163518, -0.006492242056004365, 0.010646214713995808, -0.7063073142877817])


def _quat_wxyz(R: np.ndarray) -> list[float]:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(R).as_quat()
    return [float(w), float(x), float(y), float(z)]


def _pose(trans, quat_wxyz) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    w, x, y, z = quat_wxyz
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([x, y, z, w]).as_matrix()
    T[:3, 3] = trans
    return T


def nuscenes_sequence(street: Street, xs, seed: int = 0, wobble: float = 0.4, yaw: float = 4.0):
    """Keyframe sweeps as a nuScenes car records them: ego poses on the ground (z = 0) along the street, the
    sensor at NUSCENES_LIDAR2EGO on the roof; sweeps in the LiDAR frame. Returns (sweeps, ego2global list,
    lidar2ego)."""
    rng = np.random.default_rng(seed)
    l2e = _pose(*NUSCENES_LIDAR2EGO)
    egos = [pose_at(x, rng.uniform(-wobble, wobble), rng.uniform(-yaw, yaw), 0.0) for x in xs]
    sweeps = [scan(street, E @ l2e, "nuscenes", rng) for E in egos]
    return sweeps, egos, l2e


def _write_sweep(path, pts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ring = np.zeros(len(pts))
    np.c_[pts, np.full(len(pts), 10.0), ring].astype(np.float32).tofile(path)


def write_nuscenes_devkit(root, sweeps, egos, l2e, scene: str = "scene-0001", version: str = "v1.0-mini") -> None:
    """A nuScenes devkit folder: v1.0-*/ tables (sensor, calibrated_sensor, ego_pose, sample, sample_data,
    scene) and samples/LIDAR_TOP/*.pcd.bin (x y z intensity ring, float32). A camera record and a non-keyframe
    sweep are included, as in the real tables, and must be ignored."""
    import json
    from pathlib import Path

    root = Path(root)
    t = root / version
    t.mkdir(parents=True, exist_ok=True)
    sensor = [{"token": "s_lidar", "channel": "LIDAR_TOP", "modality": "lidar"},
              {"token": "s_cam", "channel": "CAM_FRONT", "modality": "camera"}]
    calib = [{"token": "c_lidar", "sensor_token": "s_lidar", "translation": list(l2e[:3, 3]),
              "rotation": _quat_wxyz(l2e[:3, :3]), "camera_intrinsic": []},
             {"token": "c_cam", "sensor_token": "s_cam", "translation": [1.7, 0.0, 1.5],
              "rotation": [0.5, -0.5, 0.5, -0.5], "camera_intrinsic": [[1266, 0, 816], [0, 1266, 491], [0, 0, 1]]}]
    ego, sample, sd = [], [], []
    for k, (pts, E) in enumerate(zip(sweeps, egos)):
        ts = 1_532_402_927_000_000 + 500_000 * k
        ego.append({"token": f"e{k}", "translation": list(E[:3, 3]), "rotation": _quat_wxyz(E[:3, :3]), "timestamp": ts})
        sample.append({"token": f"smp{k}", "scene_token": scene, "timestamp": ts})
        name = f"samples/LIDAR_TOP/n015-{scene}__LIDAR_TOP__{ts}.pcd.bin"
        _write_sweep(root / name, pts)
        sd.append({"token": f"sd{k}", "sample_token": f"smp{k}", "ego_pose_token": f"e{k}",
                   "calibrated_sensor_token": "c_lidar", "filename": name, "fileformat": "pcd", "is_key_frame": True,
                   "timestamp": ts})
        sd.append({"token": f"cam{k}", "sample_token": f"smp{k}", "ego_pose_token": f"e{k}",
                   "calibrated_sensor_token": "c_cam", "filename": f"samples/CAM_FRONT/{ts}.jpg",
                   "fileformat": "jpg", "is_key_frame": True, "timestamp": ts})
    sd.append({"token": "sweep0", "sample_token": "smp0", "ego_pose_token": "e1", "calibrated_sensor_token": "c_lidar",
               "filename": "sweeps/LIDAR_TOP/not_written.pcd.bin", "fileformat": "pcd", "is_key_frame": False,
               "timestamp": 1_532_402_927_050_000})
    for name, rows in (("sensor", sensor), ("calibrated_sensor", calib), ("ego_pose", ego), ("sample", sample),
                       ("sample_data", sd), ("scene", [{"token": scene, "name": scene}])):
        (t / f"{name}.json").write_text(json.dumps(rows))


def write_nuscenes_info(pkl, sweeps, egos, l2e, scene: str = "scene-0001") -> None:
    """An mmdetection3d v1.1 info .pkl (data_list with lidar_points.lidar_path/lidar2ego, ego2global as numpy
    arrays) beside samples/LIDAR_TOP/*.pcd.bin; lidar paths written relative to a data root, as mmdet3d does."""
    import pickle
    from pathlib import Path

    pkl = Path(pkl)
    rows = []
    for k, (pts, E) in enumerate(zip(sweeps, egos)):
        name = f"info_sweep_{k:02d}.pcd.bin"
        _write_sweep(pkl.parent / "samples" / "LIDAR_TOP" / name, pts)
        rows.append({"sample_idx": k, "token": f"tok{k}", "timestamp": 1.5e9 + 0.5 * k, "scene_token": scene,
                     "ego2global": np.asarray(E), "lidar_points": {"lidar_path": f"data/nuscenes/samples/LIDAR_TOP/{name}",
                                                                   "num_pts_feats": 5, "lidar2ego": l2e.tolist()}})
    pkl.write_bytes(pickle.dumps({"metainfo": {"dataset": "nuscenes", "version": "v1.0-mini"}, "data_list": rows}))
