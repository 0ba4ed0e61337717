"""What every reader's output must satisfy before a view or task sees it (called by `engine.io.load`).

Non-finite or absurd values blank a whole 3-D view (VTK's bounds become NaN) and poison every metric, so:
points with NaN/Inf (or beyond ±1e9 m) are dropped with one warning giving the count, and a cloud with none
left is refused; camera intrinsics/extrinsics, layer transforms, voxel geometry and trajectory poses with
any non-finite value are refused (a pose cannot be half known); skeletons whose joints are all missing are
refused (NaN joints are how the formats say "not seen", so some are fine).
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import InputError
from ..scene import CameraRig, Layer, PointCloud, Skeleton, Trajectory, VoxelGrid
from .limits import MAX_COORD, check_finite, finite_rows

log = logging.getLogger("scenelens.io")


def warn(path, message: str, layer: Layer | None = None) -> None:
    """One warning line (`warning: FILE: message`) on the `scenelens.io` logger, also kept in layer.meta."""
    text = f"{path}: {message}" if path else message
    if layer is not None:
        layer.meta.setdefault("warnings", []).append(text)
    log.warning("warning: %s", text)


def sanitize_layers(layers: list[Layer], path) -> list[Layer]:
    for lay in layers:
        where = lay.source or path
        tr = getattr(lay, "transform", None)
        if tr is not None:
            check_finite(where, tr, f"layer {lay.name!r:.60} transform")
        if isinstance(lay, PointCloud):
            _points(lay, where)
        elif isinstance(lay, CameraRig):
            for cam in lay.cameras:
                if cam.K is not None:
                    K = check_finite(where, cam.K, f"camera {cam.name!r:.60} K")
                    if K.shape == (3, 3) and (K[0, 0] <= 0 or K[1, 1] <= 0):
                        raise InputError(where, f"camera {cam.name!r:.60} K has focal lengths {K[0, 0]:g}, "
                                                f"{K[1, 1]:g}; they must be positive")
                if cam.cam_to_frame is not None:
                    check_finite(where, cam.cam_to_frame, f"camera {cam.name!r:.60} cam_to_frame")
        elif isinstance(lay, VoxelGrid):
            check_finite(where, lay.origin, "voxel grid origin")
            vs = check_finite(where, lay.voxel_size, "voxel grid voxel_size")
            if np.any(vs <= 0):
                raise InputError(where, f"voxel size {tuple(vs)} must be positive")
        elif isinstance(lay, Trajectory):
            _trajectory(lay, where)
        elif isinstance(lay, Skeleton):
            j = np.asarray(lay.joints)
            if j.size and j.dtype.kind == "f":
                with np.errstate(invalid="ignore"):
                    if not np.isfinite(j).any():
                        raise InputError(where, f"none of the {j.size // max(j.shape[-1], 1):,} joint positions "
                                                "is finite (all NaN/Inf)")
                    if np.isinf(j).any():
                        raise InputError(where, f"{int(np.isinf(j).sum())} joint coordinates are infinite")
            if lay.fps is not None and (not np.isfinite(lay.fps) or lay.fps < 0):
                raise InputError(where, f"frame rate {lay.fps} must be finite and ≥ 0")
    return layers


def _points(pc: PointCloud, where) -> None:
    pts = np.asarray(pc.points)
    n = len(pts)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise InputError(where, f"points must be N×3, got {pts.shape}")
    if n == 0:
        raise InputError(where, "holds no points")
    keep = finite_rows(pts, MAX_COORD)
    bad = int(n - keep.sum())
    if not bad:
        return
    if bad == n:
        raise InputError(where, f"none of its {n:,} points has finite coordinates (NaN, Inf or beyond ±{MAX_COORD:g} m)")
    pc.points = pts[keep]
    pc.attributes = {k: (v[keep] if isinstance(v, np.ndarray) and len(v) == n else v)
                     for k, v in pc.attributes.items()}
    warn(where, f"dropped {bad:,} of {n:,} points with non-finite coordinates (NaN, Inf or beyond ±{MAX_COORD:g} m)",
         pc)


def _trajectory(t: Trajectory, where) -> None:
    P = np.asarray(t.poses, float)
    if P.ndim != 3 or P.shape[1:] != (4, 4):
        raise InputError(where, f"poses must be T×4×4, got {P.shape}")
    if len(P) == 0:
        raise InputError(where, "holds no poses")
    ok = np.isfinite(P).reshape(len(P), -1).all(1)
    if t.timestamps is not None:
        ts = np.asarray(t.timestamps, float)
        if ts.shape == (len(P),):
            ok &= np.isfinite(ts)
    R = np.where(ok[:, None, None], P[:, :3, :3], np.eye(3))
    with np.errstate(invalid="ignore"):
        ortho = np.abs(np.einsum("tji,tjk->tik", R, R) - np.eye(3)).max((1, 2)) < 1e-2
        det = np.linalg.det(R)
    rot = ortho & (np.abs(det - 1) < 1e-2)
    if ok.all() and not rot.all():
        raise InputError(where, f"{int((~rot).sum())} of {len(P)} poses have a rotation part that is not a rotation "
                                "(R·Rᵀ ≠ I or det ≠ 1)")
    if not ok.all():
        raise InputError(where, f"{int((~ok).sum())} of {len(P)} poses have non-finite values (NaN or Inf)")
