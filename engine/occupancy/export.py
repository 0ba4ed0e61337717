"""Exports of occupancy results: metrics as CSV/JSON, the voxel surface as a coloured PLY.

All writes go through engine.atomic so an interrupted export never leaves a half-written file.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np

from ..atomic import atomic_open, write_text
from ..labels import get_label_set
from ..scene import VoxelGrid
from .metrics import to_jsonable


def write_metrics_csv(path, res: dict) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["class", "iou_percent"])
    for name, v in res["per_class"].items():
        w.writerow([name, "" if v is None else f"{v:.6f}"])
    w.writerow(["mIoU", f"{res['miou']:.6f}"])
    w.writerow(["geometry IoU", f"{res['iou_geometry']:.6f}"])
    write_text(path, buf.getvalue())


def write_metrics_json(path, res: dict) -> None:
    write_text(path, json.dumps(to_jsonable(res), indent=1))


def write_surface_ply(path, grid: VoxelGrid, visible: np.ndarray | None = None, merge: bool = True) -> int:
    """Exposed voxel faces as a PLY mesh with per-face class colours (world coordinates); returns face count."""
    from plyfile import PlyData, PlyElement

    from .surface import exposed_faces

    occ = grid.occupied() if visible is None else visible
    surf = exposed_faces(occ, grid.labels, merge=merge)
    verts = surf.vertices(grid.voxel_size) + np.asarray(grid.origin)
    lut = get_label_set(grid.label_set or "occ3d").lut()
    rgb = lut[surf.labels]
    v = np.empty(len(verts), [("x", "f8"), ("y", "f8"), ("z", "f8")])
    v["x"], v["y"], v["z"] = verts.T
    f = np.empty(len(surf.labels), [("vertex_indices", "i4", (4,)), ("red", "u1"), ("green", "u1"), ("blue", "u1"),
                                    ("label", "u1")])
    f["vertex_indices"] = np.arange(4 * len(surf.labels), dtype=np.int32).reshape(-1, 4)
    f["red"], f["green"], f["blue"] = rgb.T
    f["label"] = surf.labels
    with atomic_open(path, "wb") as fh:
        PlyData([PlyElement.describe(v, "vertex"), PlyElement.describe(f, "face")]).write(fh)
    return len(surf.labels)
