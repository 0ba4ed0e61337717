"""Grid presets per dataset, so that no grid geometry is ever inferred from an array shape alone.

Each format reader starts from one of these presets (values from the spec: Occ3D ego frame 0.4 m,
SemanticKITTI velodyne frame 0.2 m, SurroundOcc LiDAR frame 0.5 m) and lets the caller or the scene
manifest override origin, voxel size, axis order and label set.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import InputError
from ..scene import VoxelGrid


@dataclass(frozen=True)
class GridSpec:
    name: str
    shape: tuple[int, int, int]
    origin: tuple[float, float, float]
    voxel_size: tuple[float, float, float]
    label_set: str
    free_label: int
    ignore_label: int = 255
    frame: str = "ego"
    axis_order: str = "xyz"

    @property
    def upper(self) -> np.ndarray:
        return np.asarray(self.origin) + np.asarray(self.voxel_size) * np.asarray(self.shape)

    def empty(self, name: str = "occupancy", source: str = "") -> VoxelGrid:
        return VoxelGrid(name=name, source=source, labels=np.full(self.shape, self.free_label, np.uint8),
                         origin=self.origin, voxel_size=self.voxel_size, axis_order=self.axis_order,
                         label_set=self.label_set, free_label=self.free_label, ignore_label=self.ignore_label,
                         frame=self.frame)


PRESETS: dict[str, GridSpec] = {
    "occ3d": GridSpec("occ3d", (200, 200, 16), (-40.0, -40.0, -1.0), (0.4, 0.4, 0.4), "occ3d", 17, frame="ego"),
    "semantickitti": GridSpec("semantickitti", (256, 256, 32), (0.0, -25.6, -2.0), (0.2, 0.2, 0.2),
                              "semantickitti", 0, frame="lidar"),
    "surroundocc": GridSpec("surroundocc", (200, 200, 16), (-50.0, -50.0, -5.0), (0.5, 0.5, 0.5), "occ3d", 17,
                            frame="lidar"),
}


def preset(name: str) -> GridSpec:
    if name not in PRESETS:
        raise InputError(None, f"unknown grid {name!r} (known: {', '.join(PRESETS)}, or custom via options)")
    return PRESETS[name]


def spec_of(grid: VoxelGrid) -> GridSpec:
    return GridSpec("custom", grid.shape, grid.origin, grid.voxel_size, grid.label_set or "occ3d",
                    grid.free_label if grid.free_label is not None else 255, grid.ignore_label or 255, grid.frame,
                    grid.axis_order)


MAX_VOXELS = 1 << 30  # dense uint8 labels + masks: a few GB at this size


def with_overrides(spec: GridSpec, opts: dict) -> GridSpec:
    """Apply manifest/CLI overrides: origin, voxel_size (scalar or 3), shape, label_set, free_label, frame, axis_order."""
    kw = {}
    if opts.get("origin") is not None:
        kw["origin"] = tuple(float(v) for v in np.broadcast_to(np.asarray(opts["origin"], float), 3))
    if opts.get("voxel_size") is not None:
        kw["voxel_size"] = tuple(float(v) for v in np.broadcast_to(np.asarray(opts["voxel_size"], float), 3))
    if opts.get("shape") is not None:
        kw["shape"] = tuple(int(v) for v in opts["shape"])
    for k in ("label_set", "frame", "axis_order"):
        if opts.get(k):
            kw[k] = str(opts[k])
    if opts.get("free_label") is not None:
        kw["free_label"] = int(opts["free_label"])
    if "origin" in kw and not np.all(np.isfinite(kw["origin"])):
        raise InputError(None, f"grid origin must be finite, got {list(kw['origin'])}")
    if "voxel_size" in kw and not all(np.isfinite(v) and v > 0 for v in kw["voxel_size"]):
        raise InputError(None, f"voxel size must be a positive number of metres, got {list(kw['voxel_size'])}")
    if "shape" in kw:
        shp = kw["shape"]
        if len(shp) != 3 or min(shp) < 1:
            raise InputError(None, f"grid shape must be three positive voxel counts, got {list(shp)}")
        if int(np.prod(np.asarray(shp, np.int64))) > MAX_VOXELS:
            raise InputError(None, f"grid shape {list(shp)} has {int(np.prod(np.asarray(shp, np.int64))):,} voxels, "
                                   f"more than the {MAX_VOXELS:,} a grid may hold")
    if kw.get("axis_order", spec.axis_order) not in ("xyz", "zyx", "xzy", "yxz"):
        raise InputError(None, f"axis_order {kw['axis_order']!r} not supported")
    return replace(spec, **kw) if kw else spec


def to_xyz(labels: np.ndarray, axis_order: str) -> np.ndarray:
    """View of a grid stored in `axis_order` with axes permuted to x, y, z (no copy)."""
    if axis_order == "xyz":
        return labels
    perm = [axis_order.index(a) for a in "xyz"]
    return labels.transpose(perm)


def make_grid(spec: GridSpec, labels: np.ndarray, name: str, source: str = "",
              masks: dict | None = None, scores: np.ndarray | None = None) -> VoxelGrid:
    """Build a VoxelGrid from arrays stored in `spec.axis_order`; the layer is always x,y,z internally."""
    lab = np.ascontiguousarray(to_xyz(labels, spec.axis_order))
    ms = {k: np.ascontiguousarray(to_xyz(v, spec.axis_order)).astype(bool) for k, v in (masks or {}).items()}
    sc = None if scores is None else np.ascontiguousarray(to_xyz(scores, spec.axis_order))
    g = VoxelGrid(name=name, source=source, labels=lab, origin=spec.origin, voxel_size=spec.voxel_size,
                  axis_order="xyz", label_set=spec.label_set, free_label=spec.free_label,
                  ignore_label=spec.ignore_label, masks=ms, scores=sc, frame=spec.frame)
    g.meta["grid"] = spec.name
    if spec.axis_order != "xyz":
        g.meta["stored_axis_order"] = spec.axis_order
    return g
