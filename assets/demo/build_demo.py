"""Builds the built-in demo scene from the real nuScenes v1.0-mini keyframe in ../shared/data.

Run once from the repo root: `python assets/demo/build_demo.py`. It writes the LiDAR sweep in the ego
frame (PLY with intensity and a per-point class taken from the keyframe's annotated 3D boxes: points
inside a box get the box's class in the Occ3D/nuScenes table, other points 255 = not annotated), the six
camera images at half resolution with matching intrinsics, and `scene.json` tying them together.
"""
from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SRC = ROOT.parent / "shared" / "data" / "nuscenes_sample"
OUT = Path(__file__).resolve().parent
SCALE = 0.5
# mmdet3d nuScenes category index → Occ3D / nuScenes-lidarseg class id (assets/labels/occ3d.json)
MMDET_TO_OCC3D = {0: 4, 1: 10, 2: 9, 3: 3, 4: 5, 5: 2, 6: 6, 7: 7, 8: 8, 9: 1}


class _InfoUnpickler(pickle.Unpickler):
    _ALLOWED = {("numpy.core.multiarray", "scalar"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        import importlib

        return getattr(importlib.import_module(module), name)


def points_in_boxes(pts: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Index of the box (bottom-centred x,y,z,dx,dy,dz,yaw in the LiDAR frame) holding each point, or -1."""
    out = np.full(len(pts), -1)
    for b, (x, y, z, dx, dy, dz, yaw) in enumerate(boxes):
        c, s = np.cos(-yaw), np.sin(-yaw)
        rel = pts - (x, y, z)
        lx, ly = c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]
        inside = (np.abs(lx) <= dx / 2) & (np.abs(ly) <= dy / 2) & (rel[:, 2] >= 0) & (rel[:, 2] <= dz)
        out[inside & (out < 0)] = b
    return out


def main() -> None:
    import cv2

    from scenelens.engine.io.manifest import write_manifest
    from scenelens.engine.io.pointcloud import write_ply
    from scenelens.engine.scene import PointCloud

    pkl = next(SRC.glob("*.pkl"))
    info = _InfoUnpickler(open(pkl, "rb")).load()["data_list"][0]
    lidar = np.fromfile(SRC / info["lidar_points"]["lidar_path"], np.float32).reshape(-1, 5)
    inst = [i for i in info["instances"] if i["bbox_label_3d"] in MMDET_TO_OCC3D]  # -1: category outside the 10
    boxes = np.array([i["bbox_3d"] for i in inst], float)
    cls = np.array([MMDET_TO_OCC3D[i["bbox_label_3d"]] for i in inst])
    which = points_in_boxes(lidar[:, :3].astype(float), boxes)
    labels = np.where(which >= 0, cls[np.maximum(which, 0)], 255).astype(np.uint8)
    l2e = np.array(info["lidar_points"]["lidar2ego"], float)
    pts_ego = lidar[:, :3] @ l2e[:3, :3].T + l2e[:3, 3]
    cloud = PointCloud(name="LIDAR_TOP", points=pts_ego,
                       attributes={"intensity": lidar[:, 3].copy(), "label": labels})
    write_ply(OUT / "lidar_top.ply", cloud)
    layers = [{"path": "lidar_top.ply", "name": "LIDAR_TOP (ego frame)", "options": {"label_set": "occ3d"}}]
    for cam, ci in info["images"].items():
        img = cv2.imread(str(SRC / ci["img_path"]))
        small = cv2.resize(img, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
        name = f"{cam.lower()}.jpg"
        cv2.imwrite(str(OUT / name), small, [cv2.IMWRITE_JPEG_QUALITY, 85])
        K = np.array(ci["cam2img"], float)[:3, :3].copy()
        K[:2] *= SCALE
        layers.append({"path": name, "name": cam, "camera": {"K": K.round(4).tolist(),
                                                             "cam_to_frame": np.array(ci["cam2ego"]).round(6).tolist()}})
    write_manifest(OUT / "scene.json", "nuScenes mini keyframe (demo)", layers, frame="ego")
    print(f"{len(lidar)} points, {int((labels != 255).sum())} inside {len(boxes)} annotated boxes")


if __name__ == "__main__":
    main()
