"""SurroundOcc ground truth: an `.npy` list of occupied voxels, N×4 = (x_idx, y_idx, z_idx, label).

Only occupied voxels are listed; unlisted voxels are empty and label 0 (noise) means "ignore" (the
evaluation remaps it to 255). The dense grid uses the Occ3D class ids (1..16 are the same nuScenes
classes) with free = 17, on SurroundOcc's LiDAR-frame grid [-50,-50,-5]..[50,50,3] at 0.5 m.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..atomic import save_npy
from ..errors import InputError
from ..scene import VoxelGrid
from . import register


def read_surroundocc(path: Path, **opts) -> VoxelGrid:
    from ..occupancy.grids import make_grid, preset, with_overrides

    from .limits import check_npy_file, check_readable

    check_readable(path)
    check_npy_file(path)  # declared shape against the file's size and the memory budget
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise InputError(path, f"not a plain NumPy array ({e})") from None
    if a.ndim != 2 or a.shape[1] != 4 or a.dtype.kind not in "fiu":
        raise InputError(path, f"expected an N×4 (x_idx, y_idx, z_idx, label) array, got {a.dtype} {a.shape}")
    if a.size and not np.all(a == np.round(a)):
        raise InputError(path, "voxel indices and labels must be whole numbers")
    spec = with_overrides(preset("surroundocc"), opts)
    idx = a[:, :3].astype(np.int64)
    lab = a[:, 3].astype(np.int64)
    if a.size and ((idx < 0).any() or (idx >= np.asarray(spec.shape)).any()):
        raise InputError(path, f"voxel indices outside the {spec.shape} grid")
    if a.size and ((lab < 0) | (lab > 16)).any():
        raise InputError(path, "labels must be 0..16 (0 = noise)")
    dense = np.full(spec.shape, spec.free_label, np.uint8)
    dense[idx[:, 0], idx[:, 1], idx[:, 2]] = np.where(lab == 0, 255, lab).astype(np.uint8)
    g = make_grid(spec, dense, opts.get("name") or path.name, str(path))
    g.meta.update({"format": "surroundocc", "role": opts.get("role", "gt")})
    return g


@register("surroundocc", "SurroundOcc occupied-voxel list (.npy, N×4)")
def load_surroundocc(path: Path, **opts) -> list[VoxelGrid]:
    return [read_surroundocc(path, **opts)]


@load_surroundocc.sniffer
def _sniff(p: Path, head: bytes) -> int:
    if not head.startswith(b"\x93NUMPY"):
        return 0
    m = re.search(rb"'shape':\s*\((\d+),\s*(\d+)\)", head[:256])
    if not (m and int(m.group(2)) == 4):
        return 0
    a = np.load(p, mmap_mode="r", allow_pickle=False)[:256]
    whole = a.dtype.kind in "iu" or bool(np.all(a == np.round(a)))
    # whole-number indices and labels 0..16 tell it from an N×4 point cloud (x, y, z, intensity)
    return 65 if whole and (a.size == 0 or (a[:, 3].min() >= 0 and a[:, 3].max() <= 16 and a[:, :3].min() >= 0)) else 0


def write_surroundocc(path, grid: VoxelGrid) -> None:
    occ = grid.labels != (grid.free_label if grid.free_label is not None else 17)
    idx = np.argwhere(occ)
    lab = grid.labels[occ].astype(np.int64)
    lab[lab == 255] = 0
    save_npy(path, np.concatenate([idx, lab[:, None]], 1).astype(np.float32 if grid.meta.get("float") else np.int64))
