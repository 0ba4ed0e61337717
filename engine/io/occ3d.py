"""Occ3D occupancy `.npz` files (ground truth `labels.npz` and prediction/submission files) and folders of them.

Ground truth holds `semantics`, `mask_lidar`, `mask_camera`; a prediction holds one uint8 grid under any
key (the challenge submission format) or the same keys, optionally with per-voxel `scores`. Occ3D-Waymo
names its arrays `voxel_label`, `origin_voxel_state` (LiDAR mask) and `final_voxel_state` (camera mask).
The grid geometry comes from the Occ3D preset (ego frame, 0.4 m, [-40,-40,-1]..[40,40,5.4]) unless the
caller or the scene manifest overrides it; a shape that does not fit the preset is an error rather than a
guess. A folder of per-sample files is a sequence: the scene shows frame 0 and lists the others.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..errors import InputError
from ..scene import Scene, VoxelGrid
from . import register

LABEL_KEYS = ("semantics", "voxel_label", "pred", "occ", "labels")
MASK_KEYS = {"mask_camera": "mask_camera", "mask_lidar": "mask_lidar",
             "final_voxel_state": "mask_camera", "origin_voxel_state": "mask_lidar", "infov": "infov"}
SCORE_KEYS = ("scores", "score", "confidence")


def _early_shape_check(path: Path, headers: dict, opts: dict) -> None:
    """For Occ3D's own archives (no `grid_*` geometry keys, no custom grid options), refuse a label array whose
    header shape cannot be the preset grid before inflating it: a bomb that fits the memory budget still
    costs seconds to inflate. Any other archive is judged after loading, by the full rules below."""
    from ..occupancy.grids import preset, with_overrides

    if any(k.startswith("grid_") for k in headers) or any(opts.get(k) is not None for k in
                                                          ("origin", "voxel_size", "shape", "grid")):
        return
    key = next((k for k in LABEL_KEYS if k in headers), None)
    if key is None or len(headers[key][0]) != 3:
        return
    shape = headers[key][0]
    spec = with_overrides(preset("occ3d"), opts)
    stored = tuple(shape[spec.axis_order.index(a)] for a in "xyz") if spec.axis_order != "xyz" else shape
    if tuple(stored) != tuple(spec.shape):
        raise InputError(path, f"grid shape {shape} does not match the {spec.name} grid {spec.shape}; "
                               "give origin and voxel_size (scene manifest options) for a custom grid")


def read_occ_npz(path: Path, **opts) -> VoxelGrid:
    from ..occupancy.grids import make_grid, preset, with_overrides

    path = Path(path)
    only = opts.get("masks")  # names of the masks to read (None = all); evaluation reads just one
    from .limits import check_readable, check_zip

    check_readable(path)
    headers = check_zip(path)  # members' declared sizes and .npy headers before anything is inflated
    _early_shape_check(path, headers, opts)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files
                      if only is None or k not in MASK_KEYS or MASK_KEYS[k] in only}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(path, f"not a readable .npz archive ({e})") from None
    if not arrays:
        raise InputError(path, "archive holds no arrays")
    key = next((k for k in LABEL_KEYS if k in arrays), None)
    if key is None:
        grids = [k for k, a in arrays.items() if a.ndim == 3 and k not in MASK_KEYS and k not in SCORE_KEYS]
        if len(grids) != 1:
            raise InputError(path, f"expected 'semantics' or exactly one 3-D label array, found keys {sorted(arrays)}")
        key = grids[0]
    labels = arrays[key]
    if labels.ndim != 3:
        raise InputError(path, f"array {key!r} has shape {labels.shape}; an occupancy grid must be 3-D")
    if labels.dtype.kind not in "iub":
        raise InputError(path, f"array {key!r} has dtype {labels.dtype}; class ids must be integers")
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise InputError(path, f"array {key!r} has class ids outside 0..255")
    geom = _stored_geometry(arrays, path)
    base = preset(opts.get("grid") or geom.pop("grid", None) or "occ3d")
    geom.pop("grid", None)
    if not any(opts.get(k) is not None for k in ("origin", "voxel_size", "shape", "grid")):
        base = with_overrides(base, geom)  # a grid this program saved reads back with its own geometry
    spec = with_overrides(base, opts)
    stored = tuple(labels.shape[spec.axis_order.index(a)] for a in "xyz") if spec.axis_order != "xyz" else labels.shape
    if tuple(stored) != tuple(spec.shape):
        if any(opts.get(k) is not None for k in ("origin", "voxel_size")):
            from dataclasses import replace
            spec = replace(spec, shape=tuple(stored))
        else:
            raise InputError(path, f"grid shape {labels.shape} does not match the {spec.name} grid {spec.shape}; "
                                   "give origin and voxel_size (scene manifest options) for a custom grid")
    if "grid_shape" in arrays and tuple(int(v) for v in arrays["grid_shape"]) != tuple(stored):
        raise InputError(path, f"stored grid_shape {tuple(arrays['grid_shape'])} differs from the labels' {stored}")
    masks = {}
    for k, name in MASK_KEYS.items():
        if k in arrays:
            m = arrays[k]
            if m.shape != labels.shape:
                raise InputError(path, f"mask {k!r} has shape {m.shape}, labels {labels.shape}")
            masks[name] = m.astype(bool)  # uint8 0/1 in the files: never index with it directly
    scores = None
    sk = next((k for k in SCORE_KEYS if k in arrays), None)
    if sk is not None:
        if arrays[sk].shape != labels.shape:
            raise InputError(path, f"scores {sk!r} has shape {arrays[sk].shape}, labels {labels.shape}")
        scores = arrays[sk].astype(np.float32)
    kind = "gt" if key == "semantics" and masks else "prediction"
    name = opts.get("name") or (f"{path.parent.name}/{path.name}" if path.name == "labels.npz" else path.name)
    g = make_grid(spec, labels.astype(np.uint8), name, str(path), masks, scores)
    g.meta.update({"format": "occ3d", "role": opts.get("role", kind), "key": key})
    if "ray_origins" in arrays and arrays["ray_origins"].ndim == 2 and arrays["ray_origins"].shape[1] == 3:
        g.meta["ray_origins"] = arrays["ray_origins"].astype(float).tolist()  # LiDAR origins for RayIoU
    return g


@register("occ3d", "Occ3D occupancy .npz (labels.npz ground truth or a prediction)")
def load_occ3d(path: Path, **opts) -> list[VoxelGrid]:
    return [read_occ_npz(path, **opts)]


@load_occ3d.sniffer
def _sniff(p: Path, head: bytes) -> int:
    if not head.startswith(b"PK\x03\x04"):
        return 0
    if any(k.encode() + b".npy" in head for k in LABEL_KEYS + tuple(MASK_KEYS)):
        return 100
    return 50 if _single_int_grid(p) else 0


def _single_int_grid(p: Path) -> bool:
    """A submission-style archive: one integer 3-D array under any key (read from the .npy header only)."""
    try:
        with zipfile.ZipFile(p) as z:
            names = [n for n in z.namelist() if n.endswith(".npy")]
            if len(names) != 1:
                return False
            with z.open(names[0]) as f:
                from .limits import read_npy_header

                shape, _, dtype = read_npy_header(f)
        return len(shape) == 3 and np.dtype(dtype).kind in "iub"
    except (zipfile.BadZipFile, ValueError, OSError, KeyError):
        return False


GEOMETRY_KEYS = ("grid_origin", "grid_voxel_size", "grid_shape", "grid_axis_order", "grid_frame", "grid_label_set",
                 "grid_free_label", "grid_name")


def _stored_geometry(arrays: dict, path) -> dict:
    """Grid geometry saved beside the labels by `write_occ3d` (absent in Occ3D's own files)."""
    g: dict = {}
    try:
        if "grid_origin" in arrays:
            g["origin"] = [float(v) for v in np.asarray(arrays["grid_origin"], float).reshape(3)]
        if "grid_voxel_size" in arrays:
            g["voxel_size"] = [float(v) for v in np.asarray(arrays["grid_voxel_size"], float).reshape(3)]
        for k in ("axis_order", "frame", "label_set", "name"):
            if f"grid_{k}" in arrays:
                g["grid" if k == "name" else k] = str(arrays[f"grid_{k}"])
        if "grid_free_label" in arrays:
            g["free_label"] = int(arrays["grid_free_label"])
        if "grid_shape" in arrays:
            g["shape"] = [int(v) for v in np.asarray(arrays["grid_shape"]).reshape(3)]
    except (ValueError, TypeError) as e:
        raise InputError(path, f"unreadable grid geometry keys ({e})") from None
    if g.get("grid") not in (None, "occ3d", "semantickitti", "surroundocc"):
        g.pop("grid")
    return g


def write_occ3d(path, grid: VoxelGrid, compressed: bool = True, include_masks: bool = True,
                geometry: bool = True) -> None:
    """Write `semantics` (+ masks as uint8 0/1, + scores) in the Occ3D layout, atomically.

    With `geometry`, the grid's origin, voxel size, shape, stored axis order, frame, label set and free label
    go beside the arrays (`grid_*` keys, ignored by Occ3D tools), so any grid reads back as itself."""
    arrays = {"semantics": np.ascontiguousarray(grid.labels.astype(np.uint8))}
    if geometry:
        arrays.update({"grid_origin": np.asarray(grid.origin, np.float64),
                       "grid_voxel_size": np.asarray(grid.voxel_size, np.float64),
                       "grid_shape": np.asarray(grid.shape, np.int64),
                       "grid_axis_order": np.asarray("xyz"), "grid_frame": np.asarray(grid.frame or "ego"),
                       "grid_label_set": np.asarray(grid.label_set or "occ3d"),
                       "grid_free_label": np.asarray(grid.free_label if grid.free_label is not None else 255),
                       "grid_name": np.asarray(str(grid.meta.get("grid", "custom")))})
    if include_masks:
        for k in ("mask_lidar", "mask_camera"):
            if k in grid.masks:
                arrays[k] = grid.masks[k].astype(np.uint8)
    if grid.scores is not None:
        arrays["scores"] = grid.scores.astype(np.float32)
    if geometry and grid.meta.get("ray_origins") is not None:
        arrays["ray_origins"] = np.asarray(grid.meta["ray_origins"], np.float64).reshape(-1, 3)
    with atomic_open(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)


# ------------------------------------------------------------------------------------------ sequences


def frame_files(folder: Path) -> list[Path]:
    """Per-sample `.npz` files of a folder: flat `<token>.npz` or nested `<scene>/<token>/labels.npz`."""
    folder = Path(folder)
    flat = sorted(p for p in folder.glob("*.npz") if p.is_file())
    if flat:
        return flat
    return sorted(p for p in folder.rglob("*.npz") if p.is_file())


def frame_key(path: Path, root: Path) -> str:
    """Key that matches a prediction file to its ground truth: the sample token.

    `gts/<scene>/<token>/labels.npz` and a submission `<token>.npz` both give `<token>`.
    """
    path = Path(path)
    return path.parent.name if path.stem == "labels" else path.stem


@register("occ3d-sequence", "folder of Occ3D .npz frames (a sequence)", folder=True)
def load_occ3d_folder(path: Path, **opts) -> Scene:
    files = frame_files(path)
    if not files:
        raise InputError(path, "folder holds no .npz occupancy frames")
    g = read_occ_npz(files[0], **opts)
    g.meta["frame_index"] = 0
    scene = Scene(name=Path(path).name, layers=[g], path=str(path))
    scene.meta.update({"format": "occ3d-sequence", "occ_frames": [str(f) for f in files], "frame_index": 0,
                       "occ_options": {k: v for k, v in opts.items() if k != "name"}})
    return scene


@load_occ3d_folder.sniffer
def _sniff_folder(p: Path, head: bytes) -> int:
    files = frame_files(p)[:1]
    if not files:
        return 0
    with open(files[0], "rb") as f:
        return 60 if _sniff(files[0], f.read(4096)) >= 50 else 0
