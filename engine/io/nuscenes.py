"""nuScenes keyframes from an mmdetection3d info `.pkl` (v1.1 `data_list` layout): six calibrated cameras,
the LiDAR sweep in the ego frame, LiDAR→ego, ego→global and the annotated 3-D boxes.

Info files are pickles, and unpickling runs code, so they are read with a restricted unpickler that only
resolves builtins' plain containers and numpy's scalar/dtype/array reconstructors (the only globals these
files use). The scene is expressed in the ego frame, the frame of Occ3D grids, so points, cameras and
voxels line up without further transforms; LiDAR→ego and ego→global are kept in the metadata.
"""
from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..scene import Camera, CameraRig, PointCloud, Scene
from . import register

_SAFE_BUILTINS = {"set", "frozenset", "slice", "complex", "range", "bytearray", "dict", "list", "tuple", "int",
                  "float", "str", "bool", "bytes", "object"}
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "dtype"), ("numpy", "ndarray"), ("_codecs", "encode"),
}
CAMERAS = ("CAM_FRONT", "CAM_FRONT_RIGHT", "CAM_FRONT_LEFT", "CAM_BACK", "CAM_BACK_LEFT", "CAM_BACK_RIGHT")
# mmdet3d nuScenes detection classes → Occ3D / nuScenes-lidarseg ids
BOX_TO_OCC3D = {"car": 4, "truck": 10, "trailer": 9, "bus": 3, "construction_vehicle": 5, "bicycle": 2,
                "motorcycle": 6, "pedestrian": 7, "traffic_cone": 8, "barrier": 1}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module == "builtins" and name in _SAFE_BUILTINS) or (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in an info file")


def safe_load_pickle(path: Path):
    path = Path(path)
    try:
        return RestrictedUnpickler(io.BytesIO(path.read_bytes())).load()
    except pickle.UnpicklingError as e:
        raise InputError(path, f"refused to unpickle: {e}") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, ImportError) as e:
        raise InputError(path, f"corrupt pickle ({type(e).__name__}: {e})") from None


def _mat(path: Path, v, shape, what: str) -> np.ndarray:
    try:
        m = np.asarray(v, float)
    except (TypeError, ValueError):
        raise InputError(path, f"{what} must be a {shape} matrix of numbers") from None
    if m.shape != shape:
        raise InputError(path, f"{what} must be {shape}, got {m.shape}")
    bad = int((~np.isfinite(m)).sum())
    if bad:
        raise InputError(path, f"{what} has {bad} non-finite value{'s' if bad != 1 else ''} (NaN or Inf)")
    return m


def _find(base: Path, rel: str, owner: Path | None = None, field: str = "path") -> Path | None:
    """The file an info entry names: as written (relative to the info file), else by its name under the info
    file's folder. It may not leave that folder (unless allowed) nor name a device or system file; errors
    name `owner` (the info file)."""
    from .limits import resolve_inside

    base = Path(base).absolute()  # a relative info path must not make every candidate look like it leaves
    owner = Path(owner).absolute() if owner is not None else base
    if not isinstance(rel, str):
        raise InputError(owner, f"{field} must be a path string, got {type(rel).__name__}")
    direct = resolve_inside(owner if owner.is_file() else base, rel, field, must_exist=False)
    name = Path(rel).name
    cands = [direct] + ([base / name] if name not in ("", ".", "..") else [])
    for cand in cands:
        if cand.exists():
            return resolve_inside(owner if owner.is_file() else base, str(cand), field)
    hits = list(base.rglob(name)) if name not in ("", ".", "..") else []
    return resolve_inside(owner if owner.is_file() else base, str(hits[0]), field) if hits else None


def read_info(path: Path, index: int = 0, load_images: bool = True, **opts) -> Scene:
    from .pointcloud import load_bin

    path = Path(path)
    d = safe_load_pickle(path)
    if not isinstance(d, dict) or "data_list" not in d:
        raise InputError(path, "not an mmdetection3d v1.1 info file (no 'data_list')")
    dl = d["data_list"]
    if not dl:
        raise InputError(path, "info file has an empty data_list")
    if not 0 <= index < len(dl):
        raise InputError(path, f"sample index {index} out of range (0..{len(dl) - 1})")
    s = dl[index]
    base = path.parent
    lp = s.get("lidar_points") or {}
    lidar2ego = _mat(path, lp["lidar2ego"], (4, 4), "lidar2ego") if "lidar2ego" in lp else np.eye(4)
    ego2global = _mat(path, s["ego2global"], (4, 4), "ego2global") if "ego2global" in s else np.eye(4)
    frame = "ego" if "lidar2ego" in lp else "lidar"
    scene = Scene(name=str(s.get("token", path.stem)), path=str(path))
    scene.meta.update({"format": "nuscenes-info", "frame": frame, "lidar2ego": lidar2ego, "ego2global": ego2global,
                       "token": s.get("token"), "timestamp": s.get("timestamp"),
                       "dataset": (d.get("metainfo") or {}).get("dataset")})
    cams = []
    for name, c in (s.get("images") or {}).items():
        if not isinstance(c, dict) or "cam2img" not in c:
            continue
        K = _mat(path, np.asarray(c["cam2img"], float)[:3, :3], (3, 3), f"{name}.cam2img")
        if "cam2ego" in c and frame == "ego":
            cam_to_frame = _mat(path, c["cam2ego"], (4, 4), f"{name}.cam2ego")
        elif "lidar2cam" in c:
            cam_to_frame = lidar2ego @ np.linalg.inv(_mat(path, c["lidar2cam"], (4, 4), f"{name}.lidar2cam"))
        else:
            continue
        cam = Camera(name=name, K=K, cam_to_frame=cam_to_frame)
        ip = _find(base, c["img_path"], path, f"images.{name}.img_path") if c.get("img_path") else None
        if ip is not None:
            cam.image_path = str(ip)
            if load_images:
                import cv2

                img = cv2.imread(str(ip), cv2.IMREAD_COLOR)
                if img is None:
                    raise InputError(ip, "image could not be decoded")
                cam.image = np.ascontiguousarray(img[:, :, ::-1])
                cam.size = (img.shape[1], img.shape[0])
        cams.append(cam)
    order = {n: i for i, n in enumerate(CAMERAS)}
    cams.sort(key=lambda c: order.get(c.name, 99))
    if cams:
        rig = CameraRig(name="cameras", source=str(path), cameras=cams, frame=frame)
        scene.add(rig)
    lidar_file = _find(base, lp["lidar_path"], path, "lidar_points.lidar_path") if lp.get("lidar_path") else None
    if lidar_file is not None:
        pc = load_bin(lidar_file, columns=int(lp.get("num_pts_feats", 5)) if lp.get("num_pts_feats") in (4, 5) else None)[0]
        pc.points = pc.points @ lidar2ego[:3, :3].T + lidar2ego[:3, 3]
        pc.frame = frame
        pc.name = "LIDAR_TOP"
        pc.meta.update({"lidar2ego": lidar2ego, "sensor_origin": lidar2ego[:3, 3].copy()})
        scene.add(pc)
    boxes = []
    for inst in s.get("instances") or []:
        b = inst.get("bbox_3d")
        if b is None or len(b) < 7:
            continue
        cats = {v: k for k, v in ((d.get("metainfo") or {}).get("categories") or {}).items()}
        boxes.append({"box_lidar": [float(v) for v in b[:7]], "label": int(inst.get("bbox_label_3d", inst.get("bbox_label", -1))),
                      "name": cats.get(int(inst.get("bbox_label_3d", -1)), "unknown"),
                      "valid": bool(inst.get("bbox_3d_isvalid", True))})
    scene.meta["boxes"] = boxes
    return scene


@register("nuscenes-info", "mmdetection3d info .pkl (nuScenes / KITTI): cameras, LiDAR, calibration, boxes")
def load_info(path: Path, **opts) -> Scene:
    return read_info(path, **opts)


@load_info.sniffer
def _sniff(p: Path, head: bytes) -> int:
    if not head[:1] == b"\x80":
        return 0
    return 100 if b"data_list" in head or b"metainfo" in head else (20 if p.suffix == ".pkl" else 0)


def box_corners_mask(points_lidar: np.ndarray, boxes: list[dict]) -> np.ndarray:
    """Index of the box (−1 for none) containing each point; boxes are mmdet3d LiDAR boxes
    (x, y, z_bottom, l, w, h, yaw)."""
    out = np.full(len(points_lidar), -1, np.int64)
    for bi, b in enumerate(boxes):
        x, y, z, l, w, h, yaw = b["box_lidar"]
        c, s = np.cos(yaw), np.sin(yaw)
        d = points_lidar - np.array([x, y, z])
        lx = c * d[:, 0] + s * d[:, 1]
        ly = -s * d[:, 0] + c * d[:, 1]
        inside = (np.abs(lx) <= l / 2) & (np.abs(ly) <= w / 2) & (d[:, 2] >= 0) & (d[:, 2] <= h)
        out[inside & (out < 0)] = bi
    return out


def label_points_from_boxes(scene: Scene) -> np.ndarray:
    """Occ3D class per LiDAR point from the annotated boxes (0 = others for points in no box).

    nuScenes-lidarseg labels are not part of the sample; boxes give real, if partial, semantics.
    """
    pc = next((lay for lay in scene.layers if isinstance(lay, PointCloud)), None)
    if pc is None:
        raise InputError(scene.path, "scene has no LiDAR points")
    T = np.asarray(scene.meta.get("lidar2ego", np.eye(4)))
    pl = (pc.points - T[:3, 3]) @ T[:3, :3]
    boxes = scene.meta.get("boxes") or []
    which = box_corners_mask(pl, boxes)
    table = np.array([BOX_TO_OCC3D.get(b["name"], 0) for b in boxes] + [0], np.uint8)
    return table[which]
