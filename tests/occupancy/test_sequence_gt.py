"""Ground truth from a LiDAR sequence in each input layout (SurroundOcc own data, nuScenes info + lidarseg,
SemanticKITTI): ego returns removed, a moving car accumulated in its box frame and whole at the keyframe,
LiDAR and camera masks as Occ3D defines them, unlabelled input warned about, geometry kept on disk."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from scenelens.engine.occupancy.grids import preset
from scenelens.engine.occupancy.sequence import (build_ground_truth, detect_sequence, in_ego_box, occ3d_ground_spec,
                                       transform)

ROOT = Path(__file__).resolve().parents[2]
N_FRAMES = 4
LIDAR2EGO = np.eye(4)
LIDAR2EGO[:3, :3] = Rotation.from_euler("z", np.pi / 2).as_matrix()  # nuScenes-like: LiDAR x to the right
LIDAR2EGO[:3, 3] = (0.9, 0.0, 1.8)
CAR = dict(size=(4.0, 2.0, 1.6), start=(14.0, -9.0), step=3.0, yaw=np.pi / 2)  # drives along global +y
EGO_RETURNS = dict(lo=(0.0, -0.6, 1.0), hi=(2.5, 0.6, 1.8))  # roof rack seen by the LiDAR (ego frame)


def ego2global(i):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("z", 0.05 * i).as_matrix()
    T[:3, 3] = (2.0 * i, 0.3 * i, 0.0)
    return T


def car_box_global(i):
    x, y = CAR["start"][0], CAR["start"][1] + CAR["step"] * i
    return np.array([x, y, 0.0, *CAR["size"], CAR["yaw"]])


def box_in_frame(bg, T_world_to_frame):
    c = transform(T_world_to_frame, bg[None, :3])[0]
    yaw_f = bg[6] + np.arctan2(T_world_to_frame[1, 0], T_world_to_frame[0, 0])
    return np.array([*c, *bg[3:6], yaw_f])


def car_surface(half: str, rng):
    """Points on the car's box surface in its box frame; `half` = front / rear / all (by box-frame x)."""
    lx, ly, lz = CAR["size"]
    p = rng.uniform([-lx / 2, -ly / 2, 0], [lx / 2, ly / 2, lz], (6000, 3))
    face = rng.integers(0, 3, len(p))
    for a, n in enumerate((lx, ly, lz)):
        sel = face == a
        lo, hi = ((-n / 2, n / 2) if a < 2 else (0.0, n))
        p[sel, a] = np.where(rng.random(sel.sum()) < 0.5, lo, hi) if a < 2 else hi  # roof, not the floor
    if half == "front":
        p = p[p[:, 0] > 0.0]
    elif half == "rear":
        p = p[p[:, 0] < 0.0]
    return p


def frame_points(i, rng, ego_shift=0.0):
    """(global points, fine nuScenes ids) seen in frame i, ego returns included (`ego_shift`: along ego x)."""
    eg = ego2global(i)[:3, 3]
    gx, gy = np.meshgrid(np.arange(-25, 40, 0.25), np.arange(-25, 25, 0.25), indexing="ij")
    ground = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], 1)
    ground = ground[np.hypot(ground[:, 0] - eg[0], ground[:, 1] - eg[1]) < 22]
    wy, wz = np.meshgrid(np.arange(-12, 12, 0.15), np.arange(0.05, 3.0, 0.15), indexing="ij")
    wall = np.stack([np.full(wy.size, 26.0), wy.ravel(), wz.ravel()], 1)
    b = car_box_global(i)
    local = car_surface(["front", "rear", "front", "rear"][i % 4] if float(i).is_integer() else "all", rng)
    c, s = np.cos(b[6]), np.sin(b[6])
    car = np.stack([c * local[:, 0] - s * local[:, 1] + b[0], s * local[:, 0] + c * local[:, 1] + b[1], local[:, 2]], 1)
    ego_l = rng.uniform(EGO_RETURNS["lo"], EGO_RETURNS["hi"], (3000, 3)) + (ego_shift, 0.0, 0.0)
    ego_g = transform(ego2global(i), ego_l)
    pts = np.concatenate([ground, wall, car, ego_g])
    fine = np.concatenate([np.full(len(ground), 24), np.full(len(wall), 28), np.full(len(car), 17),
                           np.full(len(ego_g), 31)]).astype(np.uint8)
    return pts, fine


def lidar_frame(i, pts_g):
    return transform(np.linalg.inv(ego2global(i) @ LIDAR2EGO), pts_g)


FINE_TO_SO = {24: 11, 28: 15, 17: 4, 31: 0}


def quat_dict(T):
    x, y, z, w = Rotation.from_matrix(T[:3, :3]).as_quat()
    return {"translation": T[:3, 3].tolist(), "rotation": [w, x, y, z]}


def write_surroundocc_layout(root: Path, labelled=True):
    rng = np.random.default_rng(0)
    for d in ("pc", "pc_seman", "bbox", "calib", "pose"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for i in range(N_FRAMES):
        pg, fine = frame_points(i, rng)
        pl = lidar_frame(i, pg)
        np.save(root / "pc" / f"pc{i}.npy", np.concatenate([pl, np.ones((len(pl), 1))], 1).astype(np.float32))
        if labelled:
            lab = np.vectorize(FINE_TO_SO.get)(fine)
            np.save(root / "pc_seman" / f"pc_seman_{i}.npy", np.concatenate([pl, lab[:, None]], 1).astype(np.float32))
        b = box_in_frame(car_box_global(i), np.linalg.inv(ego2global(i) @ LIDAR2EGO))
        np.save(root / "bbox" / f"bbox{i}.npy", b[None].astype(np.float32))
        np.save(root / "bbox" / f"boxes_token{i}.npy", np.array(["car-token-1"]))
        np.save(root / "bbox" / f"object_category{i}.npy", np.array([4]))
        np.save(root / "calib" / f"lidar_calibrated_sensor{i}.npy", quat_dict(LIDAR2EGO), allow_pickle=True)
        np.save(root / "pose" / f"lidar_ego_pose{i}.npy", quat_dict(ego2global(i)), allow_pickle=True)
    return root


CAM2EGO = np.eye(4)
CAM2EGO[:3, :3] = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], float)  # looks along ego +x
CAM2EGO[:3, 3] = (1.5, 0.0, 1.5)
K = np.array([[800.0, 0, 800], [0, 800, 450], [0, 0, 1]])


def write_nuscenes_layout(root: Path, sweeps: bool = False):
    import cv2

    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "front.jpg"), np.zeros((900, 1600, 3), np.uint8))
    data_list = []
    for i in range(N_FRAMES):
        lidar_sweeps = []
        if sweeps and i > 0:  # one unlabelled sweep half-way from the previous keyframe (the car in between)
            t = i - 0.5
            pg, _ = frame_points(t, rng)
            pl = lidar_frame(t, pg)
            np.concatenate([pl, np.zeros((len(pl), 2))], 1).astype(np.float32).tofile(root / f"sweep{i}_half.pcd.bin")
            lidar_sweeps.append({"timestamp": 0.5 * t, "ego2global": ego2global(t).tolist(),
                                 "lidar_points": {"lidar_path": f"sweep{i}_half.pcd.bin", "num_pts_feats": 5,
                                                  "lidar2ego": LIDAR2EGO.tolist()}})
        pg, fine = frame_points(i, rng)
        pl = lidar_frame(i, pg)
        np.concatenate([pl, np.zeros((len(pl), 2))], 1).astype(np.float32).tofile(root / f"sweep{i}.pcd.bin")
        fine.tofile(root / f"sweep{i}_lidarseg.bin")
        b = box_in_frame(car_box_global(i), np.linalg.inv(ego2global(i) @ LIDAR2EGO))
        data_list.append({"token": f"sample{i}", "ego2global": ego2global(i).tolist(), "timestamp": 0.5 * i,
                          "lidar_sweeps": lidar_sweeps,
                          "lidar_points": {"lidar_path": f"sweep{i}.pcd.bin", "num_pts_feats": 5,
                                           "lidar2ego": LIDAR2EGO.tolist()},
                          "pts_semantic_mask_path": f"sweep{i}_lidarseg.bin",
                          "images": {"CAM_FRONT": {"img_path": "front.jpg", "cam2img": K.tolist(),
                                                   "cam2ego": CAM2EGO.tolist()}},
                          "instances": [{"bbox_3d": b.tolist(), "bbox_label_3d": 0, "instance_token": "car-1"}]})
    with open(root / "infos.pkl", "wb") as f:
        pickle.dump({"metainfo": {"categories": {"car": 0}, "dataset": "nuscenes"}, "data_list": data_list}, f)
    return root / "infos.pkl"


KITTI_RAW = {24: 40, 28: 50, 17: 252, 31: 10}  # road, building, moving-car; ego returns labelled car


def write_kitti_layout(root: Path):
    rng = np.random.default_rng(0)
    (root / "velodyne").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(exist_ok=True)
    lines = []
    for i in range(N_FRAMES):
        pg, fine = frame_points(i, rng, ego_shift=-1.2)  # KITTI's origin is the sensor, mid-roof
        # KITTI: the velodyne frame is the ego frame, sensor 1.73 m above the road
        T = ego2global(i).copy()
        T[2, 3] = 1.73
        pl = transform(np.linalg.inv(T), pg)
        np.concatenate([pl, np.ones((len(pl), 1))], 1).astype(np.float32).tofile(root / "velodyne" / f"{i:06d}.bin")
        raw = np.vectorize(KITTI_RAW.get)(fine).astype(np.uint32) | (np.uint32(7) << 16) * (fine == 17)
        raw.astype(np.uint32).tofile(root / "labels" / f"{i:06d}.label")
        lines.append(" ".join(f"{v:.9f}" for v in T[:3].reshape(-1)))
    (root / "poses.txt").write_text("\n".join(lines) + "\n")
    (root / "calib.txt").write_text("Tr: 1 0 0 0 0 1 0 0 0 0 1 0\n")
    return root


def voxel_centres(spec):
    ii = np.indices(spec.shape).reshape(3, -1).T
    return np.asarray(spec.origin) + (ii + 0.5) * np.asarray(spec.voxel_size)


def check_car_and_ego(g, spec, grid_to_ego, grid_from_world, ego_box, car_class):
    c = voxel_centres(spec)
    occ = g.labels.reshape(-1) != spec.free_label
    # 1. no voxel inside the ego box
    assert not (occ & in_ego_box(transform(grid_to_ego, c), ego_box)).any()
    # 2. the car is whole at the keyframe: both halves occupied, and no trail along its path
    b = box_in_frame(car_box_global(0), grid_from_world)
    cs, sn = np.cos(b[6]), np.sin(b[6])
    d = c - b[:3]
    lx, ly = cs * d[:, 0] + sn * d[:, 1], -sn * d[:, 0] + cs * d[:, 1]
    vs = spec.voxel_size[0]
    inside = (np.abs(lx) <= b[3] / 2 + vs) & (np.abs(ly) <= b[4] / 2 + vs) & (d[:, 2] >= -vs) & (d[:, 2] <= b[5] + vs)
    car = g.labels.reshape(-1) == car_class
    assert car[inside & (lx > 0.6)].sum() >= 10, "front half missing"
    assert car[inside & (lx < -0.6)].sum() >= 10, "rear half (seen only in other frames) missing at the keyframe"
    assert car[~inside].sum() == 0, f"{car[~inside].sum()} car voxels outside the keyframe box (a trail)"


def check_masks(g, spec, grid_from_ego, with_camera=True):
    lid = g.masks["mask_lidar"]
    occ = g.labels != spec.free_label
    assert (occ & ~lid).sum() == 0  # every occupied voxel was hit by a ray
    ijk = lambda p: tuple(np.floor((transform(grid_from_ego, np.asarray([p], float))[0] - spec.origin)
                                   / spec.voxel_size).astype(int))
    between, behind = ijk((12.0, 1.5, 1.0)), ijk((27.5, 0.0, 1.0))  # free space before the wall; behind it
    assert lid[between] and not lid[behind]
    if with_camera:
        cam = g.masks["mask_camera"]
        assert (cam & ~lid).sum() == 0 and cam.sum() < lid.sum()
        assert cam[between] and not cam[behind]
        assert not cam[ijk((-15.0, 0.0, 1.0))]  # behind the front camera: never in its view
        assert lid[ijk((-15.0, 0.0, 1.0))] or True


def test_surroundocc_layout(tmp_path):
    seq = detect_sequence(write_surroundocc_layout(tmp_path / "own"))
    assert seq.layout == "surroundocc" and len(seq.frames) == N_FRAMES
    spec = preset("surroundocc")
    g = build_ground_truth(seq, spec, keyframe=0)
    kf = seq.frames[0]
    world_to_grid = np.linalg.inv(ego2global(0) @ LIDAR2EGO)
    check_car_and_ego(g, spec, LIDAR2EGO, world_to_grid, seq.ego_box, 4)
    check_masks(g, spec, np.linalg.inv(LIDAR2EGO), with_camera=False)
    assert g.meta["ego_points_removed"] >= 3000 * N_FRAMES and kf.labels is not None
    road = np.argwhere(g.labels == 11)
    assert len(road) > 500 and set(np.unique(road[:, 2])) == {6}  # ground 1.8 m below the LiDAR: floor((−1.8+5)/0.5)


def test_nuscenes_layout_with_cameras_and_ground_layer(tmp_path):
    seq = detect_sequence(write_nuscenes_layout(tmp_path / "nus"))
    assert seq.layout == "nuscenes" and seq.frames[0].cameras and seq.frames[0].cameras[0].size == (1600, 900)
    spec = occ3d_ground_spec(preset("occ3d"), 0)
    g = build_ground_truth(seq, spec, keyframe=0)
    check_car_and_ego(g, spec, np.eye(4), np.linalg.inv(ego2global(0)), seq.ego_box, 4)
    check_masks(g, spec, np.eye(4))
    road = np.argwhere(g.labels == 11)
    assert len(road) > 1000 and set(np.unique(road[:, 2])) == {0}  # road in layer 0 as in the Occ3D release
    assert (g.labels == 15).sum() > 100 and (g.labels == 0).sum() == 0  # the ego returns never became 'others'


def test_kitti_sequence_moving_points_only_from_keyframe(tmp_path):
    seq = detect_sequence(write_kitti_layout(tmp_path / "08"))
    assert seq.layout == "semantickitti" and len(seq.frames) == N_FRAMES
    spec = preset("semantickitti")
    g = build_ground_truth(seq, spec, keyframe=0)
    T = ego2global(0).copy()
    T[2, 3] = 1.73
    c = voxel_centres(spec)
    occ = g.labels.reshape(-1) != 0
    assert not (occ & in_ego_box(c, seq.ego_box)).any()
    # moving-car points (no boxes in this layout) come from the keyframe only: no trail along +y
    car = np.argwhere(g.labels == 1)
    cg = transform(T, c.reshape(spec.shape + (3,))[tuple(car.T)])
    assert len(car) > 10 and cg[:, 1].max() < CAR["start"][1] + 2.5
    assert g.meta["moving_points_dropped"] > 0
    road = np.argwhere(g.labels == 9)
    assert len(road) > 1000 and set(np.unique(road[:, 2])) <= {1}  # −1.73 m: layer floor((−1.73+2)/0.2) = 1


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout)


def test_cli_sequence_outputs_and_unlabelled_warning(tmp_path):
    own = write_surroundocc_layout(tmp_path / "own")
    r = cli("run", "occupancy", own, "--out", tmp_path / "gt.npz", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["layout"] == "surroundocc" and s["grid"] == "surroundocc" and s["instances"] == 1 and not s["warnings"]
    from scenelens.engine.io.occ3d import read_occ_npz

    g = read_occ_npz(tmp_path / "gt.npz")  # a SurroundOcc grid saved as .npz reads back with its own geometry
    assert g.origin == (-50.0, -50.0, -5.0) and g.voxel_size == (0.5, 0.5, 0.5) and g.frame == "lidar"
    assert s["class_counts"]["4"] > 10
    r = cli("run", "occupancy", own, "--out", tmp_path / "gt_list.npy", "--json")  # SurroundOcc export
    assert r.returncode == 0, r.stderr
    a = np.load(tmp_path / "gt_list.npy")
    assert a.shape[1] == 4 and a.shape[0] == int((g.labels != 17).sum())
    # pc/ without pc_seman/: a warning with the count, voxels stay ignore (255) instead of a class
    bare = write_surroundocc_layout(tmp_path / "bare", labelled=False)
    r = cli("run", "occupancy", bare, "--out", tmp_path / "bare.npz", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert "warning:" in r.stderr and "no semantic label" in r.stderr and s["unlabeled_points"] > 1000
    assert set(s["class_counts"]) <= {"4"}  # only the box gives a class
    # bad input: a pose that is not a pickled dict
    np.save(bare / "pose" / "lidar_ego_pose1.npy", np.zeros(3))
    r = cli("run", "occupancy", bare, "--out", tmp_path / "x.npz")
    assert r.returncode == 2 and "lidar_ego_pose1.npy" in r.stderr and "Traceback" not in r.stderr


def test_npy_with_label_column_and_warning(tmp_path):
    pts = np.random.default_rng(1).uniform([-10, -10, 0], [10, 10, 2], (2000, 3))
    np.save(tmp_path / "scan.npy", np.concatenate([pts, np.full((2000, 1), 15.0)], 1))
    r = cli("run", "occupancy", tmp_path / "scan.npy", "--grid", "occ3d", "--out", tmp_path / "a.npz", "--json")
    assert r.returncode == 0, r.stderr
    assert "2,000 points have no labels" in r.stderr and "--label-column 3" in r.stderr
    assert json.loads(r.stdout)["class_counts"] == {}  # nothing silently became a class
    r = cli("run", "occupancy", tmp_path / "scan.npy", "--grid", "occ3d", "--label-column", "3",
            "--out", tmp_path / "b.npz", "--json")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)["class_counts"]) == {"15"} and "warning" not in r.stderr


def test_readme_example_on_shared_nuscenes(shared_data, tmp_path):
    """The README's example, as written there."""
    readme = (ROOT / "README.md").read_text()
    assert "run occupancy ../shared/data/nuscenes_sample/n015-2018-07-24-11-22-45+0800.pkl --out gt.npz" in readme
    pkl = "../shared/data/nuscenes_sample/n015-2018-07-24-11-22-45+0800.pkl"  # relative, as in the README
    if not (ROOT / pkl).is_file():
        pkl = shared_data / "nuscenes_sample" / "n015-2018-07-24-11-22-45+0800.pkl"
    r = cli("run", "occupancy", pkl, "--out", tmp_path / "gt.npz", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["ego_points_removed"] > 5000 and s["mask_camera"] < s["mask_lidar"] and s["class_counts"]["4"] > 0
    assert "no semantic label" in r.stderr  # the sample has no lidarseg: static points stay unlabelled, loudly
    with np.load(tmp_path / "gt.npz") as z:
        sem = z["semantics"]
        assert {"semantics", "mask_lidar", "mask_camera"} <= set(z.files)
        low = np.argwhere(sem != 17)[:, 2]
        assert np.bincount(low, minlength=16).argmax() == 0  # the ground sits in layer 0 as in Occ3D's files



def test_cli_all_keyframes_and_rayiou_origins(tmp_path):
    nus = write_nuscenes_layout(tmp_path / "nus")
    r = cli("run", "occupancy", nus, "--keyframe", "all", "--out", tmp_path / "gts", "--json")
    assert r.returncode == 0, r.stderr
    files = sorted((tmp_path / "gts").glob("*.npz"))
    assert [f.stem for f in files] == [f"sample{i}" for i in range(N_FRAMES)]  # named by sample token
    with np.load(files[2]) as z:
        assert {"semantics", "mask_lidar", "mask_camera", "ray_origins"} <= set(z.files)
        o = z["ray_origins"]
    # the LiDAR origins of all frames in frame 2's ego frame: frame 2's own at (0.9, 0, 1.8)
    assert len(o) == N_FRAMES
    assert np.min(np.linalg.norm(o - LIDAR2EGO[:3, 3], axis=1)) < 1e-6
    # eval of a GT against itself uses those origins: RayIoU 100
    r = cli("eval", "occupancy", "--pred", files[2], "--gt", files[2], "--rayiou", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rayiou"] == pytest.approx(100.0)
    r = cli("run", "occupancy", nus, "--keyframe", "all", "--out", tmp_path / "x.npz")
    assert r.returncode == 2 and "folder" in r.stderr


def test_unlabelled_points_never_outvote_labels_and_nn_labels(tmp_path):
    """Half the frames unlabelled (pc/ only): labelled points decide the class of any voxel they reach;
    voxels with only unlabelled points are ignore, or take the nearest labelled class with nn_radius."""
    own = write_surroundocc_layout(tmp_path / "own")
    for i in (1, 3):
        (own / "pc_seman" / f"pc_seman_{i}.npy").unlink()
    from scenelens.engine.occupancy.sequence import read_surroundocc_sequence

    from scenelens.engine.occupancy.sequence import Frame, load_pickled_npy, quat_pose

    seq = read_surroundocc_sequence(own)  # frames 0 and 2 (pc_seman/ decides which frames exist)
    for i in (1, 3):  # frames 1 and 3 as unlabelled sweeps from pc/
        a = np.load(own / "pc" / f"pc{i}.npy")
        b = np.load(own / "bbox" / f"bbox{i}.npy").astype(float)
        seq.frames.append(Frame(a[:, :3].astype(float), None,
                                quat_pose(load_pickled_npy(own / "calib" / f"lidar_calibrated_sensor{i}.npy"), "c"),
                                quat_pose(load_pickled_npy(own / "pose" / f"lidar_ego_pose{i}.npy"), "p"),
                                b, ["car-token-1"], np.array([4]), name=str(i)))
    warnings = []
    spec = preset("surroundocc")
    g = build_ground_truth(seq, spec, keyframe=0, warn=warnings.append, camera_mask=False)
    assert warnings and "no semantic label" in warnings[0]
    road = g.labels[:, :, 6]
    assert (road == 11).sum() > 1000  # road voxels reached by labelled points stay road
    n_ign = int((g.labels == 255).sum())
    assert n_ign > 0  # ground seen only by the unlabelled frames
    g2 = build_ground_truth(seq, spec, keyframe=0, camera_mask=False, nn_radius=1.0)
    assert int((g2.labels == 255).sum()) < n_ign and (g2.labels == 11).sum() > (road == 11).sum()


def test_kitti_info_is_not_a_nuscenes_sequence_and_nothing_becomes_others(shared_data, tmp_path):
    pkl = shared_data / "kitti_000008" / "000008.pkl"
    assert detect_sequence(pkl) is None  # no ego poses: a single scan, not a nuScenes sequence
    r = cli("run", "occupancy", pkl, "--out", tmp_path / "k.npz", "--json")
    assert r.returncode == 0, r.stderr
    assert "in no annotated box" in r.stderr and "0" not in json.loads(r.stdout)["class_counts"]


def test_nuscenes_sweeps_add_geometry_and_follow_interpolated_boxes(tmp_path):
    info = write_nuscenes_layout(tmp_path / "nus", sweeps=True)
    seq = detect_sequence(info, sweeps=True)
    assert len(seq.frames) == 2 * N_FRAMES - 1 and seq.keyframes == [0, 2, 4, 6]
    spec = occ3d_ground_spec(preset("occ3d"), 0)
    warnings = []
    g = build_ground_truth(seq, spec, keyframe=1, warn=warnings.append)  # the second keyframe
    assert g.meta["keyframe"] == 1 and g.meta["sweeps"] == N_FRAMES - 1
    assert any("sweeps between keyframes carry no labels" in w for w in warnings)
    T = np.linalg.inv(ego2global(1))
    c = voxel_centres(spec)
    b = box_in_frame(car_box_global(1), T)
    cs, sn = np.cos(b[6]), np.sin(b[6])
    d = c - b[:3]
    lx, ly = cs * d[:, 0] + sn * d[:, 1], -sn * d[:, 0] + cs * d[:, 1]
    inside = (np.abs(lx) <= b[3] / 2 + 0.4) & (np.abs(ly) <= b[4] / 2 + 0.4) & (d[:, 2] >= -0.4) & (d[:, 2] <= b[5] + 0.4)
    car = g.labels.reshape(-1) == 4
    assert car[inside].sum() > 20 and car[~inside].sum() == 0  # the sweep's car went into the box, not a trail
    g0 = build_ground_truth(detect_sequence(info), spec, keyframe=1)
    assert int((g.labels != 17).sum()) >= int((g0.labels != 17).sum())  # sweeps add geometry
    assert int(g.masks["mask_lidar"].sum()) >= int(g0.masks["mask_lidar"].sum())
    r = cli("run", "occupancy", info, "--sweeps", "--keyframe", "all", "--out", tmp_path / "gts", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["frames"] == N_FRAMES and s["sweeps"] == N_FRAMES - 1
    assert sorted(Path(f).stem for f in s["out"]) == [f"sample{i}" for i in range(N_FRAMES)]
