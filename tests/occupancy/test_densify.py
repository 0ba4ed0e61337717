"""Densification of a built sequence as SurroundOcc does it (Poisson via Open3D when it imports) and the
closing stand-in otherwise; the grid's provenance says which ran. The synthetic sequence has striped ground
(scan rings 1.5 m apart, three times the voxel size), a wall, a moving car and the ego's own returns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scenelens.engine.occupancy import densify as dz
from scenelens.engine.occupancy.grids import preset
from scenelens.engine.occupancy.sequence import build_ground_truth, detect_sequence, in_ego_box, transform
from tests.occupancy.test_sequence_gt import LIDAR2EGO, box_in_frame, ego2global, quat_dict

N = 2
CAR = np.array([9.0, -4.0, 0.0, 4.0, 2.0, 1.6, 0.0])  # global box x, y, z(bottom), l, w, h, yaw; drives along +x


def car_box(i):
    b = CAR.copy()
    b[0] += 2.5 * i
    return b


def frame_points(i, rng):
    """Global points of frame i and their SurroundOcc classes (11 road, 15 manmade, 4 car, 0 ego)."""
    eg = ego2global(i)[:3, 3]
    rings = []
    for r in np.arange(3.0, 19.0, 1.5):  # scan rings on the ground: stripes 1.5 m apart
        a = np.linspace(0, 2 * np.pi, int(2 * np.pi * r / 0.12), endpoint=False)
        rings.append(np.stack([eg[0] + r * np.cos(a), eg[1] + r * np.sin(a), np.zeros(len(a))], 1))
    ground = np.concatenate(rings)
    wy, wz = np.meshgrid(np.arange(-8, 8, 0.2), np.arange(0.1, 3.0, 0.2), indexing="ij")
    wall = np.stack([np.full(wy.size, 17.0), wy.ravel(), wz.ravel()], 1)
    b = car_box(i)
    u = rng.uniform(-1, 1, (3000, 3))
    face = rng.integers(0, 3, len(u))
    u[np.arange(len(u)), face] = np.sign(u[np.arange(len(u)), face])
    car = b[:3] + (u * 0.5 + [0, 0, 0.5]) * b[3:6]
    car = car[car[:, 2] > 0.05]  # no floor
    ego = transform(ego2global(i), rng.uniform((0.0, -0.6, 1.0), (2.5, 0.6, 1.8), (1500, 3)))
    pts = np.concatenate([ground, wall, car, ego])
    lab = np.concatenate([np.full(len(ground), 11), np.full(len(wall), 15), np.full(len(car), 4),
                          np.full(len(ego), 0)])
    return pts, lab


def write_sequence(root: Path) -> Path:
    rng = np.random.default_rng(1)
    for d in ("pc", "pc_seman", "bbox", "calib", "pose"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(N):
        pg, lab = frame_points(i, rng)
        pl = transform(np.linalg.inv(ego2global(i) @ LIDAR2EGO), pg)
        np.save(root / "pc" / f"pc{i}.npy", np.concatenate([pl, np.ones((len(pl), 1))], 1).astype(np.float32))
        np.save(root / "pc_seman" / f"pc_seman_{i}.npy", np.concatenate([pl, lab[:, None]], 1).astype(np.float32))
        b = box_in_frame(car_box(i), np.linalg.inv(ego2global(i) @ LIDAR2EGO))
        np.save(root / "bbox" / f"bbox{i}.npy", b[None].astype(np.float32))
        np.save(root / "bbox" / f"boxes_token{i}.npy", np.array(["car-1"]))
        np.save(root / "bbox" / f"object_category{i}.npy", np.array([4]))
        np.save(root / "calib" / f"lidar_calibrated_sensor{i}.npy", quat_dict(LIDAR2EGO), allow_pickle=True)
        np.save(root / "pose" / f"lidar_ego_pose{i}.npy", quat_dict(ego2global(i)), allow_pickle=True)
    return root


def ground_coverage(g, spec, radius=14.0):
    """Share of the ground layer's voxels within `radius` of the keyframe LiDAR that are road."""
    k = int(np.floor((-1.8 - spec.origin[2]) / spec.voxel_size[2]))  # ground 1.8 m below the LiDAR
    ii, jj = np.meshgrid(np.arange(spec.shape[0]), np.arange(spec.shape[1]), indexing="ij")
    x = spec.origin[0] + (ii + 0.5) * spec.voxel_size[0]
    y = spec.origin[1] + (jj + 0.5) * spec.voxel_size[1]
    near = (np.hypot(x, y) < radius) & (np.hypot(x, y) > 4.0)
    return float((g.labels[:, :, k][near] == 11).mean())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    seq = detect_sequence(write_sequence(tmp_path_factory.mktemp("seq") / "own"))
    spec = preset("surroundocc")
    plain = build_ground_truth(seq, spec, 0)
    return seq, spec, plain


def check_common(g, seq, spec):
    c = np.asarray(spec.origin) + (np.indices(spec.shape).reshape(3, -1).T + 0.5) * np.asarray(spec.voxel_size)
    occ = g.labels.reshape(-1) != spec.free_label
    assert not (occ & in_ego_box(transform(LIDAR2EGO, c), seq.ego_box)).any()  # nothing inside the ego car
    assert (g.labels == 4).sum() >= 20  # the car is still there
    assert (g.labels == 15).sum() >= 40  # and the wall


@pytest.mark.skipif(dz.open3d_version() is None, reason="Open3D does not import here (closing test covers the rest)")
def test_poisson_densify_fills_the_stripes_between_scan_rings(built):
    seq, spec, plain = built
    g = build_ground_truth(seq, spec, 0, densify=True, densify_depth=8)
    info = g.meta["densify"]
    assert info["method"] == "poisson" and info["library"].startswith("open3d") and info["depth"] == 8
    assert info["voxels_before"] == int((plain.labels != spec.free_label).sum())
    before, after = ground_coverage(plain, spec), ground_coverage(g, spec)
    assert before < 0.8 and after > 0.93, (before, after)  # the rings are 1.5 m apart: Poisson closes them
    check_common(g, seq, spec)
    # SurroundOcc's semantics: each voxel takes its nearest labelled point's class — the filled ground is road
    new = (plain.labels == spec.free_label) & (g.labels != spec.free_label)
    assert new.sum() > 100 and np.mean(g.labels[new] == 11) > 0.8
    assert (g.masks["mask_lidar"] | (g.labels == spec.free_label)).all()  # occupied ⊂ observed, as before


def test_closing_stand_in_when_open3d_is_missing(built, monkeypatch):
    seq, spec, plain = built
    monkeypatch.setattr(dz, "open3d_version", lambda: None)
    g = build_ground_truth(seq, spec, 0, densify=True)
    info = g.meta["densify"]
    assert info["method"] == "closing" and info["why"] == "Open3D is not importable"
    assert info["voxels_after"] >= info["voxels_before"] == int((plain.labels != spec.free_label).sum())
    # a closing only joins neighbours: the 1.5 m stripes stay (it is no surface reconstruction)
    assert ground_coverage(g, spec) < 0.9
    check_common(g, seq, spec)
    from scenelens.engine.errors import InputError

    with pytest.raises(InputError, match="Poisson densification needs Open3D"):
        build_ground_truth(seq, spec, 0, densify="poisson")


def test_cli_densify_method_in_the_summary(built, tmp_path):
    import json

    from tests.occupancy.test_sequence_gt import cli

    seq, spec, plain = built
    r = cli("run", "occupancy", seq.source, "--out", tmp_path / "gt.npz", "--densify", "closing", "--json",
            "--no-camera-mask")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["densify"]["method"] == "closing" and summary["densify"]["why"] == "asked for"
    r = cli("run", "occupancy", seq.source, "--out", tmp_path / "gt2.npz", "--densify", "bogus")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_poisson_labels_never_spread_onto_unlabelled_points():
    """Poisson voxels near unlabelled points stay ignore (255): on the nuScenes sample (no lidarseg, only box
    points labelled) every road/building voxel took the nearest box's class — 38 pedestrian voxels became
    8,574."""
    pytest.importorskip("open3d")
    spec = preset("occ3d")
    rng = np.random.default_rng(0)
    gx, gy = rng.uniform(-12, -2, 6000), rng.uniform(-10, 10, 6000)
    ground = np.c_[gx, gy, rng.normal(0.0, 0.02, 6000)]  # labelled driveable surface
    wy, wz = rng.uniform(-10, 10, 6000), rng.uniform(0.0, 4.0, 6000)
    wall = np.c_[np.full(6000, 6.0) + rng.normal(0, 0.02, 6000), wy, wz]  # no label
    pts = np.r_[ground, wall]
    labels = np.r_[np.full(6000, 11), np.zeros(6000, int)]
    labelled = np.r_[np.ones(6000, bool), np.zeros(6000, bool)]
    out = dz.poisson_densify(np.full(spec.shape, spec.free_label, np.uint8), spec, pts, labels, labelled,
                             (0.0, 0.0, 1.8))
    cells = np.argwhere(out != spec.free_label)
    x = spec.origin[0] + (cells[:, 0] + 0.5) * spec.voxel_size[0]
    lab = out[tuple(cells.T)]
    near_wall, near_ground = np.abs(x - 6.0) < 0.5, (x > -11.5) & (x < -2.5)
    assert near_wall.sum() > 100 and near_ground.sum() > 100
    assert (lab[near_wall] == spec.ignore_label).mean() > 0.95, np.unique(lab[near_wall], return_counts=True)
    assert (lab[near_ground] == 11).mean() > 0.95
