"""Pose metrics, written once so the CLI, the GUI and the benchmarks report the same numbers.

Definitions follow ../shared/specs/pose.md §3 with two deliberate, stated choices:
* PA-MPJPE uses the optimal similarity transform with det(R) = +1 (**reflections excluded**), like most
  codebases and unlike GFPose's MATLAB port (`reflection='best'`); `allow_reflection=True` reproduces
  theirs. A mirrored prediction is therefore an error here, not a perfect match.
* PCK normalises by the torso diameter: the mean of the two shoulder–opposite-hip diagonals of the
  ground truth (one diagonal when only one is labelled; α·max(bbox side) when neither is).
COCO AP is delegated to pycocotools so it is exactly the official number.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np

from .joints import COCO17, COCO_SIGMAS

# ---------------------------------------------------------------------------------------------- 2-D


def pixel_errors(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Per-joint Euclidean distance (..., J); NaN where the ground truth is not labelled."""
    d = np.linalg.norm(np.asarray(pred, float)[..., :2] - np.asarray(gt, float)[..., :2], axis=-1)
    if visible is not None:
        d = np.where(np.asarray(visible) > 0, d, np.nan)
    return d


def torso_size(gt: np.ndarray, visible: np.ndarray, bbox: np.ndarray | None = None,
               joint_set=COCO17) -> float:
    """Torso diameter of one COCO-17 person (see module doc); NaN when undefined."""
    names = joint_set.names
    ls, rs, lh, rh = (names.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))
    diags = [np.linalg.norm(gt[a, :2] - gt[b, :2]) for a, b in ((ls, rh), (rs, lh)) if visible[a] > 0 and visible[b] > 0]
    if diags:
        return float(np.mean(diags))
    if bbox is not None:
        return float(max(bbox[2], bbox[3]))
    return float("nan")


def pck(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, norm: np.ndarray | float,
        alpha: float = 0.2) -> tuple[float, np.ndarray]:
    """PCK@α: share of labelled joints within α·norm (norm per person, shape (...,) or scalar).

    Returns (overall, per-joint) — per-joint is NaN for joints never labelled."""
    gt = np.asarray(gt, float)
    j = gt.shape[-2]
    d = pixel_errors(pred, gt, visible).reshape(-1, j)
    thr = alpha * np.broadcast_to(np.asarray(norm, float), d.shape[:1])[:, None]
    labelled = ~np.isnan(d)
    with np.errstate(invalid="ignore"):
        ok = labelled & (d <= thr)
    n = labelled.sum(0)
    per_joint = np.where(n > 0, ok.sum(0) / np.maximum(n, 1), np.nan)
    total = labelled.sum()
    return (float(ok.sum() / total) if total else float("nan")), per_joint


def oks(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, area: float,
        sigmas: np.ndarray = COCO_SIGMAS) -> float:
    """COCO object keypoint similarity of one prediction to one labelled person (pycocotools' formula)."""
    v = np.asarray(visible) > 0
    if not v.any():
        return 0.0
    var = (2 * sigmas) ** 2
    d2 = ((np.asarray(pred, float)[:, :2] - np.asarray(gt, float)[:, :2]) ** 2).sum(-1)
    e = d2 / var / (area + np.spacing(1)) / 2
    return float(np.exp(-e[v]).mean())


def coco_keypoint_ap(gt: dict, results: list[dict]) -> dict[str, float]:
    """Official COCO keypoint AP/AR via pycocotools, from in-memory GT dict and result list."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = ["AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75", "AR_M", "AR_L"]
    if not results:
        return {k: 0.0 for k in names}
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.imgIds = sorted({r["image_id"] for r in results} | {im["id"] for im in gt.get("images", [])})
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(names, ev.stats)}


# ---------------------------------------------------------------------------------------------- 3-D


def mpjpe(pred: np.ndarray, gt: np.ndarray, root: int | None = None) -> float:
    """Mean per-joint position error; with `root`, both poses are made root-relative first."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    if root is not None:
        pred = pred - pred[..., root:root + 1, :]
        gt = gt - gt[..., root:root + 1, :]
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def per_joint_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(J,) mean over all leading axes of the per-joint Euclidean error."""
    d = np.linalg.norm(np.asarray(pred, float) - np.asarray(gt, float), axis=-1)
    return d.reshape(-1, d.shape[-1]).mean(0)


@dataclass
class Similarity:
    """q = s R p + t."""
    s: float
    R: np.ndarray
    t: np.ndarray

    def apply(self, p: np.ndarray) -> np.ndarray:
        return self.s * np.asarray(p, float) @ self.R.T + self.t

    def matrix(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.s * self.R
        m[:3, 3] = self.t
        return m


def umeyama(src: np.ndarray, dst: np.ndarray, scaling: bool = True,
            allow_reflection: bool = False) -> Similarity:
    """Least-squares similarity (or rigid, scaling=False) that maps src (N×D) onto dst (Umeyama 1991)."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(len(sig))
    if not allow_reflection and np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1.0
    r = u @ np.diag(d) @ vt
    var_s = (xs ** 2).sum() / len(src)
    s = float((sig * d).sum() / var_s) if scaling and var_s > 0 else 1.0
    t = mu_d - s * r @ mu_s
    return Similarity(s, r, t)


def procrustes_align(pred: np.ndarray, gt: np.ndarray, scaling: bool = True,
                     allow_reflection: bool = False) -> np.ndarray:
    """pred (..., J, 3) aligned to gt per pose by the optimal similarity transform."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    flat_p, flat_g = pred.reshape(-1, *pred.shape[-2:]), gt.reshape(-1, *gt.shape[-2:])
    out = np.stack([umeyama(p, g, scaling, allow_reflection).apply(p) for p, g in zip(flat_p, flat_g)])
    return out.reshape(pred.shape)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, allow_reflection: bool = False) -> float:
    """MPJPE after Procrustes alignment (rotation, translation, isotropic scale); reflections excluded
    unless `allow_reflection` (GFPose's choice)."""
    return mpjpe(procrustes_align(pred, gt, True, allow_reflection), gt)


def multi_hypothesis_mpjpe(hyps: np.ndarray, gt: np.ndarray, root: int | None = 0) -> float:
    """Oracle-best MPJPE over hypotheses (H, J, 3) against gt (J, 3), as in GFPose's evaluation."""
    return min(mpjpe(h, gt, root) for h in np.asarray(hyps))


def hypothesis_spread(hyps: np.ndarray, root: int | None = 0) -> np.ndarray:
    """Per-joint spread (J,): RMS distance of root-relative hypotheses from their mean."""
    h = np.asarray(hyps, float)
    if root is not None:
        h = h - h[..., root:root + 1, :]
    mean = h.mean(0, keepdims=True)
    return np.sqrt(((h - mean) ** 2).sum(-1).mean(0))


def pck3d(pred: np.ndarray, gt: np.ndarray, threshold: float = 150.0, root: int | None = 0) -> float:
    """MPI-INF-3DHP PCK: share of joints with root-aligned error below `threshold` (same units as input)."""
    pred, gt = np.asarray(pred, float), np.asarray(gt, float)
    if root is not None:
        pred, gt = pred - pred[..., root:root + 1, :], gt - gt[..., root:root + 1, :]
    return float((np.linalg.norm(pred - gt, axis=-1) < threshold).mean())


# -------------------------------------------------------------------------------------- trajectories


def associate(t_est: np.ndarray, t_ref: np.ndarray, max_dt: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs matching timestamps (nearest neighbour within max_dt, one-to-one, in time order)."""
    t_est, t_ref = np.asarray(t_est, float), np.asarray(t_ref, float)
    order = np.argsort(t_ref)
    pos = np.clip(np.searchsorted(t_ref[order], t_est), 1, len(t_ref) - 1) if len(t_ref) > 1 else np.zeros(len(t_est), int)
    ie, ir, used = [], [], set()
    for i, p in enumerate(pos):
        cands = [order[p - 1], order[p]] if len(t_ref) > 1 else [order[0]]
        j = min(cands, key=lambda c: abs(t_ref[c] - t_est[i]))
        if abs(t_ref[j] - t_est[i]) <= max_dt and j not in used:
            used.add(j)
            ie.append(i)
            ir.append(j)
    return np.asarray(ie, int), np.asarray(ir, int)


@dataclass
class ATEResult:
    errors: np.ndarray       # per matched frame, metres
    rmse: float
    mean: float
    median: float
    max: float
    alignment: Similarity
    est_index: np.ndarray
    ref_index: np.ndarray
    aligned: np.ndarray      # aligned estimated positions (M×3)


def ate(est_poses: np.ndarray, ref_poses: np.ndarray, est_t: np.ndarray | None = None,
        ref_t: np.ndarray | None = None, scale: bool = False, max_dt: float = 0.02) -> ATEResult:
    """Absolute trajectory error of positions after the best rigid (or similarity, `scale=True` for
    monocular) alignment of the estimate onto the reference (Umeyama; reflections excluded).
    Frames are matched by timestamp when both have them, otherwise by index."""
    est_poses, ref_poses = np.asarray(est_poses, float), np.asarray(ref_poses, float)
    if est_t is not None and ref_t is not None:
        ie, ir = associate(est_t, ref_t, max_dt)
    else:
        n = min(len(est_poses), len(ref_poses))
        ie = ir = np.arange(n)
    if len(ie) < 3:
        raise ValueError(f"only {len(ie)} matched poses; ATE needs at least 3")
    pe, pr = est_poses[ie, :3, 3], ref_poses[ir, :3, 3]
    sim = umeyama(pe, pr, scaling=scale)
    aligned = sim.apply(pe)
    err = np.linalg.norm(aligned - pr, axis=1)
    return ATEResult(err, float(np.sqrt((err ** 2).mean())), float(err.mean()), float(np.median(err)),
                     float(err.max()), sim, ie, ir, aligned)
