"""Ray- and distance-based occupancy metrics: RayIoU (SparseOcc) and the Occ3D challenge F-score.

RayIoU, as SparseOcc's reference code (`RayIoU_metrics/utils/ray_metrics.py` and its `dvr` traversal)
defines it:
* rays: pitch angles −(π/2 − atan(k+1)) for k = 0..9, then continued with the last step until ≥ 0.21 rad
  (the nuScenes LiDAR's field of view), × azimuths 0..359° in 1° steps, cast from each LiDAR origin;
* each ray walks the grid voxel by voxel (Amanatides–Woo, ties go x → z / y → z as in the C++ code) from the
  origin's voxel; its depth is the distance at which it *leaves* the first occupied voxel (label ≠ free),
  or leaves the grid when it hits nothing; its class is the label of that voxel (the last one it visited
  when nothing was hit);
* only rays whose ground-truth ray hits something count; for thresholds 1, 2 and 4 m, a ray is a true
  positive of class c when both rays end in class c and |depth_pred − depth_gt| < threshold;
  IoU_c = TP / (GT_c + PRED_c − TP), summed over all frames, free excluded; RayIoU@t = nanmean over
  classes, RayIoU = nanmean over all thresholds and classes.
The reference casts from up to 8 LiDAR origins of the scene's frames (those within ±39 m, picked by
`round(linspace)`); `select_origins` does that, and a single frame uses its own LiDAR origin.

F-score (CVPR 2023 occupancy challenge `Metric_FScore`): centres of voxels that are neither free nor 255
(voxels outside the mask are set to 255 first); nearest-neighbour distances both ways; accuracy =
fraction of predicted centres within the threshold of a GT centre, completeness the converse,
F = 2 / (1/(acc+ε) + 1/(comp+ε)); the three are averaged over frames (an empty prediction scores 0).
"""
from __future__ import annotations

import math

import numpy as np

THRESHOLDS = (1.0, 2.0, 4.0)
NUSCENES_LIDAR_ORIGIN_EGO = (0.9858, 0.0, 1.8402)  # the reference's comment: LiDAR origin in the ego frame


def lidar_rays() -> np.ndarray:
    """Unit ray directions (R×3) of the reference's virtual LiDAR."""
    pitch = [-(math.pi / 2 - math.atan(k + 1)) for k in range(10)]
    while pitch[-1] < 0.21:
        pitch.append(pitch[-1] + (pitch[-1] - pitch[-2]))
    az = np.deg2rad(np.arange(0, 360, 1))
    p = np.repeat(np.asarray(pitch), len(az))
    a = np.tile(az, len(pitch))
    return np.stack([np.cos(p) * np.cos(a), np.cos(p) * np.sin(a), np.sin(p)], 1).astype(np.float32)


def cast(labels: np.ndarray, free: int, origin_vox: np.ndarray, dirs: np.ndarray, max_step: int = 1000):
    """First-hit traversal of every ray. `origin_vox` in voxel units (continuous), `dirs` unit vectors in
    voxel space. Returns (depth in voxels, label) per ray; rays that never enter the grid get depth −1."""
    X, Y, Z = labels.shape
    R = len(dirs)
    o = np.asarray(origin_vox, np.float64).reshape(3)
    d = np.asarray(dirs, np.float64)
    v = np.tile(np.floor(o).astype(np.int64), (R, 1))
    step = np.where(d >= 0, 1, -1)
    nb = v + (step > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tmax = np.where(d != 0, (nb - o) / d, np.inf)
        tdelta = np.where(d != 0, step / d, np.inf)
    occ = labels != free
    depth = np.full(R, -1.0)
    hit_idx = np.zeros((R, 3), np.int64)
    active = np.ones(R, bool)
    was_inside = np.zeros(R, bool)
    rows = np.arange(R)
    for _ in range(max_step + 1):
        if not active.any():
            break
        inside = (v[:, 0] >= 0) & (v[:, 0] < X) & (v[:, 1] >= 0) & (v[:, 1] < Y) & (v[:, 2] >= 0) & (v[:, 2] < Z)
        active &= ~(~inside & was_inside)  # left the grid: the last voxel's exit stays the depth
        was_inside |= inside
        tx, ty, tz = tmax[:, 0], tmax[:, 1], tmax[:, 2]
        axis = np.where(tx < ty, np.where(tx < tz, 0, 2), np.where(ty < tz, 1, 2))
        exit_d = tmax[rows, axis]
        cur = active & inside
        vi = np.clip(v, 0, [X - 1, Y - 1, Z - 1])
        hit = cur & occ[vi[:, 0], vi[:, 1], vi[:, 2]]
        depth[cur] = exit_d[cur]
        hit_idx[cur] = v[cur]
        active &= ~hit
        v[rows, axis] += step[rows, axis]
        tmax[rows, axis] += tdelta[rows, axis]
    lab = labels[hit_idx[:, 0], hit_idx[:, 1], hit_idx[:, 2]]
    lab = np.where(depth >= 0, lab, free)
    return depth, lab


def select_origins(origins: np.ndarray, half_range: float = 39.0, k: int = 8) -> np.ndarray:
    """The reference's choice of ray origins: frames whose LiDAR lies within ±39 m in x and y, at most 8."""
    o = np.asarray(origins, float).reshape(-1, 3)
    o = o[(np.abs(o[:, 0]) < half_range) & (np.abs(o[:, 1]) < half_range)]
    if len(o) > k:
        o = o[np.round(np.linspace(0, len(o) - 1, k)).astype(np.int64)]
    return o


class RayIoU:
    """Accumulates ray counts over frames; `result()` gives RayIoU, RayIoU@1/2/4 and per-class values."""

    def __init__(self, n_classes: int = 18, free: int = 17, thresholds=THRESHOLDS):
        self.n, self.free, self.thr = n_classes, free, tuple(thresholds)
        self.gt_cnt = np.zeros(n_classes)
        self.pred_cnt = np.zeros(n_classes)
        self.tp = np.zeros((len(self.thr), n_classes))
        self.rays = lidar_rays()
        self.n_frames = 0

    def add(self, pred: np.ndarray, gt: np.ndarray, origin, voxel_size: float, grid_origin) -> None:
        """One frame; `origin`: ray origins (K×3, metres, grid frame); the grid must be isotropic."""
        origins = np.asarray(origin, float).reshape(-1, 3)
        go = np.asarray(grid_origin, float)
        for o in origins:
            ov = (o - go) / voxel_size
            dp, lp = cast(pred, self.free, ov, self.rays)
            dg, lg = cast(gt, self.free, ov, self.rays)
            valid = (lg != self.free) & (dg >= 0)  # GT rays that hit something (255 included, as the reference)
            lp, lg = lp[valid].astype(np.int64), lg[valid].astype(np.int64)
            err = np.abs(dp[valid] - dg[valid]) * voxel_size
            self.gt_cnt += np.bincount(lg[lg < self.n], minlength=self.n)[: self.n]
            self.pred_cnt += np.bincount(lp[lp < self.n], minlength=self.n)[: self.n]
            same = lp == lg
            for j, t in enumerate(self.thr):
                self.tp[j] += np.bincount(lg[same & (err < t)], minlength=self.n)[: self.n]
        self.n_frames += 1

    def result(self, names=None) -> dict:
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = self.tp / (self.gt_cnt + self.pred_cnt - self.tp)
        keep = [c for c in range(self.n) if c != self.free]
        iou = iou[:, keep]
        out = {"rayiou": 100.0 * float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")}
        for j, t in enumerate(self.thr):
            row = iou[j]
            out[f"rayiou@{t:g}"] = 100.0 * float(np.nanmean(row)) if np.isfinite(row).any() else float("nan")
        if names is not None:
            out["rayiou_per_class"] = {names[c]: [None if not np.isfinite(iou[j, i]) else 100.0 * float(iou[j, i])
                                                  for j in range(len(self.thr))] for i, c in enumerate(keep)}
        return out


class FScore:
    """The Occ3D challenge F-score, averaged over frames (percent)."""

    def __init__(self, threshold: float = 0.4, void=(17, 255), eps: float = 1e-8):
        self.threshold, self.void, self.eps = threshold, tuple(void), eps
        self.acc = self.comp = self.f = 0.0
        self.n_frames = 0

    def _points(self, labels, origin, vs):
        m = ~np.isin(labels, self.void)
        return np.argwhere(m) * np.asarray(vs) + np.asarray(vs) / 2 + np.asarray(origin)

    def add(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None, origin, voxel_size) -> tuple:
        from scipy.spatial import cKDTree

        pred, gt = pred.copy(), gt.copy()
        if mask is not None:
            m = mask.astype(bool)
            pred[~m] = 255
            gt[~m] = 255
        pg, pp = self._points(gt, origin, voxel_size), self._points(pred, origin, voxel_size)
        if len(pp) == 0 or len(pg) == 0:
            acc = comp = f = 0.0
        else:
            comp = float((cKDTree(pp).query(pg)[0] < self.threshold).mean())
            acc = float((cKDTree(pg).query(pp)[0] < self.threshold).mean())
            f = 2.0 / (1 / (acc + self.eps) + 1 / (comp + self.eps))
        self.acc += acc
        self.comp += comp
        self.f += f
        self.n_frames += 1
        return acc, comp, f

    def result(self) -> dict:
        n = max(self.n_frames, 1)
        return {"fscore": 100.0 * self.f / n, "fscore_accuracy": 100.0 * self.acc / n,
                "fscore_completeness": 100.0 * self.comp / n}
