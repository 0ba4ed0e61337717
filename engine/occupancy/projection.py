"""Voxels ↔ camera images: project occupied voxel centres into a calibrated camera, and find the voxels
along the ray of one pixel. Both the grid and the rig must be in the same frame (Occ3D: ego)."""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..scene import Camera, VoxelGrid


def camera_size(cam: Camera) -> tuple[int, int]:
    """(width, height) of a camera's image: its declared size, else its image's; an InputError if neither."""
    if cam.size:
        return int(cam.size[0]), int(cam.size[1])
    if cam.image is not None:
        return int(cam.image.shape[1]), int(cam.image.shape[0])
    raise InputError(None, f"camera {cam.name} has neither an image nor a size")


def project(points: np.ndarray, cam: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(uv N×2, depth N, in-image N) of frame points in a pinhole camera (cam_to_frame, K)."""
    T = np.linalg.inv(np.asarray(cam.cam_to_frame, float))
    pc = points @ T[:3, :3].T + T[:3, 3]
    z = pc[:, 2]
    uvw = pc @ np.asarray(cam.K, float).T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[:, :2] / uvw[:, 2:3]
    w, h = camera_size(cam)
    ok = (z > 0.1) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    return uv, z, ok


def project_voxels(grid: VoxelGrid, cam: Camera, visible: np.ndarray | None = None) -> dict:
    """Occupied voxel centres seen by `cam`, sorted far → near so that drawing in order leaves the nearest
    voxel on top (painter's order). Returns uv, depth, labels and voxel indices."""
    occ = grid.occupied() if visible is None else visible
    idx = np.argwhere(occ)
    c = grid.centers(idx)
    uv, z, ok = project(c, cam)
    order = np.argsort(-z[ok], kind="stable")
    sel = np.flatnonzero(ok)[order]
    return {"uv": uv[sel], "depth": z[sel], "labels": grid.labels[tuple(idx[sel].T)], "index": idx[sel]}


def pixel_ray(cam: Camera, u: float, v: float) -> tuple[np.ndarray, np.ndarray]:
    """Origin and unit direction (frame coordinates) of the ray through pixel (u, v)."""
    T = np.asarray(cam.cam_to_frame, float)
    d_cam = np.linalg.solve(np.asarray(cam.K, float), np.array([u, v, 1.0]))
    d = T[:3, :3] @ d_cam
    return T[:3, 3].copy(), d / np.linalg.norm(d)


def voxels_along_pixel(grid: VoxelGrid, cam: Camera, u: float, v: float, max_range: float = 200.0,
                       occupied_only: bool = True) -> np.ndarray:
    """Voxel indices (M×3) the pixel's ray passes through, nearest first; by default only occupied ones."""
    from .grids import spec_of
    from .voxelize import raycast_visibility

    o, d = pixel_ray(cam, u, v)
    obs, _ = raycast_visibility((o + d * max_range)[None], o, spec_of(grid))
    idx = np.argwhere(obs)
    if occupied_only:
        idx = idx[grid.occupied()[tuple(idx.T)]]
    dist = np.linalg.norm(grid.centers(idx) - o, axis=1)
    return idx[np.argsort(dist)]


def project_points_by_class(points: np.ndarray, labels: np.ndarray, cam: Camera) -> dict:
    """LiDAR points (frame coordinates) seen by `cam` with their classes, far → near (painter's order)."""
    uv, z, ok = project(np.asarray(points, float), cam)
    sel = np.flatnonzero(ok)[np.argsort(-z[ok], kind="stable")]
    return {"uv": uv[sel], "depth": z[sel], "labels": np.asarray(labels)[sel], "index": sel}
