"""Preprocessing for LiDAR scans in their sensor frame, before keypoints and descriptors.

Why: two sweeps of a moving vehicle, each in its own sensor frame, share structure that is fixed to the
*sensor*, not to the world — the ego vehicle's own returns (roof, mirrors, bonnet) at identical coordinates,
and the ground's scan rings at the same ranges around the sensor. Both match themselves best at zero
translation, and on a 32-beam sweep they are most of the points, so the estimator's consensus lands on
"no motion" (issue 12: right rotation, translation 7–10 m wrong). This stage removes:

* the ego vehicle: returns inside a box around the sensor and/or closer than a minimum range;
* the ground: a region-wise plane fit in the spirit of Patchwork (Lim et al., RA-L 2021) — polar bins
  around the sensor, each bin's plane fitted by PCA to seeds from its lowest points and refined three
  times, accepted only if nearly horizontal and not far above the ground height seen near the sensor
  (so car roofs and table tops do not count). Vectorised over bins: per-bin moments by bincount and one
  batched 3×3 eigendecomposition per iteration, no Python loop over bins.

The ground is only removed from the keypoints that get descriptors; it can be kept for ICP (`ground_icp`),
where it pins height, roll and pitch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class ScanFilter:
    min_range: float = 0.0  # m; returns closer than this to the sensor origin are dropped (0: off)
    max_range: float = 0.0  # m; returns farther are dropped (0: off)
    ego_box: tuple[float, float, float, float, float, float] | None = None  # sensor frame xmin xmax ymin ymax zmin zmax
    ground: str = "keep"  # "keep" (indoor) or "remove" (from the keypoints that get descriptors)
    ground_icp: bool = True  # with ground="remove": add the ground (voxel-downsampled) back for ICP
    ground_threshold: float = 0.20  # m from a bin's plane to count as ground
    ground_max_slope: float = 20.0  # degrees; steeper bin planes are not ground
    sensor_height: float = 0.0  # m above the ground; 0: estimated from the lowest returns near the sensor

    @property
    def active(self) -> bool:
        return bool(self.min_range > 0 or self.max_range > 0 or self.ego_box is not None or self.ground != "keep")

    def check(self) -> None:
        if self.ground not in ("keep", "remove"):
            raise InputError(None, f"ground must be 'keep' or 'remove', got {self.ground!r}")
        if self.min_range < 0 or self.max_range < 0:
            raise InputError(None, "ranges must be non-negative")
        if self.max_range and self.max_range <= self.min_range:
            raise InputError(None, f"max range {self.max_range} must exceed min range {self.min_range}")
        if self.ego_box is not None:
            b = tuple(float(v) for v in self.ego_box)
            if len(b) != 6 or b[0] >= b[1] or b[2] >= b[3] or b[4] >= b[5]:
                raise InputError(None, f"ego box must be xmin xmax ymin ymax zmin zmax with min < max, got {self.ego_box}")
        if self.ground_threshold <= 0:
            raise InputError(None, "ground threshold must be positive")


@dataclass
class FilteredScan:
    points: np.ndarray  # (M,3) what enters keypoints and descriptors
    ground: np.ndarray  # (G,3) ground returns (empty unless ground="remove")
    n_input: int
    n_ego: int  # removed as the ego vehicle / outside the range limits
    n_ground: int

    def stats(self) -> dict:
        return {"input": self.n_input, "ego_or_range": self.n_ego, "ground": self.n_ground,
                "kept": int(len(self.points))}


def ego_mask(points: np.ndarray, f: ScanFilter) -> np.ndarray:
    """True for returns to drop: inside the ego box, closer than min_range, or beyond max_range."""
    drop = np.zeros(len(points), bool)
    if f.min_range > 0 or f.max_range > 0:
        r = np.linalg.norm(points, axis=1)
        if f.min_range > 0:
            drop |= r < f.min_range
        if f.max_range > 0:
            drop |= r > f.max_range
    if f.ego_box is not None:
        x0, x1, y0, y1, z0, z1 = (float(v) for v in f.ego_box)
        drop |= ((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
                 & (points[:, 2] >= z0) & (points[:, 2] <= z1))
    return drop


_RING_EDGES = np.array([0.0, 4, 8, 12, 16, 22, 30, 40, 55, 80, np.inf])
_SECTORS = 32
_LPR = 20  # lowest points per bin averaged for the seed height
_SEED = 0.25  # m above that height that seed the first fit


def _bin_planes(p: np.ndarray, b: np.ndarray, w: np.ndarray, nb: int):
    """Per-bin PCA plane of the points with w (bool): (normal nb×3 with n_z ≥ 0, centroid nb×3, count nb)."""
    wf = w.astype(np.float64)
    cnt = np.bincount(b, wf, nb)
    safe = np.maximum(cnt, 1)
    c = np.stack([np.bincount(b, wf * p[:, k], nb) for k in range(3)], 1) / safe[:, None]
    d = p - c[b]
    cov = np.empty((nb, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            cov[:, i, j] = cov[:, j, i] = np.bincount(b, wf * d[:, i] * d[:, j], nb) / safe
    cov[cnt < 3] = np.eye(3)
    _, vec = np.linalg.eigh(cov)
    n = vec[:, :, 0]
    n *= np.where(n[:, 2:3] < 0, -1.0, 1.0)
    return n, c, cnt


def ground_mask(points: np.ndarray, f: ScanFilter) -> np.ndarray:
    """True for ground returns (sensor frame, z up), by region-wise plane fitting (module docstring)."""
    n = len(points)
    if n == 0:
        return np.zeros(0, bool)
    p = np.asarray(points, np.float64)
    rxy = np.hypot(p[:, 0], p[:, 1])
    ring = np.clip(np.searchsorted(_RING_EDGES, rxy, side="right") - 1, 0, len(_RING_EDGES) - 2)
    sec = np.minimum(((np.arctan2(p[:, 1], p[:, 0]) + math.pi) / (2 * math.pi) * _SECTORS).astype(np.int64),
                     _SECTORS - 1)
    b = ring * _SECTORS + sec
    nb = (len(_RING_EDGES) - 1) * _SECTORS
    # lowest-point representative of each bin: mean z of its _LPR lowest returns
    order = np.lexsort((p[:, 2], b))
    bs = b[order]
    start = np.searchsorted(bs, np.arange(nb))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - start[bs]
    low = rank < _LPR
    lpr = np.bincount(b, low * p[:, 2], nb) / np.maximum(np.bincount(b, low, nb), 1)
    seeds = p[:, 2] < lpr[b] + _SEED
    for _ in range(3):
        nrm, cen, cnt = _bin_planes(p, b, seeds, nb)
        dist = np.abs(((p - cen[b]) * nrm[b]).sum(1))
        seeds = dist < f.ground_threshold
    # ground height near the sensor: the given sensor height, else the median bin height within 16 m
    flat = (cnt >= 3) & (nrm[:, 2] >= math.cos(math.radians(f.ground_max_slope)))
    if f.sensor_height > 0:
        z_ref = -float(f.sensor_height)
    else:
        near = flat & (np.arange(nb) // _SECTORS < 4)
        cand = cen[near, 2] if near.any() else cen[flat, 2]
        if len(cand) == 0:
            return np.zeros(n, bool)
        z_ref = float(np.percentile(cand, 25))
    r_mid = 0.5 * (_RING_EDGES[:-1] + np.minimum(_RING_EDGES[1:], 100.0))
    margin = 0.3 + 0.05 * np.repeat(r_mid, _SECTORS)  # gentle slopes allowed farther out
    ok = flat & (cen[:, 2] < z_ref + margin)
    return ok[b] & seeds


def filter_scan(points: np.ndarray, f: ScanFilter) -> FilteredScan:
    """Ego/range removal, then ground segmentation; see the module docstring."""
    pts = np.asarray(points, np.float64)
    drop = ego_mask(pts, f)
    rest = pts[~drop]
    if f.ground == "remove" and len(rest):
        g = ground_mask(rest, f)
        return FilteredScan(rest[~g], rest[g], len(pts), int(drop.sum()), int(g.sum()))
    return FilteredScan(rest, np.zeros((0, 3)), len(pts), int(drop.sum()), 0)
