"""Registration metrics exactly as the reference code computes them (spec §6), so numbers shown in the app
and printed by `eval registration` are comparable with the SC²-PCR / PointDSC papers.

Pair-level recall uses strict "<" thresholds; mean RE/TE over a set are averaged over successful pairs only
(the authors' convention). The official 3DMatch RMSE-with-information-matrix test is here too, because it
is a different success criterion that users meet in Predator/GeoTransformer papers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

THRESHOLDS = {"3dmatch": (15.0, 30.0), "3dlomatch": (15.0, 30.0), "kitti": (5.0, 60.0), "nuscenes": (5.0, 60.0)}
INLIER_TAU = {"3dmatch": 0.10, "3dlomatch": 0.10, "kitti": 0.60}


def rotation_error_deg(R_est: np.ndarray, R_gt: np.ndarray) -> float:
    """arccos(clamp((trace(R̂ᵀ R_gt) − 1) / 2, −1, 1)) in degrees."""
    R_est, R_gt = np.asarray(R_est, float)[:3, :3], np.asarray(R_gt, float)[:3, :3]
    c = (np.trace(R_est.T @ R_gt) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def translation_error_cm(t_est: np.ndarray, t_gt: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(t_est, float).ravel()[:3] - np.asarray(t_gt, float).ravel()[:3]) * 100.0)


def transform_errors(T_est: np.ndarray, T_gt: np.ndarray) -> tuple[float, float]:
    """(RE degrees, TE centimetres) between two 4×4 source→target transforms."""
    T_est, T_gt = np.asarray(T_est, float), np.asarray(T_gt, float)
    return rotation_error_deg(T_est[:3, :3], T_gt[:3, :3]), translation_error_cm(T_est[:3, 3], T_gt[:3, 3])


def is_success(re_deg: float, te_cm: float, preset: str = "3dmatch") -> bool:
    th_r, th_t = THRESHOLDS[preset]
    return bool(re_deg < th_r and te_cm < th_t)


def residuals(P: np.ndarray, Q: np.ndarray, T: np.ndarray) -> np.ndarray:
    """‖R p_i + t − q_i‖ for every correspondence row."""
    T = np.asarray(T, float)
    return np.linalg.norm(np.asarray(P, float) @ T[:3, :3].T + T[:3, 3] - np.asarray(Q, float), axis=1)


def gt_inliers(P: np.ndarray, Q: np.ndarray, T_gt: np.ndarray, tau: float) -> np.ndarray:
    return residuals(P, Q, T_gt) < tau


def inlier_prf(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of predicted inlier flags vs GT flags; 0 where undefined (sklearn's default)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    tp = int(np.sum(pred & gt))
    ip = tp / int(pred.sum()) if pred.any() else 0.0
    ir = tp / int(gt.sum()) if gt.any() else 0.0
    f1 = 2 * ip * ir / (ip + ir) if ip + ir > 0 else 0.0
    return ip, ir, f1


@dataclass
class PairMetrics:
    rotation_error_deg: float
    translation_error_cm: float
    success: bool
    success_3dmatch: bool
    success_kitti: bool
    inlier_ratio: float | None = None
    n_gt_inliers: int | None = None
    inlier_precision: float | None = None
    inlier_recall: float | None = None
    inlier_f1: float | None = None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def pair_metrics(T_est: np.ndarray, T_gt: np.ndarray, preset: str = "3dmatch", P: np.ndarray | None = None,
                 Q: np.ndarray | None = None, pred_inlier: np.ndarray | None = None,
                 tau: float | None = None) -> PairMetrics:
    """All pair-level numbers; the correspondence ones only when P, Q are given (pred from T_est if absent)."""
    re, te = transform_errors(T_est, T_gt)
    m = PairMetrics(re, te, is_success(re, te, preset), is_success(re, te, "3dmatch"), is_success(re, te, "kitti"))
    if P is not None and Q is not None and len(P):
        tau = INLIER_TAU.get(preset, 0.10) if tau is None else tau
        gt = gt_inliers(P, Q, T_gt, tau)
        pred = residuals(P, Q, T_est) < tau if pred_inlier is None else np.asarray(pred_inlier, bool)
        m.inlier_ratio = float(gt.mean())
        m.n_gt_inliers = int(gt.sum())
        m.inlier_precision, m.inlier_recall, m.inlier_f1 = inlier_prf(pred, gt)
    return m


def summarize(pairs: list[PairMetrics]) -> dict:
    """Registration recall over pairs; mean RE/TE over successful pairs only; IP/IR/F1 averaged over all."""
    n = len(pairs)
    ok = [p for p in pairs if p.success]
    out = {"pairs": n, "registration_recall": len(ok) / n if n else 0.0,
           "mean_rotation_error_deg": float(np.mean([p.rotation_error_deg for p in ok])) if ok else math.nan,
           "mean_translation_error_cm": float(np.mean([p.translation_error_cm for p in ok])) if ok else math.nan}
    for k in ("inlier_precision", "inlier_recall", "inlier_f1", "inlier_ratio"):
        vals = [getattr(p, k) for p in pairs if getattr(p, k) is not None]
        if vals:
            out["mean_" + k] = float(np.mean(vals))
    return out


def _rot_to_quat(R: np.ndarray) -> np.ndarray:
    """(w, x, y, z) unit quaternion of a rotation matrix, w ≥ 0 (engine.rotations)."""
    from ..rotations import matrix_to_quat_wxyz

    return matrix_to_quat_wxyz(R)


def rmse_information(T_est: np.ndarray, T_gt: np.ndarray, info: np.ndarray) -> float:
    """Official 3DMatch/Redwood error ξᵀ Σ ξ / Σ₀₀ with ξ = [t; q_xyz] of T_gt⁻¹ T_est (success iff ≤ 0.2²)."""
    D = np.linalg.inv(np.asarray(T_gt, float)) @ np.asarray(T_est, float)
    q = _rot_to_quat(D[:3, :3])
    xi = np.concatenate([D[:3, 3], q[1:]])
    info = np.asarray(info, float)
    return float(xi @ info @ xi / info[0, 0])
