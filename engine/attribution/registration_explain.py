"""Why did this alignment succeed? Gradient-free feature ablation of a registration over spatial cells.

SC²-PCR has no useful gradient (seeds, top-k, inlier counts), so the question "which parts of the source
(or target) cloud carry the alignment" is answered the occlusion way: split the explained cloud's keypoints
into cubic cells, remove one cell at a time, recompute what depends on it, re-run the estimator and measure
how much of the reference alignment's support survives.

Two fidelity levels, because the honest one costs ~5× more:
  * ``fast`` keeps the descriptors and correspondences of the un-ablated run and drops the correspondences
    whose keypoint lies in the cell; only SC²-PCR is re-run (~0.1 s per cell on 2 cores). It ignores that
    FPFH of keypoints within ~2 FPFH radii of the cell would have changed.
  * ``full`` removes the cell's keypoints, recomputes normals + FPFH of the remaining keypoints (through the
    pipeline's own `preprocess`, so it follows the lead's FPFH), matches them again against the fixed other
    side and re-runs SC²-PCR (~0.4 s per cell).

Score of a cell (signed, a fraction of the reference support):
  consensus(T) = #{correspondences inlier (< τ) under the reference T_ref AND under T}
  score = (C₀ − C_cell) / C₀, with C₀ = consensus of the un-ablated estimate over all correspondences and
  C_cell = consensus of the ablated estimate over the remaining (fast) or recomputed (full) correspondences.
  It splits into ``direct`` (the reference inliers the cell itself held) and ``indirect`` (support lost
  because the estimate moved, or — in full mode — because descriptors near the cell changed). A negative
  score means the alignment agrees *better* with the reference without the cell: the cell misled it.
  The pose change of the ablated estimate against the un-ablated one (RE°, TE cm) is reported per cell too.

Cell scores are spread to keypoints (each keypoint takes its cell's score; with ``offsets=2`` a second grid
shifted by half a cell is ablated too and a keypoint averages its two cells, which halves the blockiness at
twice the cost). ``scores_at(points)`` spreads them to any cloud (e.g. the raw, not downsampled, layer).

Exact per-point quantity next to the ablation: a keypoint's support as a correspondence inlier, i.e. the
post-refinement weight 1/(1+(r/τ)²) of its correspondences under the estimate (what the final weighted
Kabsch solve uses), multiplied by the normalised SC² global confidence (0 for rows capped out of the N×N
stage). No re-runs needed.

The estimator is always SC²-PCR with the pipeline's parameters (the RANSAC baseline is not explained).
Clouds are explained in their raw frames (no initial pose), as the workbench runs them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext
from ..scene import AttributionMap

MODES = ("fast", "full")
SIDES = ("source", "target")


@dataclass
class ExplainParams:
    mode: str = "fast"  # fast | full (see module docstring)
    side: str = "source"  # which cloud is ablated
    cell_size: float | None = None  # metres; default 3 × the FPFH radius (0.75 m for 3DMatch)
    offsets: int = 1  # 1 grid, or 2 (plus a half-cell shifted grid; scores averaged per point)
    tau: float | None = None  # inlier threshold for the consensus; default the preset's inlier_threshold
    max_cells: int = 2000  # refuse absurd cell sizes instead of running for hours

    def validate(self) -> None:
        if self.mode not in MODES:
            raise InputError(None, f"unknown explanation mode {self.mode!r} (use {' or '.join(MODES)})")
        if self.side not in SIDES:
            raise InputError(None, f"unknown side {self.side!r} (use {' or '.join(SIDES)})")
        if self.cell_size is not None and not (np.isfinite(self.cell_size) and self.cell_size > 0):
            raise InputError(None, f"cell size must be a positive number of metres, got {self.cell_size}")
        if self.offsets not in (1, 2):
            raise InputError(None, f"offsets must be 1 or 2, got {self.offsets}")


@dataclass
class RegistrationExplanation:
    params: ExplainParams
    cell_size: float
    keypoints: np.ndarray  # (M×3) keypoints of the explained side, raw frame
    other_keypoints: np.ndarray  # keypoints of the other side
    cells: dict[str, np.ndarray]  # one row per ablated cell: grid, key(K×3), centre, n_points, n_corr,
    #   n_ref_inliers, n_true (with gt; else -1), consensus, score, direct, indirect, re_deg, te_cm, seconds
    point_cell: np.ndarray  # (M,) row in `cells` of each keypoint's cell in grid 0
    point_score: np.ndarray  # (M,) cell scores spread to keypoints (mean over grids)
    point_support: np.ndarray  # (M,) exact: post-refinement inlier weight × normalised SC² confidence
    point_weight: np.ndarray  # (M,) exact: post-refinement inlier weight alone
    corr: np.ndarray  # (N×2) un-ablated correspondences (source idx, target idx)
    ref_inlier: np.ndarray  # (N,) inlier under T_ref
    T_ref: np.ndarray
    T_full: np.ndarray  # un-ablated SC² estimate
    consensus_full: int
    stage_times: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    seconds_per_cell: float = 0.0

    def scores_at(self, points: np.ndarray) -> np.ndarray:
        """Cell scores at arbitrary points of the explained cloud (raw frame); 0 outside every ablated cell."""
        pts = np.asarray(points, float).reshape(-1, 3)
        out = np.zeros(len(pts))
        grids = self.cells["grid"]
        for g in np.unique(grids):
            rows = np.flatnonzero(grids == g)
            keys = _cell_keys(pts, self.cell_size, g)
            lut = {tuple(k): self.cells["score"][r] for k, r in zip(self.cells["key"][rows], rows)}
            out += np.array([lut.get(tuple(k), 0.0) for k in keys])
        return (out / max(1, len(np.unique(grids)))).astype(np.float32)

    def cell_info(self, i: int) -> dict:
        """One keypoint's cell in words, for the inspector."""
        r = int(self.point_cell[i])
        c = self.cells
        return {"cell": f"{r} (centre {np.array2string(c['centre'][r], precision=2)})",
                "cell score (support lost)": f"{c['score'][r]:+.3f}",
                "direct / indirect": f"{c['direct'][r]:+.3f} / {c['indirect'][r]:+.3f}",
                "cell keypoints / correspondences": f"{int(c['n_points'][r])} / {int(c['n_corr'][r])}",
                "reference inliers in cell": str(int(c["n_ref_inliers"][r])),
                "pose change without cell": f"{c['re_deg'][r]:.2f}°, {c['te_cm'][r]:.1f} cm"}

    def top_cells(self, k: int = 5) -> np.ndarray:
        return np.argsort(-self.cells["score"], kind="stable")[:k]

    def attribution_map(self, on_layer: str = "", name: str | None = None) -> AttributionMap:
        p = self.params
        return AttributionMap(
            name=name or f"alignment attribution ({p.side}, {p.mode})", source="job:registration-explain",
            scores=self.point_score.astype(np.float32), target=f"registration consensus ({p.side})",
            method=f"cell ablation ({p.mode}, {self.cell_size:.2f} m)", on_layer=on_layer,
            meta={"support": self.point_support, "cell": self.point_cell, "cell_size": self.cell_size})

    def summary(self) -> dict:
        c = self.cells
        return {"mode": self.params.mode, "side": self.params.side, "cell_size": self.cell_size,
                "n_cells": int(len(c["score"])), "consensus_full": self.consensus_full,
                "seconds": round(self.seconds, 3), "seconds_per_cell": round(self.seconds_per_cell, 4),
                "stage_seconds": {k: round(v, 3) for k, v in self.stage_times.items()},
                "top_cells": [{"centre": c["centre"][r].round(3).tolist(), "score": float(c["score"][r]),
                               "re_deg": float(c["re_deg"][r]), "te_cm": float(c["te_cm"][r])}
                              for r in self.top_cells(5)]}


def _cell_keys(points: np.ndarray, size: float, grid: int) -> np.ndarray:
    """Integer cell of each point; grid 1 is shifted by half a cell."""
    return np.floor(points / size + (0.5 if grid else 0.0)).astype(np.int64)


def _consensus(P, Q, T_ref_inl: np.ndarray, T: np.ndarray, tau: float) -> int:
    from ..registration import metrics as M

    return int((T_ref_inl & M.gt_inliers(P, Q, T, tau)).sum())


def explain_registration(source, target, params=None, reference: np.ndarray | None = None,
                         explain: ExplainParams | None = None, gt: np.ndarray | None = None,
                         ctx: JobContext | None = None) -> RegistrationExplanation:
    """Ablate cells of one cloud and score the effect on the alignment. `source`/`target`: PointCloud layers
    or N×3 arrays (raw frames); `params`: RegistrationParams; `reference`: the 4×4 alignment whose support is
    measured (default: the un-ablated SC² estimate); `gt` (optional) adds the true-inlier count per cell."""
    import torch

    from ..registration import metrics as M
    from ..registration.matching import match_features
    from ..registration.pipeline import RegistrationParams, _as_points, preprocess
    from ..registration.sc2pcr import sc2_pcr

    prm = params or RegistrationParams.for_preset("3dmatch")
    ex = explain or ExplainParams()
    ex.validate()
    ctx = ctx or JobContext()
    t_start = time.perf_counter()
    src, tgt = _as_points(source, "source"), _as_points(target, "target")
    tau = float(ex.tau or prm.inlier_threshold)
    cell = float(ex.cell_size or 3.0 * prm.fpfh_radius)
    sc2p = prm.sc2_params()

    with ctx.stage("keypoints + FPFH"):
        ctx.progress(0.0, "source descriptors")
        ks, _, fs = preprocess(src, prm, ctx.sub(0.0, 0.05))
        ctx.progress(0.05, "target descriptors")
        kt, _, ft = preprocess(tgt, prm, ctx.sub(0.05, 0.1))
    with ctx.stage("matching + SC²-PCR (un-ablated)"):
        m = match_features(fs, ft, mutual=prm.mutual)
        if len(m.src_idx) < 3:
            raise InputError(None, f"only {len(m.src_idx)} correspondences: nothing to explain")
        P, Q = ks[m.src_idx], kt[m.tgt_idx]
        r0 = sc2_pcr(P, Q, sc2p, priority=m.ratio)
    T_full = r0.transform
    T_ref = T_full if reference is None else np.asarray(reference, float)
    Pn, Qn = P.double().cpu().numpy(), Q.double().cpu().numpy()
    ref_inl = M.gt_inliers(Pn, Qn, T_ref, tau)
    C0 = _consensus(Pn, Qn, ref_inl, T_full, tau)
    true_inl = M.gt_inliers(Pn, Qn, np.asarray(gt, float), tau) if gt is not None else None
    corr = np.stack([m.src_idx.cpu().numpy(), m.tgt_idx.cpu().numpy()], 1).astype(np.int64)
    side = 0 if ex.side == "source" else 1
    kp = (ks if side == 0 else kt).double().cpu().numpy()
    other = (kt if side == 0 else ks).double().cpu().numpy()
    if C0 == 0:
        raise InputError(None, "the estimate and the reference alignment share no inlier: nothing to explain")

    # exact per-point support (no re-runs): post-refinement weight × normalised SC² confidence
    r_est = M.residuals(Pn, Qn, T_full)
    w = np.where(r_est < tau, 1.0 / (1.0 + (r_est / tau) ** 2), 0.0)
    conf = np.nan_to_num(r0.confidence.astype(float), nan=0.0)
    conf = conf / conf.max() if conf.max() > 0 else conf
    point_weight = np.zeros(len(kp))
    point_support = np.zeros(len(kp))
    np.add.at(point_weight, corr[:, side], w)
    np.add.at(point_support, corr[:, side], w * conf)

    # cells of every grid, in a fixed order
    grids = []
    for g in range(ex.offsets):
        keys = _cell_keys(kp, cell, g)
        uk, inv = np.unique(keys, axis=0, return_inverse=True)
        grids.append((g, uk, inv.reshape(-1)))
    n_cells = sum(len(uk) for _, uk, _ in grids)
    if n_cells > ex.max_cells:
        raise InputError(None, f"{n_cells} cells of {cell} m: choose a larger cell size (at most {ex.max_cells} cells)")

    if ex.mode == "full":
        kp32 = (ks if side == 0 else kt).cpu().numpy().astype(np.float64)
        fine = prm.with_(voxel=1e-4)
        f_other = ft if side == 0 else fs

    rows: dict[str, list] = {k: [] for k in ("grid", "key", "centre", "n_points", "n_corr", "n_ref_inliers",
                                             "n_true", "consensus", "score", "direct", "indirect", "re_deg",
                                             "te_cm", "seconds")}
    point_cell = np.zeros(len(kp), np.int64)
    point_score = np.zeros(len(kp))
    corr_cell_side = corr[:, side]
    done = 0
    t_cells = time.perf_counter()
    with ctx.stage(f"ablation ({ex.mode}, {n_cells} cells)"):
        for g, uk, inv in grids:
            first_row = len(rows["score"])
            ccell = inv[corr_cell_side]  # cell of each correspondence's keypoint
            for c in range(len(uk)):
                ctx.progress(0.1 + 0.9 * done / n_cells, f"cell {done + 1}/{n_cells} ({ex.mode})")
                t0 = time.perf_counter()
                in_cell = ccell == c
                drop_ref = int((ref_inl & in_cell & M.gt_inliers(Pn, Qn, T_full, tau)).sum())
                n_pts = int((inv == c).sum())
                T_c, C_c = T_full, C0 - drop_ref
                if ex.mode == "fast":
                    keep = ~in_cell
                    if in_cell.any():
                        if keep.sum() >= 3:
                            kk = torch.as_tensor(keep, device=P.device)
                            T_c = sc2_pcr(P[kk], Q[kk], sc2p, priority=m.ratio[kk]).transform
                            C_c = _consensus(Pn[keep], Qn[keep], ref_inl[keep], T_c, tau)
                        else:
                            T_c, C_c = np.full((4, 4), np.nan), 0
                else:
                    kept = np.flatnonzero(inv != c)
                    if len(kept) < 3:
                        T_c, C_c = np.full((4, 4), np.nan), 0
                    else:
                        # the pipeline's own preprocess recomputes normals + FPFH on the kept keypoints; its
                        # downsampling runs at 0.1 mm so every keypoint stays itself (at the preset's voxel,
                        # float32 rounding can move a centroid across a voxel face and merge two keypoints)
                        kpk, _, fk = preprocess(kp32[kept], fine)
                        mm = match_features(fk, f_other, prm.mutual) if side == 0 else match_features(f_other, fk, prm.mutual)
                        if side == 0:
                            Pc, Qc = kpk[mm.src_idx], kt[mm.tgt_idx]
                        else:
                            Pc, Qc = ks[mm.src_idx], kpk[mm.tgt_idx]
                        if len(Pc) < 3:
                            T_c, C_c = np.full((4, 4), np.nan), 0
                        else:
                            T_c = sc2_pcr(Pc, Qc, sc2p, priority=mm.ratio).transform
                            Pcn, Qcn = Pc.double().cpu().numpy(), Qc.double().cpu().numpy()
                            C_c = _consensus(Pcn, Qcn, M.gt_inliers(Pcn, Qcn, T_ref, tau), T_c, tau)
                if np.isfinite(T_c).all():
                    re, te = M.transform_errors(T_c, T_full)
                else:
                    re, te = 180.0, float("inf")
                score, direct = (C0 - C_c) / C0, drop_ref / C0
                for k, v in (("grid", g), ("key", uk[c]), ("centre", (uk[c] + 0.5 - (0.5 if g else 0.0)) * cell),
                             ("n_points", n_pts), ("n_corr", int(in_cell.sum())),
                             ("n_ref_inliers", int((ref_inl & in_cell).sum())),
                             ("n_true", int((true_inl & in_cell).sum()) if true_inl is not None else -1),
                             ("consensus", C_c), ("score", score), ("direct", direct), ("indirect", score - direct),
                             ("re_deg", re), ("te_cm", te), ("seconds", time.perf_counter() - t0)):
                    rows[k].append(v)
                done += 1
            sc = np.asarray(rows["score"][first_row:])
            point_score += sc[inv]
            if g == 0:
                point_cell = inv.astype(np.int64)
    t_abl = time.perf_counter() - t_cells
    ctx.progress(1.0, "done")
    cells = {k: np.asarray(v) for k, v in rows.items()}
    return RegistrationExplanation(
        params=ex, cell_size=cell, keypoints=kp, other_keypoints=other, cells=cells, point_cell=point_cell,
        point_score=(point_score / ex.offsets).astype(np.float32), point_support=point_support.astype(np.float32),
        point_weight=point_weight.astype(np.float32), corr=corr, ref_inlier=ref_inl, T_ref=T_ref, T_full=T_full,
        consensus_full=C0, stage_times=dict(ctx.stage_times), seconds=time.perf_counter() - t_start,
        seconds_per_cell=t_abl / max(1, n_cells))


def make_job(source, target, params=None, reference=None, explain: ExplainParams | None = None, gt=None,
             name: str | None = None) -> Job:
    ex = explain or ExplainParams()
    return Job(name or f"Explain alignment ({ex.side}, {ex.mode})",
               lambda ctx: explain_registration(source, target, params, reference, ex, gt, ctx),
               meta={"task": "attribution"})
