"""Occupancy ground truth from a LiDAR sequence, built the way the Occ3D and SurroundOcc pipelines build it.

Input layouts (detected from the folder or file, never from a name alone):
* SurroundOcc's own-data layout: `pc/pcN.npy` (x, y, z, intensity, LiDAR frame), `pc_seman/pc_seman_N.npy`
  (x, y, z, label), `bbox/bboxN.npy` (M×7 boxes x, y, z, w, l, h, yaw in the LiDAR frame, z = bottom centre,
  w along the box's heading axis as mmcv's `points_in_boxes` reads them), `bbox/boxes_tokenN.npy`,
  `bbox/object_categoryN.npy`, `calib/lidar_calibrated_sensorN.npy` (LiDAR→ego) and `pose/lidar_ego_poseN.npy`
  (ego→global): pickled dicts with `translation` and `rotation` = quaternion [w, x, y, z], read with the
  restricted unpickler (plain containers and numpy arrays only).
* an mmdetection3d v1.1 nuScenes info `.pkl` with several samples: `lidar_points` (path, lidar2ego),
  `ego2global`, `instances` (LiDAR boxes; `instance_token` when present), `pts_semantic_mask_path` (lidarseg
  `.bin`, uint8 fine ids mapped to the 16 classes; fine id 31 = vehicle.ego) and the six cameras.
* a SemanticKITTI sequence folder: `velodyne/*.bin`, `labels/*.label`, `poses.txt`, `calib.txt`.

Steps (`build_ground_truth`): remove the ego vehicle's returns (a box around the car, plus points labelled
ego); split dynamic from static by the boxes; accumulate each instance in its own box frame over all frames
and place it at the keyframe's box; accumulate the static scene in the global frame; optionally densify (SurroundOcc's Poisson
reconstruction when Open3D imports, else a closing — `densify.py`);
label voxels by majority vote of their points (unlabelled points vote for `ignore` and are counted, never a
class); ray-cast the LiDAR visibility mask from every frame's sensor origin, and — when cameras are known —
the camera mask as Occ3D defines it: a ray from each camera centre to each occupied voxel centre it sees
marks the voxels it crosses up to and including the first occupied one; `mask_camera` is kept inside
`mask_lidar` (as in the Occ3D release). The grid is in the keyframe's ego frame (Occ3D) or LiDAR frame
(SurroundOcc, SemanticKITTI).

Vertical convention: the released Occ3D-nuScenes grids put the road in layer k = 0 (the shared sample has
all 8,433 driveable-surface voxels at k = 0), while nuScenes' ego frame has the ground at z = 0, which a
metric [-1, 5.4] m range would put at k = 2. The builder therefore places the ground in layer
`ground_layer` (default 0) for Occ3D grids by moving the grid's z origin to −0.2 m (ground ± 0.2 m in
layer 0), and writes that origin into the file so it reads back at the right height.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..jobs import JobContext
from ..scene import VoxelGrid
from .grids import GridSpec

# default ego-vehicle boxes in each layout's ego frame (xmin, ymin, zmin, xmax, ymax, zmax), metres.
# nuScenes: origin at the rear axle on the ground; the Renault Zoe with roof sensors measured on the shared
# sample (returns at x −0.2..2.7, y ±0.64, z 0.9..1.84) plus a margin; z from 0.2 m keeps the road under it.
EGO_BOXES = {"nuscenes": (-1.0, -1.1, 0.2, 3.7, 1.1, 2.2),
             # KITTI: the velodyne frame, sensor 1.73 m above the road near the middle of the roof
             "semantickitti": (-2.7, -1.1, -1.5, 1.9, 1.1, 0.4)}
NUSCENES_EGO_FINE = 31  # lidarseg fine id of vehicle.ego
# lidarseg classes that are never objects: points of these inside a box stay static (road under a car)
STATIC_CLASSES = {"occ3d": tuple(range(11, 17)), "semantickitti": tuple(range(9, 20))}


@dataclass
class CameraInfo:
    name: str
    K: np.ndarray  # 3×3
    cam2ego: np.ndarray  # 4×4
    size: tuple[int, int]  # width, height


@dataclass
class Frame:
    """One LiDAR sweep: points in the LiDAR frame, per-point labels (None = unlabelled), poses and boxes."""

    points: np.ndarray
    labels: np.ndarray | None
    lidar2ego: np.ndarray
    ego2global: np.ndarray
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 7)))  # LiDAR frame x,y,z_bottom,dx,dy,dz,yaw
    box_ids: list = field(default_factory=list)
    box_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    ego_points: np.ndarray | None = None  # points the labels mark as the ego vehicle
    moving: np.ndarray | None = None  # points of moving objects without boxes (SemanticKITTI moving-* ids)
    cameras: list[CameraInfo] = field(default_factory=list)
    name: str = ""
    is_key: bool = True  # False: a sweep between keyframes (geometry and boxes interpolated, no labels)


@dataclass
class Sequence:
    frames: list[Frame]
    label_set: str
    layout: str
    source: str
    ego_box: tuple = EGO_BOXES["nuscenes"]
    unlabeled_note: str = ""

    @property
    def keyframes(self) -> list[int]:
        """Indices (into `frames`) of the keyframes; `build_ground_truth(keyframe=k)` means the k-th of these."""
        return [i for i, f in enumerate(self.frames) if f.is_key]


# ------------------------------------------------------------------------------------------ geometry


def quat_pose(d: dict, where) -> np.ndarray:
    """4×4 from a nuScenes-style dict {translation: [x,y,z], rotation: [w,x,y,z]}."""
    if not isinstance(d, dict) or "translation" not in d or "rotation" not in d:
        raise InputError(where, "expected a dict with 'translation' and 'rotation' (quaternion w, x, y, z)")
    t = np.asarray(d["translation"], float).reshape(-1)
    q = np.asarray(d["rotation"], float).reshape(-1)
    if t.size != 3 or q.size != 4 or not np.isfinite(q).all() or np.linalg.norm(q) < 1e-9:
        raise InputError(where, "translation must have 3 numbers and rotation a non-zero quaternion [w, x, y, z]")
    from ..rotations import pose_from_wxyz

    return pose_from_wxyz(t, q)


def transform(T: np.ndarray, p: np.ndarray) -> np.ndarray:
    return p @ T[:3, :3].T + T[:3, 3]


def points_in_boxes(points: np.ndarray, boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Index of the first box (−1: none) holding each point; boxes x, y, z_bottom, dx, dy, dz, yaw (mmcv)."""
    out = np.full(len(points), -1, np.int64)
    for bi, (x, y, z, dx, dy, dz, yaw) in enumerate(np.asarray(boxes, float).reshape(-1, 7)):
        c, s = np.cos(yaw), np.sin(yaw)
        d = points - (x, y, z)
        lx = c * d[:, 0] + s * d[:, 1]
        ly = -s * d[:, 0] + c * d[:, 1]
        inside = (np.abs(lx) <= dx / 2 + margin) & (np.abs(ly) <= dy / 2 + margin) & \
                 (d[:, 2] >= -margin) & (d[:, 2] <= dz + margin)
        out[inside & (out < 0)] = bi
    return out


def to_box_frame(points: np.ndarray, box) -> np.ndarray:
    x, y, z, _, _, _, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)
    d = points - (x, y, z)
    return np.stack([c * d[:, 0] + s * d[:, 1], -s * d[:, 0] + c * d[:, 1], d[:, 2]], 1)


def from_box_frame(local: np.ndarray, box) -> np.ndarray:
    x, y, z, _, _, _, yaw = box
    c, s = np.cos(yaw), np.sin(yaw)
    return np.stack([c * local[:, 0] - s * local[:, 1] + x, s * local[:, 0] + c * local[:, 1] + y,
                     local[:, 2] + z], 1)


def in_ego_box(points_ego: np.ndarray, box) -> np.ndarray:
    lo, hi = np.asarray(box[:3]), np.asarray(box[3:])
    return ((points_ego >= lo) & (points_ego <= hi)).all(1)


# ------------------------------------------------------------------------------------------- readers


def load_pickled_npy(path: Path):
    """An `.npy` that holds a pickled object (np.save of a dict), through the restricted unpickler."""
    from ..io.nuscenes import RestrictedUnpickler

    path = Path(path)
    try:
        with open(path, "rb") as f:
            from ..io.limits import read_npy_header

            shape, _, dtype = read_npy_header(f)
            if not dtype.hasobject:
                f.seek(0)
                return np.load(f, allow_pickle=False)
            import pickle

            try:
                obj = RestrictedUnpickler(f).load()
            except pickle.UnpicklingError as e:
                raise InputError(path, f"refused to unpickle: {e}") from None
    except (ValueError, OSError, EOFError) as e:
        raise InputError(path, f"not a readable .npy file ({e})") from None
    if isinstance(obj, np.ndarray) and obj.dtype.hasobject and obj.shape == ():
        obj = obj.item()
    return obj


def _npy(path: Path, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(path, f"unreadable {what} ({e})") from None


def _index_files(folder: Path, pattern: str) -> dict[int, Path]:
    rx = re.compile(pattern)
    out = {}
    for p in folder.glob("*.npy") if folder.is_dir() else ():
        m = rx.fullmatch(p.name)
        if m:
            out[int(m.group(1))] = p
    return out


def is_surroundocc_layout(p: Path) -> bool:
    return p.is_dir() and (p / "calib").is_dir() and (p / "pose").is_dir() and \
        ((p / "pc_seman").is_dir() or (p / "pc").is_dir())


def is_kitti_sequence(p: Path) -> bool:
    return p.is_dir() and (p / "velodyne").is_dir() and (p / "poses.txt").is_file()


def read_surroundocc_sequence(folder: Path) -> Sequence:
    folder = Path(folder)
    seman = _index_files(folder / "pc_seman", r"pc_seman_(\d+)\.npy")
    raw = _index_files(folder / "pc", r"pc(\d+)\.npy")
    idx = sorted(seman) if seman else sorted(raw)
    if not idx:
        raise InputError(folder, "no pc_seman/pc_seman_N.npy or pc/pcN.npy frames")
    frames, unlabeled = [], 0
    for i in idx:
        if i in seman:
            a = _npy(seman[i], "labelled points")
            if a.ndim != 2 or a.shape[1] < 4:
                raise InputError(seman[i], f"expected N×4 (x, y, z, label), got {a.shape}")
            lab = a[:, 3]
            if not np.all(lab == np.round(lab)) or lab.min(initial=0) < 0 or lab.max(initial=0) > 16:
                raise InputError(seman[i], "labels (4th column) must be whole SurroundOcc class ids 0..16")
            # SurroundOcc: label 0 is noise → ignore
            labels = np.where(lab == 0, 255, lab).astype(np.int64)
            pts = a[:, :3].astype(np.float64)
        else:
            a = _npy(raw[i], "points")
            if a.ndim != 2 or a.shape[1] < 3:
                raise InputError(raw[i], f"expected N×3+ points, got {a.shape}")
            pts, labels = a[:, :3].astype(np.float64), None
            unlabeled += len(a)
        cp = folder / "calib" / f"lidar_calibrated_sensor{i}.npy"
        pp = folder / "pose" / f"lidar_ego_pose{i}.npy"
        for q in (cp, pp):
            if not q.is_file():
                raise InputError(q, f"missing for frame {i}")
        lidar2ego = quat_pose(load_pickled_npy(cp), cp)
        ego2global = quat_pose(load_pickled_npy(pp), pp)
        boxes, ids, cats = np.zeros((0, 7)), [], np.zeros(0, np.int64)
        bp = folder / "bbox" / f"bbox{i}.npy"
        if bp.is_file():
            boxes = _npy(bp, "boxes").astype(float).reshape(-1, 7) if _npy(bp, "boxes").size else np.zeros((0, 7))
            tp, op = folder / "bbox" / f"boxes_token{i}.npy", folder / "bbox" / f"object_category{i}.npy"
            for q in (tp, op):
                if not q.is_file():
                    raise InputError(q, f"missing for frame {i} (bbox{i}.npy exists)")
            ids = [str(t) for t in np.asarray(_npy(tp, "box tokens")).reshape(-1)]
            cats = np.asarray(_npy(op, "object categories")).reshape(-1).astype(np.int64)
            if len(ids) != len(boxes) or len(cats) != len(boxes):
                raise InputError(bp, f"{len(boxes)} boxes but {len(ids)} tokens and {len(cats)} categories")
        frames.append(Frame(pts, labels, lidar2ego, ego2global, boxes, ids, cats, name=f"{i:06d}"))
    note = f"{unlabeled:,} points from pc/ without pc_seman/ labels" if unlabeled else ""
    return Sequence(frames, "occ3d", "surroundocc", str(folder), EGO_BOXES["nuscenes"], note)


def read_kitti_sequence(folder: Path) -> Sequence:
    from ..labels import get_label_set
    from ..tasks.occupancy import read_poses

    folder = Path(folder)
    scans = sorted((folder / "velodyne").glob("*.bin"))
    if not scans:
        raise InputError(folder / "velodyne", "no .bin scans")
    calib = folder / "calib.txt"
    poses = read_poses(folder / "poses.txt", calib if calib.is_file() else None)
    ls = get_label_set("semantickitti")
    frames, unlabeled = [], 0
    for s in scans:
        n = int(s.stem) if s.stem.isdigit() else None
        if n is None or n >= len(poses):
            raise InputError(s, f"no pose for this scan ({len(poses)} lines in poses.txt)")
        raw = np.fromfile(s, np.float32)
        if raw.size % 4:
            raise InputError(s, "not a KITTI scan (float32 × 4 per point)")
        pts = raw.reshape(-1, 4)[:, :3].astype(np.float64)
        lp = folder / "labels" / f"{s.stem}.label"
        labels = moving = None
        if lp.is_file():
            v = np.fromfile(lp, np.uint32)
            if v.size != len(pts):
                raise InputError(lp, f"{v.size} labels for {len(pts)} points")
            sem = (v & 0xFFFF).astype(np.int64)
            labels = ls.map_raw(sem, unknown=255)
            labels[(labels == 0)] = 255  # unlabeled / outlier / other-object: occupied but unknown
            moving = sem >= 252
        else:
            unlabeled += len(pts)
        frames.append(Frame(pts, labels, np.eye(4), poses[n], moving=moving, name=s.stem))
    note = f"{unlabeled:,} points of scans without labels/*.label" if unlabeled else ""
    return Sequence(frames, "semantickitti", "semantickitti", str(folder), EGO_BOXES["semantickitti"], note)


def _box_world(box, T):
    c = transform(T, np.asarray(box[:3], float)[None])[0]
    return np.array([*c, *box[3:6], box[6] + np.arctan2(T[1, 0], T[0, 0])])


def _box_in(box_w, T):
    Ti = np.linalg.inv(T)
    c = transform(Ti, box_w[None, :3])[0]
    return np.array([*c, *box_w[3:6], box_w[6] + np.arctan2(Ti[1, 0], Ti[0, 0])])


def _with_sweeps(path: Path, base: Path, data_list: list, keys: list) -> tuple[list, int]:
    """Keyframes with their preceding `lidar_sweeps` (mmdet3d v1.1: `lidar_points.lidar_path`, `lidar2ego`,
    `ego2global`, `timestamp`) in time order. A sweep's boxes are those of the instances in both enclosing
    keyframes, interpolated linearly in time (centre and yaw) — so moving objects never smear — and, for an
    instance seen in only one of them, that keyframe's box grown by 1 m. Sweeps have no labels."""
    from ..io.nuscenes import _find, _mat

    out, n = [], 0
    for si, (s, kf) in enumerate(zip(data_list, keys)):
        prev = keys[si - 1] if si > 0 else None
        t1 = s.get("timestamp")
        t0 = data_list[si - 1].get("timestamp") if si > 0 else None
        T1 = kf.ego2global @ kf.lidar2ego
        b1 = {kf.box_ids[i]: (_box_world(kf.boxes[i], T1), kf.box_labels[i]) for i in range(len(kf.boxes))}
        b0 = {}
        if prev is not None:
            T0 = prev.ego2global @ prev.lidar2ego
            b0 = {prev.box_ids[i]: (_box_world(prev.boxes[i], T0), prev.box_labels[i]) for i in range(len(prev.boxes))}
        sw = [w for w in (s.get("lidar_sweeps") or []) if isinstance(w, dict)]
        sw.sort(key=lambda w: float(w.get("timestamp") or 0.0))
        for wi, w in enumerate(sw):
            lp = w.get("lidar_points") or {}
            f = _find(base, lp["lidar_path"]) if lp.get("lidar_path") else None
            if f is None:
                raise InputError(path, f"sample {si}, sweep {wi}: LiDAR file {lp.get('lidar_path')!r} not found")
            raw = np.fromfile(f, np.float32)
            ncol = int(lp.get("num_pts_feats", 5))
            if raw.size % ncol:
                raise InputError(f, f"size is not a multiple of {ncol} float32 columns")
            pts = raw.reshape(-1, ncol)[:, :3].astype(np.float64)
            l2e = _mat(path, lp["lidar2ego"], (4, 4), "sweep lidar2ego") if lp.get("lidar2ego") is not None else kf.lidar2ego
            e2g = _mat(path, w["ego2global"], (4, 4), "sweep ego2global") if w.get("ego2global") is not None else kf.ego2global
            tw = w.get("timestamp")
            a = (float(tw) - float(t0)) / (float(t1) - float(t0)) if None not in (tw, t0, t1) and t1 != t0 else 1.0
            a = float(np.clip(a, 0.0, 1.0))
            Tw = e2g @ l2e
            boxes, ids, labs = [], [], []
            for iid in set(b0) | set(b1):
                if iid in b0 and iid in b1:
                    p0, p1 = b0[iid][0], b1[iid][0]
                    dyaw = (p1[6] - p0[6] + np.pi) % (2 * np.pi) - np.pi
                    bw = np.concatenate([(1 - a) * p0[:6] + a * p1[:6], [p0[6] + a * dyaw]])
                    lab = b1[iid][1]
                else:
                    bw, lab = (b1[iid] if iid in b1 else b0[iid])
                    bw = bw.copy()
                    bw[3:5] += 2.0
                    bw[2] -= 0.5
                    bw[5] += 1.0
                boxes.append(_box_in(bw, Tw))
                ids.append(iid)
                labs.append(lab)
            out.append(Frame(pts, None, l2e, e2g, np.asarray(boxes, float).reshape(-1, 7), ids,
                             np.asarray(labs, np.int64), name=f"{kf.name}-sweep{wi}", is_key=False))
            n += 1
        out.append(kf)
    return out, n


def read_nuscenes_sequence(path: Path, load_cameras: bool = True, sweeps: bool = False) -> Sequence:
    from ..io.nuscenes import BOX_TO_OCC3D, _find, _mat, safe_load_pickle
    from ..labels import get_label_set

    path = Path(path)
    d = safe_load_pickle(path)
    if not isinstance(d, dict) or not d.get("data_list"):
        raise InputError(path, "not an mmdetection3d v1.1 info file with a non-empty 'data_list'")
    cats = {v: k for k, v in ((d.get("metainfo") or {}).get("categories") or {}).items()}
    fine = get_label_set("occ3d")
    base = path.parent
    frames, unlabeled = [], 0
    for si, s in enumerate(d["data_list"]):
        lp = s.get("lidar_points") or {}
        f = _find(base, lp["lidar_path"]) if lp.get("lidar_path") else None
        if f is None:
            raise InputError(path, f"sample {si}: LiDAR file {lp.get('lidar_path')!r} not found beside the info file")
        raw = np.fromfile(f, np.float32)
        ncol = int(lp.get("num_pts_feats", 5))
        if raw.size % ncol:
            raise InputError(f, f"size is not a multiple of {ncol} float32 columns")
        pts = raw.reshape(-1, ncol)[:, :3].astype(np.float64)
        lidar2ego = _mat(path, lp.get("lidar2ego", np.eye(4)), (4, 4), "lidar2ego")
        ego2global = _mat(path, s.get("ego2global", np.eye(4)), (4, 4), "ego2global")
        labels, ego_pts = None, None
        mp = s.get("pts_semantic_mask_path") or (s.get("lidarseg") or {}).get("path")
        if mp:
            q = _find(base, mp)
            if q is None:
                raise InputError(path, f"sample {si}: lidarseg file {mp!r} not found")
            lab = np.fromfile(q, np.uint8)
            if lab.size != len(pts):
                raise InputError(q, f"{lab.size} labels for {len(pts)} points")
            ego_pts = lab == NUSCENES_EGO_FINE
            labels = fine.map_raw(lab.astype(np.int64), unknown=255)
            labels[np.isin(lab, (0,))] = 255  # noise → ignore
        else:
            unlabeled += len(pts)
        boxes, ids, blab = [], [], []
        for k, inst in enumerate(s.get("instances") or []):
            b = inst.get("bbox_3d")
            if b is None or len(b) < 7:
                continue
            name = cats.get(int(inst.get("bbox_label_3d", -1)), "unknown")
            boxes.append([float(v) for v in b[:7]])
            ids.append(str(inst.get("instance_token", inst.get("token", f"{si}:{k}"))))
            blab.append(BOX_TO_OCC3D.get(name, 0))
        cams = []
        for name, c in (s.get("images") or {}).items() if load_cameras else ():
            if not isinstance(c, dict) or "cam2img" not in c or "cam2ego" not in c:
                continue
            size = (int(c["width"]), int(c["height"])) if "width" in c and "height" in c else None
            if size is None and c.get("img_path"):
                ip = _find(base, c["img_path"])
                if ip is not None:
                    size = _image_size(ip)
            if size is None:
                continue
            cams.append(CameraInfo(name, np.asarray(c["cam2img"], float)[:3, :3],
                                   _mat(path, c["cam2ego"], (4, 4), f"{name}.cam2ego"), size))
        frames.append(Frame(pts, labels, lidar2ego, ego2global, np.asarray(boxes, float).reshape(-1, 7), ids,
                            np.asarray(blab, np.int64), ego_points=ego_pts, cameras=cams,
                            name=str(s.get("token", si))))
    n_sweeps = 0
    if sweeps:
        frames, n_sweeps = _with_sweeps(path, base, d["data_list"], frames)
    note = (f"{unlabeled:,} LiDAR points have no lidarseg labels (points inside boxes take the box's class)"
            if unlabeled else "")
    if n_sweeps:
        note = (note + "; " if note else "") + f"{n_sweeps} sweeps between keyframes carry no labels"
    seq = Sequence(frames, "occ3d", "nuscenes", str(path), EGO_BOXES["nuscenes"], note)
    if not any("instance_token" in inst for s in d["data_list"] for inst in (s.get("instances") or [])):
        seq.layout = "nuscenes-untracked"  # instances matched across frames by position (no tokens)
    return seq


_SIZES: dict[str, tuple[int, int] | None] = {}


def _image_size(path: Path) -> tuple[int, int] | None:
    key = str(path)
    if key not in _SIZES:
        import cv2

        img = cv2.imread(key, cv2.IMREAD_GRAYSCALE)
        _SIZES[key] = None if img is None else (img.shape[1], img.shape[0])
    return _SIZES[key]


def detect_sequence(path, sweeps: bool = False) -> Sequence | None:
    """The sequence layout at `path`, or None when it is not a sequence (single scans go the old way).
    `sweeps`: nuScenes infos also accumulate the non-key sweeps between keyframes."""
    p = Path(path)
    if is_surroundocc_layout(p):
        return read_surroundocc_sequence(p)
    if is_kitti_sequence(p):
        return read_kitti_sequence(p)
    if p.is_file() and p.suffix == ".pkl" and _is_nuscenes_info(p):
        return read_nuscenes_sequence(p, sweeps=sweeps)
    return None


def _is_nuscenes_info(p: Path) -> bool:
    """nuScenes-style info files carry ego poses and LiDAR→ego; KITTI infos (camera-frame boxes) do not."""
    from ..io.nuscenes import safe_load_pickle

    d = safe_load_pickle(p)
    if not isinstance(d, dict) or not isinstance(d.get("data_list"), list) or not d["data_list"]:
        return False
    if str((d.get("metainfo") or {}).get("dataset", "")).lower() == "nuscenes":
        return True
    s = d["data_list"][0]
    return isinstance(s, dict) and "ego2global" in s and "lidar2ego" in (s.get("lidar_points") or {})


# ------------------------------------------------------------------------------------------ building


def _associate(frames: list[Frame], untracked: bool) -> list[list[str]]:
    """Per frame, an instance id per box. With tokens, the tokens; without, greedy nearest-centre matching
    in the global frame between consecutive frames (same class, within 2 m + half the box length)."""
    if not untracked:
        return [list(f.box_ids) for f in frames]
    out, prev, nxt = [], [], 0
    for f in frames:
        g = transform(f.ego2global @ f.lidar2ego, f.boxes[:, :3]) if len(f.boxes) else np.zeros((0, 3))
        ids = [None] * len(f.boxes)
        used = set()
        for bi in range(len(f.boxes)):
            best, bd = None, None
            for pid, pc, pl, plen in prev:
                if pid in used or pl != f.box_labels[bi]:
                    continue
                dist = float(np.linalg.norm(pc[:2] - g[bi, :2]))
                if dist <= 2.0 + plen / 2 and (bd is None or dist < bd):
                    best, bd = pid, dist
            if best is None:
                best = f"track{nxt}"
                nxt += 1
            used.add(best)
            ids[bi] = best
        prev = [(ids[bi], g[bi], f.box_labels[bi], float(f.boxes[bi, 3])) for bi in range(len(f.boxes))]
        out.append(ids)
    return out


def occ3d_ground_spec(spec: GridSpec, ground_layer: int | None) -> GridSpec:
    """Occ3D grids with the ground plane (ego z = 0) in layer `ground_layer` (see the module note)."""
    if ground_layer is None or spec.frame != "ego":
        return spec
    vz = spec.voxel_size[2]
    return replace(spec, origin=(spec.origin[0], spec.origin[1], -(ground_layer + 0.5) * vz))


@dataclass
class Accumulation:
    """What does not depend on the keyframe: every frame's static points and sensor origin in the global
    frame, moving points without boxes per frame, and each instance's points in its own box frame."""

    static: list  # per frame: (world points, labels)
    moving: list  # per frame: (world points, labels) of box-less moving points (SemanticKITTI moving-*)
    origins: list  # per frame: sensor origin, world
    objects: dict  # instance id -> list of box-frame point arrays
    ids_per_frame: list
    ego_box: tuple
    n_ego: int = 0


def accumulate(seq: Sequence, ego_box=None, box_margin: float = 0.05, ctx: JobContext | None = None) -> Accumulation:
    """Remove the ego vehicle's returns, split static from boxed points and accumulate both (once per sequence;
    `build_ground_truth` then places it at any keyframe)."""
    ctx = ctx or JobContext()
    ego_box = tuple(ego_box if ego_box is not None else seq.ego_box)
    frames = seq.frames
    ids_per_frame = _associate(frames, seq.layout == "nuscenes-untracked")
    static_cls = np.asarray(STATIC_CLASSES.get(seq.label_set, ()), np.int64)
    acc = Accumulation([], [], [], {}, ids_per_frame, ego_box)
    with ctx.stage("accumulate"):
        for fi, f in enumerate(frames):
            ctx.progress(0.3 * fi / len(frames), f"accumulating frame {fi + 1}/{len(frames)}")
            lab = f.labels.astype(np.int64) if f.labels is not None else np.full(len(f.points), -1, np.int64)
            pe = transform(f.lidar2ego, f.points)
            ego = in_ego_box(pe, ego_box)
            if f.ego_points is not None:
                ego |= f.ego_points
            acc.n_ego += int(ego.sum())
            which = points_in_boxes(f.points, f.boxes, box_margin) if len(f.boxes) else np.full(len(f.points), -1)
            if f.labels is not None and static_cls.size:
                which[np.isin(lab, static_cls)] = -1  # road/building points inside a box stay static
            dyn = (which >= 0) & ~ego
            for bi in np.unique(which[dyn]):
                sel = dyn & (which == bi)
                acc.objects.setdefault(ids_per_frame[fi][bi], []).append(to_box_frame(f.points[sel], f.boxes[bi]))
            keep = ~ego & (which < 0)
            mov = keep & f.moving if f.moving is not None else np.zeros(len(keep), bool)
            T = f.ego2global @ f.lidar2ego
            acc.static.append((transform(T, f.points[keep & ~mov]), lab[keep & ~mov]))
            acc.moving.append((transform(T, f.points[mov]), lab[mov]))
            acc.origins.append(transform(T, np.zeros((1, 3)))[0])
            ctx.check_cancel()
    return acc


def build_ground_truth(seq: Sequence, spec: GridSpec, keyframe: int = 0, ego_box=None,
                       densify: bool = False, unlabeled_class: int | None = None, camera_mask: bool = True,
                       box_margin: float = 0.05, device: str = "cpu", ctx: JobContext | None = None,
                       warn=None, nn_radius: float = 0.0, acc: Accumulation | None = None,
                       densify_depth: int = 10) -> VoxelGrid:
    """Semantic occupancy of the keyframe from the whole sequence. `warn(msg)` receives data warnings; `acc`
    (from `accumulate`) is reused across keyframes of one sequence. `densify`: False, True / 'auto' (SurroundOcc's
    Poisson when Open3D imports, else closing), 'poisson' or 'closing'; `densify_depth`: the Poisson octree
    depth (SurroundOcc: 10)."""
    from ..labels import get_label_set
    from .voxelize import majority_vote, raycast_visibility

    ctx = ctx or JobContext()
    warn = warn or (lambda m: None)
    frames = seq.frames
    keys = seq.keyframes
    if not 0 <= keyframe < len(keys):
        raise InputError(seq.source, f"keyframe {keyframe} out of range (0..{len(keys) - 1})")
    if spec.label_set != seq.label_set:
        raise InputError(seq.source, f"the sequence has {seq.label_set} labels but the grid uses {spec.label_set}")
    key_index = keyframe
    keyframe = keys[keyframe]  # from here on: the index into frames (sweeps included)
    if acc is None or (ego_box is not None and tuple(ego_box) != acc.ego_box):
        acc = accumulate(seq, ego_box, box_margin, ctx)
    ego_box = acc.ego_box
    kf = frames[keyframe]
    # the grid frame at the keyframe: ego (Occ3D) or LiDAR (SurroundOcc, SemanticKITTI)
    world_to_grid = np.linalg.inv(kf.ego2global @ kf.lidar2ego) if spec.frame == "lidar" else np.linalg.inv(kf.ego2global)
    grid_to_ego = kf.lidar2ego if spec.frame == "lidar" else np.eye(4)
    st_pts, st_lab, st_origin, st_count = [], [], [], []
    n_moving_dropped = 0
    for fi in range(len(frames)):
        p, lab = acc.static[fi]
        if fi == keyframe:  # moving points without boxes count at the keyframe only
            p, lab = np.concatenate([p, acc.moving[fi][0]]), np.concatenate([lab, acc.moving[fi][1]])
        else:
            n_moving_dropped += len(acc.moving[fi][0])
        st_pts.append(transform(world_to_grid, p))
        st_lab.append(lab)
        st_origin.append(transform(world_to_grid, acc.origins[fi][None])[0])
        st_count.append(len(p))
    n_ego = acc.n_ego
    with ctx.stage("place instances"):
        # instances at the keyframe's boxes (only the points that fall inside the keyframe box)
        ob_pts, ob_lab = [], []
        T_kf = world_to_grid @ kf.ego2global @ kf.lidar2ego
        for bi, iid in enumerate(acc.ids_per_frame[keyframe]):
            if iid not in acc.objects:
                continue
            local = np.concatenate(acc.objects[iid])
            placed = from_box_frame(local, kf.boxes[bi])
            inside = points_in_boxes(placed, kf.boxes[bi:bi + 1], box_margin) >= 0
            ob_pts.append(transform(T_kf, placed[inside]))
            ob_lab.append(np.full(int(inside.sum()), int(kf.box_labels[bi]), np.int64))
    pts = np.concatenate(st_pts + ob_pts) if st_pts or ob_pts else np.zeros((0, 3))
    labs = np.concatenate(st_lab + ob_lab) if st_lab or ob_lab else np.zeros(0, np.int64)
    unl = labs < 0
    n_unl = int(unl.sum())
    if n_unl and unlabeled_class is not None:
        labs = np.where(unl, unlabeled_class, labs)
        unl = np.zeros(len(labs), bool)
    elif n_unl:
        warn(f"{seq.source}: {n_unl:,} points in the grid have no semantic label "
             f"({seq.unlabeled_note or 'unlabelled input'}); voxels holding only such points are "
             f"{'labelled by their nearest labelled voxel within %g m, else ' % nn_radius if nn_radius else ''}"
             f"{spec.ignore_label} (ignore) — give --unlabeled-class C to assign a class")
    n_cls = get_label_set(spec.label_set).n
    with ctx.stage("voxelise"):
        ctx.progress(0.32, f"majority vote over {len(pts):,} points")
        # labelled points vote; unlabelled ones only make a voxel occupied where no labelled point falls
        labs = np.where(labs == spec.free_label, n_cls, labs)  # a point means occupied, never free
        dense, counts = majority_vote(pts[~unl], labs[~unl], spec, n_cls, device)
        dense[(counts > 0) & (dense == spec.free_label)] = spec.ignore_label
        if unl.any():
            _, ucount = majority_vote(pts[unl], np.zeros(int(unl.sum()), np.int64), spec, n_cls, device)
            only = (ucount > 0) & (counts == 0)
            dense[only] = spec.ignore_label
            if nn_radius and only.any():
                dense = _nearest_labels(dense, only, spec, nn_radius)
    ego_vox = _ego_voxels(spec, grid_to_ego, ego_box)
    dense[ego_vox] = spec.free_label
    masks: dict[str, np.ndarray] = {}
    with ctx.stage("raycast"):
        obs = np.zeros(spec.shape, bool)
        passed_any = np.zeros(spec.shape, bool)
        segs = list(zip(st_origin, np.split(np.concatenate(st_pts) if st_pts else np.zeros((0, 3)),
                                             np.cumsum(st_count)[:-1])))
        if ob_pts:
            segs.append((transform(T_kf, np.zeros((1, 3)))[0], np.concatenate(ob_pts)))
        sub = ctx.sub(0.35, 0.7)
        for i, (o, seg) in enumerate(segs):
            if not len(seg):
                continue
            inner = JobContext(lambda fr, m, i=i: sub((i + fr) / len(segs), f"LiDAR rays: sweep {i + 1}/{len(segs)}"),
                               cancel_event=ctx.cancel_event)
            o_i, p_i = raycast_visibility(seg, o, spec, device, inner)
            obs |= o_i
            passed_any |= p_i
        masks["mask_lidar"] = obs
    densified = None
    if densify:
        from .densify import densify_scene

        with ctx.stage("densify"):  # SurroundOcc's Poisson when Open3D imports, else the closing stand-in
            ctx.progress(0.72, "densifying")
            method = densify if isinstance(densify, str) else "auto"
            from ..device import worker_threads

            dense, densified = densify_scene(dense, spec, pts, labs, ~unl & (labs < n_cls),
                                             passed_any & ~(dense != spec.free_label),
                                             st_origin[keyframe], method, n_threads=worker_threads(),
                                             depth=densify_depth)
            dense[ego_vox] = spec.free_label
            masks["mask_lidar"] = masks["mask_lidar"] | (dense != spec.free_label)
    cams = kf.cameras if camera_mask else []
    if cams:
        with ctx.stage("camera mask"):
            cam_obs = np.zeros(spec.shape, bool)
            sub = ctx.sub(0.75, 0.98)
            occ = dense != spec.free_label
            for ci, cam in enumerate(cams):
                cam_obs |= camera_visibility(occ, spec, cam, np.linalg.inv(grid_to_ego), device)
                sub((ci + 1) / len(cams), f"camera rays: {cam.name}")
            masks["mask_camera"] = cam_obs & masks["mask_lidar"]
    from .raymetrics import select_origins

    g = spec.empty(f"ground truth ({Path(seq.source).name}, frame {key_index})", seq.source)
    # RayIoU casts from the LiDAR origins of the scene's keyframes (the reference picks ≤ 8 within ±39 m)
    g.meta["ray_origins"] = select_origins(np.asarray([st_origin[i] for i in keys])).tolist()
    g.labels = dense
    g.masks = masks
    g.meta.update({"role": "gt", "grid": spec.name, "frames": len(frames), "keyframe": key_index,
                   "sweeps": len(frames) - len(keys),
                   "points": int(len(pts)), "ego_points_removed": n_ego, "unlabeled_points": n_unl,
                   "instances": len(ob_pts), "layout": seq.layout, "moving_points_dropped": n_moving_dropped})
    if densified is not None:
        g.meta["densify"] = densified
    ctx.progress(1.0, "done")
    return g


def _nearest_labels(dense: np.ndarray, targets: np.ndarray, spec: GridSpec, radius: float) -> np.ndarray:
    """SurroundOcc's nearest-neighbour semantics: each target voxel takes the class of the nearest voxel that
    has one (not free, not ignore), if it lies within `radius` metres."""
    from scipy.spatial import cKDTree

    known = (dense != spec.free_label) & (dense != spec.ignore_label) & ~targets
    if not known.any():
        return dense
    vs = np.asarray(spec.voxel_size, float)
    src = np.argwhere(known)
    tgt = np.argwhere(targets)
    d, nn = cKDTree(src * vs).query(tgt * vs, distance_upper_bound=radius)
    ok = np.isfinite(d)
    out = dense.copy()
    out[tuple(tgt[ok].T)] = dense[tuple(src[nn[ok]].T)]
    return out


def _ego_voxels(spec: GridSpec, grid_to_ego: np.ndarray, ego_box) -> np.ndarray:
    """Voxels whose centre lies inside the ego box (at the keyframe)."""
    ii = [np.arange(n) for n in spec.shape]
    centres = [np.asarray(spec.origin[a]) + (ii[a] + 0.5) * spec.voxel_size[a] for a in range(3)]
    X, Y, Z = np.meshgrid(*centres, indexing="ij")
    c = np.stack([X, Y, Z], -1).reshape(-1, 3)
    return in_ego_box(transform(grid_to_ego, c), ego_box).reshape(spec.shape)


def densify_grid(dense: np.ndarray, spec: GridSpec, known_free: np.ndarray, iterations: int = 1) -> np.ndarray:
    """The closing stand-in (kept for callers of this name): see `densify.closing_densify`."""
    from .densify import closing_densify

    return closing_densify(dense, spec, known_free, iterations)


def camera_visibility(occupied: np.ndarray, spec: GridSpec, cam: CameraInfo, ego_to_grid: np.ndarray,
                      device: str = "cpu", chunk_crossings: int = 3_000_000) -> np.ndarray:
    """Occ3D's camera visibility for one camera: a ray from the camera centre to the centre of every occupied
    voxel that projects into the image marks the voxels it crosses up to and including the first occupied
    voxel; everything behind stays unobserved."""
    import torch

    X, Y, Z = spec.shape
    occ_idx = np.argwhere(occupied)
    out = np.zeros(spec.shape, bool)
    if not len(occ_idx):
        return out
    vs = np.asarray(spec.voxel_size)
    lo = np.asarray(spec.origin)
    centres = lo + (occ_idx + 0.5) * vs
    cam2grid = ego_to_grid @ cam.cam2ego
    o = cam2grid[:3, 3]
    pc = transform(np.linalg.inv(cam2grid), centres)
    front = pc[:, 2] > 1e-3
    uvw = pc[front] @ cam.K.T
    u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
    W, H = cam.size
    vis = np.zeros(len(centres), bool)
    vis[np.flatnonzero(front)[(u >= 0) & (u < W) & (v >= 0) & (v < H)]] = True
    targets = centres[vis]
    if not len(targets):
        return out
    dt = torch.float64
    occ_t = torch.as_tensor(occupied.reshape(-1), device=device)
    cs = torch.as_tensor((o - lo) / vs, dtype=dt, device=device)
    ce = torch.as_tensor((targets - lo) / vs, dtype=dt, device=device)
    dc = ce - cs
    shape = torch.tensor(spec.shape, device=device)
    strides = (Y * Z, Z, 1)
    # planes crossed per axis between start and end, clipped to the grid's planes
    a0 = torch.minimum(cs.expand_as(ce), ce)
    a1 = torch.maximum(cs.expand_as(ce), ce)
    kmin = torch.ceil(a0).clamp(min=0).minimum(shape.to(dt))
    kmax = torch.floor(a1).clamp(min=0).minimum(shape.to(dt))
    counts = (kmax - kmin + 1).clamp_min(0).to(torch.int64)
    counts = torch.where(dc != 0, counts, torch.zeros_like(counts))
    per_ray = counts.sum(1)
    n_rays = len(targets)
    obs = torch.zeros(X * Y * Z + 1, dtype=torch.bool, device=device)
    start_cell = torch.floor(cs).to(torch.int64)
    s_in = bool(((start_cell >= 0) & (start_cell < shape)).all())
    csum = torch.cumsum(per_ray, 0)
    total = int(csum[-1])
    n_chunks = max(1, -(-total // chunk_crossings))
    bounds = torch.searchsorted(csum, torch.arange(1, n_chunks + 1, device=device) * (total / n_chunks)).tolist()
    start = 0
    for ci, stop in enumerate(bounds):
        stop = min(n_rays, stop + 1) if ci < n_chunks - 1 else n_rays
        if stop <= start:
            continue
        R = stop - start
        ts, cells, rays = [], [], []
        for a in range(3):
            cnt = counts[start:stop, a]
            m = int(cnt.sum())
            if m == 0:
                continue
            ray = torch.repeat_interleave(torch.arange(start, stop, device=device), cnt)
            first = torch.cumsum(cnt, 0) - cnt
            k = kmin[ray, a] + (torch.arange(m, device=device) - first[ray - start]).to(dt)
            t = (k - cs[a]) / dc[ray, a]
            ok = (t > 0) & (t < 1)
            ki = k.to(torch.int64)
            entered = torch.where(dc[ray, a] > 0, ki, ki - 1)  # the cell the ray enters at this plane
            ok &= (entered >= 0) & (entered < spec.shape[a])
            lin = entered * strides[a]
            for b in range(3):
                if b == a:
                    continue
                cb = torch.floor(cs[b] + dc[ray, b] * t).to(torch.int64)
                ok &= (cb >= 0) & (cb < spec.shape[b])
                lin = lin + cb * strides[b]
            ts.append(t[ok])
            cells.append(lin[ok])
            rays.append(ray[ok] - start)
        if not ts:
            start = stop
            continue
        t = torch.cat(ts)
        cell = torch.cat(cells)
        ray = torch.cat(rays)
        hit_t = torch.full((R,), 2.0, dtype=dt, device=device)
        hit = occ_t[cell]
        hit_t.scatter_reduce_(0, ray[hit], t[hit], reduce="amin")
        keep = t <= hit_t[ray]
        obs[torch.where(keep, cell, torch.full_like(cell, X * Y * Z))] = True
        start = stop
    if s_in:
        sc = start_cell
        obs[int((sc[0] * Y + sc[1]) * Z + sc[2])] = True
    return obs[:-1].view(X, Y, Z).cpu().numpy()
