"""SemanticKITTI semantic-scene-completion voxel files: bit-packed `.bin`/`.invalid`/`.occluded` and uint16 `.label`.

Packed files hold one bit per voxel, MSB first (bit 7 of byte 0 = voxel 0), 256·256·32 voxels C-ordered
as (x, y, z); `.label` holds raw SemanticKITTI ids (uint16, not packed). For display and evaluation raw ids
map through `learning_map`, except that — as in the benchmark's evaluate_completion.py — every raw id
that maps to 0 other than raw 0 becomes 255 (invalid), and raw 0 stays 0 = empty. The raw ids read are
kept so that writing an unedited grid reproduces the file byte for byte.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_open
from ..errors import InputError
from ..labels import get_label_set
from ..scene import VoxelGrid
from . import register

SHAPE = (256, 256, 32)
N_VOX = SHAPE[0] * SHAPE[1] * SHAPE[2]
PACKED_BYTES = N_VOX // 8
LABEL_BYTES = N_VOX * 2
PACKED_EXT = (".bin", ".invalid", ".occluded")
UNKNOWN_OCCUPIED = 254  # input occupancy without a class: drawn grey, never evaluated


def unpack(packed: np.ndarray) -> np.ndarray:
    """Bit-packed uint8 (MSB first) → uint8 0/1 of 8× the length."""
    return np.unpackbits(np.asarray(packed, np.uint8), bitorder="big")


def pack(bits: np.ndarray) -> np.ndarray:
    """uint8/bool 0/1 (length multiple of 8) → bit-packed uint8, MSB first."""
    b = np.asarray(bits).reshape(-1).astype(bool)
    if b.size % 8:
        raise ValueError("bit count must be a multiple of 8")
    return np.packbits(b, bitorder="big")


def ssc_lut() -> np.ndarray:
    """raw id (0..65535) → SSC training id: learning_map, with 'mapped to 0' → 255 except raw 0."""
    ls = get_label_set("semantickitti")
    lut = np.full(65536, 255, np.uint8)
    for raw, train in ls.raw_to_train.items():
        lut[raw] = 255 if train == 0 else train
    lut[0] = 0
    return lut


def inverse_lut() -> np.ndarray:
    """training id → canonical raw id (learning_map_inv); 255 → 1 (outlier)."""
    inv = np.zeros(256, np.uint16)
    ls = get_label_set("semantickitti")
    for raw, train in sorted(ls.raw_to_train.items(), reverse=True):  # lowest raw id wins, as learning_map_inv
        if train != 0:
            inv[train] = raw
    inv[255] = 1
    inv[UNKNOWN_OCCUPIED] = 1
    return inv


def _read_packed(path: Path) -> np.ndarray:
    raw = np.fromfile(path, np.uint8)
    if raw.size != PACKED_BYTES:
        raise InputError(path, f"{raw.size} bytes; a packed 256×256×32 voxel file has {PACKED_BYTES}")
    return unpack(raw).reshape(SHAPE).astype(bool)


def _read_label(path: Path) -> np.ndarray:
    if path.stat().st_size != LABEL_BYTES:
        raise InputError(path, f"{path.stat().st_size} bytes; a voxel .label file has {LABEL_BYTES} (uint16 × 256·256·32)")
    return np.fromfile(path, np.uint16).reshape(SHAPE)


def read_ssc(path: Path, raw_ids: bool = True, **opts) -> VoxelGrid:
    """Read the voxel file set that shares `path`'s stem (.label, .bin, .invalid, .occluded)."""
    from ..occupancy.grids import make_grid, preset, with_overrides

    path = Path(path)
    stem = path.with_suffix("")
    lab_p, bin_p = stem.with_suffix(".label"), stem.with_suffix(".bin")
    masks: dict[str, np.ndarray] = {}
    for ext, name in ((".invalid", "invalid"), (".occluded", "occluded")):
        q = stem.with_suffix(ext)
        if q.exists():
            masks[name] = _read_packed(q)
    raw = None
    if lab_p.exists() and (path.suffix == ".label" or bin_p.exists() or masks or path.suffix != ".bin"):
        raw = _read_label(lab_p)
        labels = ssc_lut()[raw] if raw_ids else raw.astype(np.uint8)
        if not raw_ids and raw.max(initial=0) > 255:
            raise InputError(lab_p, "training-id labels above 255")
    if bin_p.exists() and bin_p.stat().st_size == PACKED_BYTES:
        occ = _read_packed(bin_p)
        masks["input_occupied"] = occ
        if raw is None:
            labels = np.where(occ, UNKNOWN_OCCUPIED, 0).astype(np.uint8)
    elif raw is None:
        raise InputError(path, "no voxel .label or packed .bin beside it")
    spec = with_overrides(preset("semantickitti"), opts)
    g = make_grid(spec, labels, opts.get("name") or stem.name + " (SSC voxels)", str(path), masks)
    g.meta.update({"format": "semantickitti-voxels", "role": opts.get("role", "gt" if "invalid" in masks else "prediction")})
    if raw is not None:
        g.meta["raw_labels"] = raw
    return g


@register("semantickitti-voxels", "SemanticKITTI SSC voxels (.label uint16, packed .bin/.invalid/.occluded)")
def load_ssc(path: Path, **opts) -> list[VoxelGrid]:
    return [read_ssc(path, **opts)]


@load_ssc.sniffer
def _sniff(p: Path, head: bytes) -> int:
    ext = p.suffix.lower()
    size = p.stat().st_size
    if ext in (".invalid", ".occluded") and size == PACKED_BYTES:
        return 100
    if ext == ".bin" and size == PACKED_BYTES:
        return 90  # beats the LiDAR-scan reader (30): 262,144 bytes is exactly one packed grid
    if ext == ".label" and size == LABEL_BYTES:
        sib = any(p.with_suffix(e).exists() for e in (".invalid", ".occluded")) or p.parent.name == "voxels"
        return 100 if sib else 60
    return 0


def write_ssc(stem, grid: VoxelGrid, write_masks: bool = True) -> list[Path]:
    """Write `<stem>.label` (raw uint16) and the packed masks present in the grid; returns the files written.

    Voxels whose label still equals the mapping of the raw id that was read keep that raw id, so an
    unedited grid round-trips exactly; edited voxels get the canonical raw id of their class.
    """
    if grid.shape != SHAPE:
        raise InputError(stem, f"SemanticKITTI voxel files are 256×256×32, grid is {grid.shape}")
    stem = Path(stem)
    if stem.suffix in (".label",) + PACKED_EXT:
        stem = stem.with_suffix("")
    labels = grid.labels
    raw = inverse_lut()[labels]
    old = grid.meta.get("raw_labels")
    if isinstance(old, np.ndarray) and old.shape == SHAPE:
        keep = ssc_lut()[old] == labels
        raw = np.where(keep, old, raw)
    out = []
    p = stem.with_suffix(".label")
    with atomic_open(p, "wb") as f:
        f.write(np.ascontiguousarray(raw.astype("<u2")).tobytes())
    out.append(p)
    if write_masks:
        for name, ext in (("invalid", ".invalid"), ("occluded", ".occluded"), ("input_occupied", ".bin")):
            if name in grid.masks:
                q = stem.with_suffix(ext)
                with atomic_open(q, "wb") as f:
                    f.write(pack(grid.masks[name]).tobytes())
                out.append(q)
    return out
