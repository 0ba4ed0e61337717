"""Absolute and relative pose error of an estimated trajectory against a reference, defined as evo
(github.com/MichaelGrupp/evo, `evo_ape` / `evo_rpe`) defines them, so numbers can be compared with papers
that report evo's output. Re-implemented here (evo is GPL-3.0 and only a test dependency).

* Association (evo `sync.associate_trajectories`, TUM / EuRoC): the shorter trajectory's stamps are
  matched to the nearest stamp of the longer one (estimate stamps shifted by `t_offset`), kept when within
  `t_max_diff` seconds (default 0.01 s, evo's); a reference stamp may serve several estimate stamps, as in
  evo. Without timestamps (KITTI) both files must hold the same number of poses, matched by index.
* Alignment (evo `--align`, `--align --correct_scale`): Umeyama's least-squares SE(3) or Sim(3) of the
  estimate's positions onto the reference's; Sim(3) scales the estimate's translations, then the rigid
  part multiplies every pose from the left.
* APE: translation = ‖t_est − t_ref‖; rotation = angle of R_est⁻¹·R_ref (degrees).
* RPE: pose pairs (i, j) chosen on the estimate — every `delta` frames (consecutive pairs, evo's default),
  or, for `delta_unit='m'`, each time the travelled path reaches `delta` metres; error
  E = (Q_i⁻¹Q_j)⁻¹(P_i⁻¹P_j): translation ‖t(E)‖, rotation angle(R(E)) in degrees.
* Statistics: rmse, mean, median, std (population), min, max, sse — evo's.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError
from .metrics import umeyama


def matching_time_indices(stamps_1: np.ndarray, stamps_2: np.ndarray, max_diff: float = 0.01,
                          offset_2: float = 0.0) -> tuple[list[int], list[int]]:
    """evo's `matching_time_indices`: for each stamp of the first list, the nearest of the second (shifted
    by `offset_2`) within `max_diff` (binary search when sorted, linear scan otherwise)."""
    s1 = np.asarray(stamps_1, float)
    s2 = np.asarray(stamps_2, float) + offset_2
    i1: list[int] = []
    i2: list[int] = []
    if not np.all(np.diff(s2) >= 0):
        for a, t in enumerate(s1):
            d = np.abs(s2 - t)
            b = int(np.argmin(d))
            if d[b] <= max_diff:
                i1.append(a)
                i2.append(b)
        return i1, i2
    for a, t in enumerate(s1):
        if t < s2[0] - max_diff or t > s2[-1] + max_diff:
            continue
        b = int(np.searchsorted(s2, t, side="right"))
        if b >= len(s2):
            b = len(s2) - 1
        ub = s2[b] - t
        lb = t - s2[b - 1] if b > 0 else float("inf")
        if ub <= max_diff and ub < lb:
            best = b
        elif lb <= max_diff and lb <= ub:
            best = b - 1
        else:
            continue
        i1.append(a)
        i2.append(best)
    return i1, i2


def associate(ref_t: np.ndarray, est_t: np.ndarray, max_diff: float = 0.01,
              offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(reference indices, estimate indices) as evo's `associate_trajectories(ref, est, max_diff, offset)`."""
    est_longer = len(est_t) > len(ref_t)
    if est_longer:
        short, long_ = matching_time_indices(ref_t, est_t, max_diff, offset)
        return np.asarray(short, int), np.asarray(long_, int)
    short, long_ = matching_time_indices(est_t, ref_t, max_diff, -offset)
    return np.asarray(long_, int), np.asarray(short, int)


def rotation_angle_deg(r: np.ndarray) -> np.ndarray:
    """Angle of the rotation(s) r (…×3×3) in degrees (norm of the rotation vector, as evo's so3_log_angle)."""
    from scipy.spatial.transform import Rotation

    return np.degrees(np.linalg.norm(Rotation.from_matrix(np.asarray(r, float)).as_rotvec(), axis=-1))


def inverse_se3(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, float)
    out = np.zeros_like(p)
    rt = np.swapaxes(p[..., :3, :3], -1, -2)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -(rt @ p[..., :3, 3:4])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def statistics(err: np.ndarray) -> dict[str, float]:
    e = np.asarray(err, float)
    return {"rmse": math.sqrt(float(np.mean(e ** 2))), "mean": float(np.mean(e)), "median": float(np.median(e)),
            "std": float(np.std(e)), "min": float(np.min(e)), "max": float(np.max(e)), "sse": float(np.sum(e ** 2)),
            "n": int(len(e))}


def rpe_pairs(poses: np.ndarray, delta: float, unit: str = "f", rel_tol: float = 0.1) -> list[tuple[int, int]]:
    """evo's consecutive pairs: every `delta` frames ('f'), or each time the path length reaches `delta` m."""
    n = len(poses)
    if unit == "f":
        ids = np.arange(0, n, int(delta))
        return [(int(i), int(j)) for i, j in zip(ids, ids[1:])]
    if unit == "m":
        ids = [0]
        path = 0.0
        for i in range(1, n):
            path += float(np.linalg.norm(poses[i, :3, 3] - poses[i - 1, :3, 3]))
            if path >= delta:
                ids.append(i)
                path = 0.0
        return list(zip(ids, ids[1:]))
    raise InputError(None, f"--delta-unit must be f (frames) or m (metres), not {unit!r}")


def evaluate(est_poses: np.ndarray, ref_poses: np.ndarray, est_t: np.ndarray | None = None,
             ref_t: np.ndarray | None = None, align: str = "se3", t_max_diff: float = 0.01, t_offset: float = 0.0,
             delta: float = 1, delta_unit: str = "f") -> dict:
    """APE and RPE (translation and rotation) of the estimate against the reference; see the module doc."""
    if align not in ("se3", "sim3", "none"):
        raise InputError(None, f"--align must be se3, sim3 or none, not {align!r}")
    if delta_unit == "f" and (delta < 1 or float(delta) != int(delta)):
        raise InputError(None, f"--delta must be a whole number of frames ≥ 1, not {delta}")
    if delta <= 0:
        raise InputError(None, f"--delta must be positive, not {delta}")
    est = np.asarray(est_poses, float)
    ref = np.asarray(ref_poses, float)
    if est_t is not None and ref_t is not None:
        ir, ie = associate(ref_t, est_t, t_max_diff, t_offset)
        if len(ir) == 0:
            raise InputError(None, f"no matching timestamps between estimate and reference within {t_max_diff} s "
                                   f"(time offset {t_offset} s)")
        matching = "timestamps"
    else:
        if len(est) != len(ref):
            raise InputError(None, f"without timestamps both trajectories need the same number of poses "
                                   f"(estimate {len(est)}, reference {len(ref)})")
        ir = ie = np.arange(len(est))
        matching = "index"
    P = est[ie].copy()
    Q = ref[ir]
    s, R, t = 1.0, np.eye(3), np.zeros(3)
    if align != "none":
        if len(P) < 3:
            raise InputError(None, f"only {len(P)} matched poses; alignment needs at least 3")
        sim = umeyama(P[:, :3, 3], Q[:, :3, 3], scaling=align == "sim3")
        s, R, t = sim.s, sim.R, sim.t
        P[:, :3, 3] *= s
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, t
        P = T @ P
    ape_t = np.linalg.norm(P[:, :3, 3] - Q[:, :3, 3], axis=1)
    E_abs = inverse_se3(P) @ Q
    ape_r = rotation_angle_deg(E_abs[:, :3, :3])
    pairs = rpe_pairs(P, delta, delta_unit)
    if not pairs:
        raise InputError(None, f"delta = {delta} ({delta_unit}) gives no pose pairs; try a smaller --delta")
    i, j = np.array(pairs).T
    Q_rel = inverse_se3(Q[i]) @ Q[j]
    P_rel = inverse_se3(P[i]) @ P[j]
    E_rel = inverse_se3(Q_rel) @ P_rel
    rpe_t = np.linalg.norm(E_rel[:, :3, 3], axis=1)
    rpe_r = rotation_angle_deg(E_rel[:, :3, :3])
    return {"matched": int(len(P)), "matching": matching, "align": align,
            "alignment": {"scale": float(s), "rotation": R.tolist(), "translation": t.tolist()},
            "ape": {"translation_m": statistics(ape_t), "rotation_deg": statistics(ape_r)},
            "rpe": {"translation_m": statistics(rpe_t), "rotation_deg": statistics(rpe_r),
                    "delta": delta, "delta_unit": delta_unit, "pairs": len(pairs)},
            "errors": {"ape_translation": ape_t, "ape_rotation": ape_r, "rpe_translation": rpe_t,
                       "rpe_rotation": rpe_r, "rpe_pairs": np.array(pairs, int), "est_index": ie, "ref_index": ir,
                       "aligned": P}}
