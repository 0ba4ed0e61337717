"""The registration pipeline as one engine Job with named stages, so the GUI and the CLI run the same code,
the jobs panel shows per-stage timings, and every intermediate (keypoints, descriptors' matches, seeds,
consensus scores, coarse and refined poses, ICP curve, residuals) is kept for inspection.

Stages (spec §1): voxel downsampling + normals → FPFH → feature matching → SC²-PCR (and optionally the
RANSAC baseline on the same correspondences) → ICP → metrics when a ground truth is given. Randomness
(the N cap, RANSAC sampling) comes from seeded CPU generators, so CPU and CUDA runs draw the same samples.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext
from . import metrics as M

# Presets (spec §2 / §3.1, issue 12). Lengths are in metres; `sc2` holds SC2Params fields, `scan` ScanFilter fields.
# max_points: the released configs allow 8000 in the N×N stage (GPU); on CPU the spec recommends N ≤ 2000 (§3.3: SC²
# is O(0.2·N³)), and keeping the 2000 best by descriptor ratio loses few inliers — hypotheses are still scored and
# refined on all N correspondences.
# * 3dmatch — indoor RGB-D fragments (3DMatch/3DLoMatch, Redwood): already fused in a world-like frame, no ego
#   vehicle, floors are real structure: no scan filtering, no degeneracy check (small true motions are common).
# * kitti — 64-beam Velodyne sweeps in the sensor frame, pairs ≥ 10 m apart: 0.3 m voxels, the released KITTI
#   thresholds (τ = 0.6 m), ego returns (< 2.5 m) and the ground removed before descriptors (the ground's scan
#   rings and the car's own returns are fixed to the sensor and pull the estimate to "no motion"), the ground
#   kept for ICP (point-to-plane: the ground and walls are planes); SC²'s 64 best hypotheses re-ranked by how
#   much of the scene they land (a street seen from 15 m further on also matches itself flipped by 180°);
#   a near-identity result with little consensus is reported as degenerate; the N cap keeps the correspondences
#   whose source descriptors are most salient (walls and ground remnants give look-alike FPFH whose matches are
#   arbitrary and which the descriptor ratio does not single out — descriptor_salience).
# * nuscenes — 32-beam sweeps: half KITTI's vertical density, so larger normal/FPFH radii (0.9 / 2.0 m) reach
#   across beams; a quarter of a sweep is the ego vehicle's roof and mount within ~1 m, removed by min range.
#   0.4 m voxels and 1000 correspondences in SC²'s N×N stage (issue 12 session 4, 20 synthetic street pairs
#   5–15 m apart: 17/20 → 20/20 and ~1.5–2× faster than 0.3 m / 2000). The radii are kept, not rescaled; with
#   0.3 m voxels 26 % of the keypoints have more than max_nn = 100 neighbours within the 2 m FPFH radius (their
#   neighbourhood is cut short, likely why their descriptors were less distinctive), 1 % with 0.4 m.
PRESETS: dict[str, dict[str, Any]] = {
    "3dmatch": dict(voxel=0.05, normal_radius=0.10, normal_max_nn=30, fpfh_radius=0.25, fpfh_max_nn=100,
                    icp_max_dist=0.10, degenerate_translation=0.0,
                    sc2=dict(d_thre=0.10, inlier_threshold=0.10, nms_radius=0.10, ratio=0.2, k1=30, k2=20,
                             num_iterations=10, max_points=2000),
                    scan=dict()),
    "kitti": dict(voxel=0.30, normal_radius=0.60, normal_max_nn=30, fpfh_radius=1.50, fpfh_max_nn=100,
                  icp_max_dist=0.60, icp_method="point_to_plane", degenerate_translation=0.5,
                  sc2=dict(d_thre=0.60, inlier_threshold=0.60, nms_radius=0.60, ratio=0.2, k1=30, k2=20,
                           num_iterations=20, max_points=2000, verify_top=64, cap="salient"),
                  scan=dict(min_range=2.5, ground="remove", ground_icp=True)),
    "nuscenes": dict(voxel=0.40, normal_radius=0.90, normal_max_nn=30, fpfh_radius=2.00, fpfh_max_nn=100,
                     icp_max_dist=0.60, icp_method="point_to_plane", degenerate_translation=0.5,
                     sc2=dict(d_thre=0.60, inlier_threshold=0.60, nms_radius=0.60, ratio=0.2, k1=30, k2=20,
                              num_iterations=20, max_points=1000, verify_top=64, cap="salient"),
                     scan=dict(min_range=2.5, ground="remove", ground_icp=True)),
}
PRESET_HELP = {
    "3dmatch": "indoor RGB-D fragments: 5 cm voxels, τ 10 cm, no scan filtering",
    "kitti": "64-beam LiDAR sweeps in the sensor frame: 30 cm voxels, τ 60 cm, ego (< 2.5 m) and ground removed "
             "before descriptors, ground kept for ICP, degenerate near-identity results reported",
    "nuscenes": "32-beam LiDAR sweeps: as kitti with 40 cm voxels, larger normal/FPFH radii (0.9/2.0 m) for the "
                "sparser beams and 1000 correspondences in SC²",
}

# lengths that follow the voxel size when only --voxel is given (top level and SC2Params)
_SCALED = ("normal_radius", "fpfh_radius", "icp_max_dist", "degenerate_translation")
_SC2_SCALED = ("d_thre", "inlier_threshold", "nms_radius")


def _sc2_fields() -> set[str]:
    from .sc2pcr import SC2Params

    return {f.name for f in fields(SC2Params)} - {"seed"}


def _scan_fields() -> set[str]:
    from .scan_filter import ScanFilter

    return {f.name for f in fields(ScanFilter)}


def _default_sc2():
    from .sc2pcr import SC2Params

    return SC2Params()


def _default_scan():
    from .scan_filter import ScanFilter

    return ScanFilter()


@dataclass
class RegistrationParams:
    preset: str = "3dmatch"
    voxel: float = 0.05
    normal_radius: float = 0.10
    normal_max_nn: int = 30
    fpfh_radius: float = 0.25
    fpfh_max_nn: int = 100
    mutual: bool = False
    sc2: Any = field(default_factory=_default_sc2)  # SC2Params: thresholds, seeds, consensus sizes, N cap
    scan: Any = field(default_factory=_default_scan)  # ScanFilter: ego/range/ground removal for sensor-frame scans
    estimator: str = "sc2"  # "sc2" or "ransac": which one gives the coarse pose
    run_baseline: bool = False  # also run the other estimator on the same correspondences
    ransac_iterations: int = 1000
    ransac_n: int = 4
    icp: bool = True
    icp_method: str = "point_to_point"
    icp_max_dist: float = 0.10
    icp_iterations: int = 30
    # Open3D's ICPConvergenceCriteria: stop when fitness and inlier RMSE change by less than these (relative)
    icp_relative_fitness: float = 1e-6
    icp_relative_rmse: float = 1e-6
    min_inliers: int = 10  # fewer predicted inliers than this: the result is a failure
    # a result moving less than this (m) with an inlier ratio below degenerate_ratio is "degenerate" (0: off)
    degenerate_translation: float = 0.0
    degenerate_ratio: float = 0.05
    seed: int = 0  # every random draw (SC² cap, RANSAC samples); overrides sc2.seed
    device: str = "cpu"

    @property
    def inlier_threshold(self) -> float:
        return self.sc2.inlier_threshold

    @classmethod
    def for_preset(cls, preset: str = "3dmatch", **overrides) -> "RegistrationParams":
        """The preset's parameters with `overrides` (flat names: top-level fields, SC2Params fields such as
        d_thre/max_points, or ScanFilter fields such as min_range/ground). A `voxel` different from the
        preset's rescales every length not given explicitly (radii, SC² thresholds, ICP distance, the
        degeneracy translation), so `--voxel 0.3` on the 3dmatch preset does not leave the normal radius
        smaller than a voxel. Ranges and the ego box are physical sizes and are never rescaled."""
        if preset not in PRESETS:
            raise InputError(None, f"unknown registration preset {preset!r} (use {', '.join(PRESETS)})")
        base = PRESETS[preset]
        top = {k: v for k, v in base.items() if k not in ("sc2", "scan")}
        sc2 = dict(base["sc2"])
        voxel = overrides.get("voxel")
        if voxel is not None and float(voxel) != float(top["voxel"]):
            f = float(voxel) / float(top["voxel"])
            for k in _SCALED:
                if k not in overrides:
                    top[k] = top[k] * f
            for k in _SC2_SCALED:
                if k not in overrides:
                    sc2[k] = sc2[k] * f
        out = cls(preset=preset, **top)
        return out._routed(sc2=sc2, scan=dict(base["scan"]), **overrides)

    def _routed(self, sc2: dict | None = None, scan: dict | None = None, **kw) -> "RegistrationParams":
        sc2_f, scan_f = _sc2_fields(), _scan_fields()
        top_f = {f.name for f in fields(self)} - {"sc2", "scan"}
        sc2 = dict(sc2 or {})
        scan = dict(scan or {})
        top = {}
        for k, v in kw.items():
            if k == "sc2" and not isinstance(v, dict):
                top[k] = v
            elif k == "scan" and not isinstance(v, dict):
                top[k] = v
            elif k in top_f:
                top[k] = v
            elif k in sc2_f:
                sc2[k] = v
            elif k in scan_f:
                scan[k] = v
            else:
                raise InputError(None, f"unknown registration parameter {k!r}")
        new = replace(self, **top)
        if sc2:
            new = replace(new, sc2=replace(new.sc2, **sc2))
        if scan:
            new = replace(new, scan=replace(new.scan, **scan))
        return new

    def with_(self, **kw) -> "RegistrationParams":
        """A copy with some parameters changed (flat names as in for_preset; no rescaling)."""
        return self._routed(**kw)

    def as_dict(self) -> dict:
        return asdict(self)

    def sc2_params(self):
        """The SC2Params the estimator runs with (the pipeline seed applied)."""
        return replace(self.sc2, seed=self.seed)


@dataclass
class RegistrationResult:
    params: RegistrationParams
    src_down: np.ndarray  # keypoints (Ns×3)
    tgt_down: np.ndarray  # (Nt×3)
    src_normals: np.ndarray
    tgt_normals: np.ndarray
    corr: np.ndarray  # (N×2) indices into src_down / tgt_down
    feat_dist: np.ndarray  # (N,) descriptor distance of each correspondence
    T_init: np.ndarray
    T_coarse: np.ndarray
    T_refined: np.ndarray
    inlier: np.ndarray  # (N,) predicted inliers under T_coarse (what the estimator returns)
    residual: np.ndarray  # (N,) correspondence residual under T_refined
    confidence: np.ndarray  # (N,) SC² global confidence (NaN where unused / RANSAC)
    seed_compat: np.ndarray  # (N,) S1 compatibility with the winning seed (NaN without SC²)
    seeds: np.ndarray  # (S,) correspondence indices
    seed_fitness: np.ndarray  # (S,) consensus (inlier count) of each seed's hypothesis
    best_seed: int
    top_seeds: np.ndarray  # (K,) positions in `seeds` of the best hypotheses
    top_seed_compat: np.ndarray  # (K, N) first-order compatibility of every correspondence with those seeds
    icp_history: list[dict]
    cloud_residual: dict[str, np.ndarray]  # per stage: distance of each src keypoint to the nearest tgt keypoint
    stage_times: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    gt: np.ndarray | None = None
    gt_inlier: np.ndarray | None = None
    metrics: dict[str, dict] = field(default_factory=dict)  # "coarse", "refined", "baseline" → PairMetrics dict
    baseline: dict | None = None  # the other estimator: transform, inlier, seconds, iterations
    failure: str | None = None  # why the result is not trustworthy (too few inliers, degenerate), None if fine
    scan_stats: dict = field(default_factory=dict)  # per cloud: points removed as ego/range and as ground

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def transform(self) -> np.ndarray:
        return self.T_refined

    @property
    def P(self) -> np.ndarray:
        return self.src_down[self.corr[:, 0]]

    @property
    def Q(self) -> np.ndarray:
        return self.tgt_down[self.corr[:, 1]]

    def stage_transform(self, stage: str) -> np.ndarray:
        return {"initial": self.T_init, "coarse": self.T_coarse, "refined": self.T_refined}[stage]

    def summary(self) -> dict:
        """What `run registration --json` prints and the JSON export contains."""
        m = self.metrics.get("refined", {})
        return {"transform": self.T_refined.tolist(), "coarse_transform": self.T_coarse.tolist(),
                "rotation_error_deg": m.get("rotation_error_deg"),
                "translation_error_cm": m.get("translation_error_cm"), "success": m.get("success"),
                "inlier_ratio": m.get("inlier_ratio"), "inlier_precision": m.get("inlier_precision"),
                "inlier_recall": m.get("inlier_recall"), "inlier_f1": m.get("inlier_f1"),
                "n_correspondences": int(len(self.corr)), "n_predicted_inliers": int(self.inlier.sum()),
                "seconds": round(self.seconds, 4),
                "stage_seconds": {k: round(v, 4) for k, v in self.stage_times.items()},
                "preset": self.params.preset, "estimator": self.params.estimator, "device": self.params.device,
                "ok": self.failure is None, "failure": self.failure, "scan_filter": self.scan_stats,
                "metrics": self.metrics, "baseline": None if self.baseline is None else
                {k: v for k, v in self.baseline.items() if k in ("estimator", "transform", "seconds", "iterations")}}


def _as_points(x, name: str) -> np.ndarray:
    pts = getattr(x, "points", x)
    pts = np.asarray(pts, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise InputError(getattr(x, "source", None) or name, f"expected a non-empty N×3 point cloud, got {pts.shape}")
    if not np.isfinite(pts).all():
        raise InputError(getattr(x, "source", None) or name, "point cloud contains NaN or infinite coordinates")
    return pts


def _keypoints(points: np.ndarray, prm: RegistrationParams):
    """Voxel centroids and normals only (the ground for ICP): (keypoints, normals, None)."""
    import torch

    from ..geometry import as_tensor, estimate_normals, voxel_downsample

    cent, _, _ = voxel_downsample(as_tensor(points, prm.device, dtype=torch.float64), prm.voxel)
    cent = cent.to(torch.float32)
    return cent, estimate_normals(cent, k=prm.normal_max_nn, radius=prm.normal_radius), None


def diagnose(T: np.ndarray, inlier: np.ndarray, prm: RegistrationParams) -> str | None:
    """Why a result should not be trusted, or None. `T`: the estimate in the frames the estimator saw (the
    source after `init`), `inlier`: the estimator's predicted inliers over all correspondences.

    * fewer than `min_inliers` predicted inliers: no consensus at all (e.g. a 5-point cloud);
    * degenerate: translation under `degenerate_translation` (sensor-frame presets) while under
      `degenerate_ratio` of the correspondences agree — the signature of sensor-fixed structure (ego
      returns, ground rings) matching itself at zero motion; a truly stationary pair of sweeps agrees on
      most of its correspondences."""
    n_in, n = int(inlier.sum()), len(inlier)
    if n_in < prm.min_inliers:
        return f"too few inliers: {n_in} of {n} correspondences agree (need at least {prm.min_inliers})"
    ratio = n_in / max(n, 1)
    t = float(np.linalg.norm(np.asarray(T)[:3, 3]))
    if prm.degenerate_translation > 0 and t < prm.degenerate_translation and ratio < prm.degenerate_ratio:
        return (f"degenerate: near-identity translation ({t:.2f} m < {prm.degenerate_translation:g} m) with only "
                f"{ratio:.1%} of correspondences agreeing (< {prm.degenerate_ratio:.0%}); sensor-fixed structure "
                f"(ego returns, ground rings) may dominate — check the ego/ground filter")
    return None


def descriptor_salience(F):
    """How unusual each keypoint's local geometry is: distance of its unit-normalised descriptor to the
    cloud's median descriptor. On a street most keypoints lie on walls and ground remnants whose FPFH are
    near-identical; their matches are arbitrary among hundreds of look-alikes, and the Lowe ratio does not
    single them out (issue 12 session 4: on 11 synthetic street pairs the 2000 best-ratio correspondences
    kept 22 % of the true ones, a random 2000 40 %, the 2000 most salient 67 %)."""
    import torch

    from .matching import l2_normalise

    U = l2_normalise(F.to(torch.float32))
    med = U.median(0).values
    return (U - med / med.norm().clamp_min(1e-12)).norm(dim=1)


def preprocess(points: np.ndarray, prm: RegistrationParams, progress=None):
    """Stage 1+2 for one cloud: keypoints (voxel centroids), normals (hybrid 2v/30, facing the sensor origin)
    and 33-d FPFH. Returns torch tensors on prm.device."""
    import torch

    from ..geometry import as_tensor, estimate_normals, knn, voxel_downsample
    from .fpfh import TIE_EXTRA, compute_fpfh

    pts = as_tensor(points, prm.device, dtype=torch.float64)
    cent, _, _ = voxel_downsample(pts, prm.voxel)
    cent = cent.to(torch.float32)
    # one sorted self-kNN serves both hybrid searches (normals: its first 30 columns, FPFH: 100)
    nbrs = None
    if prm.normal_max_nn <= prm.fpfh_max_nn and prm.normal_radius <= prm.fpfh_radius:
        c64 = cent.to(torch.float64)
        nbrs = knn(c64, c64, prm.fpfh_max_nn + TIE_EXTRA, radius=prm.fpfh_radius)
    nrm = estimate_normals(cent, k=prm.normal_max_nn, radius=prm.normal_radius, neighbours=nbrs)
    if progress:
        progress(0.3, "normals")
    feat = compute_fpfh(cent, nrm, prm.fpfh_radius, prm.fpfh_max_nn, neighbours=nbrs,
                        progress=(lambda f, m="": progress(0.3 + 0.7 * f, m)) if progress else None)
    return cent, nrm, feat


def _cloud_residuals(src: np.ndarray, tgt_nn, T: np.ndarray) -> np.ndarray:
    import torch

    moved = torch.as_tensor(src @ T[:3, :3].T + T[:3, 3])
    d, _ = tgt_nn.query(moved.to(tgt_nn.target.device))
    return d.cpu().numpy().astype(np.float32)


def register(source, target, params: RegistrationParams | None = None, gt: np.ndarray | None = None,
             init: np.ndarray | None = None, ctx: JobContext | None = None) -> RegistrationResult:
    """Run the whole pipeline. `source`/`target`: PointCloud layers or N×3 arrays; `gt`: 4×4 source→target;
    `init`: an initial pose applied to the source before everything (identity by default)."""
    import torch

    from .icp import NearestNeighbour, icp
    from .matching import match_features
    from .ransac import RansacParams, ransac
    from .sc2pcr import sc2_pcr

    prm = params or RegistrationParams.for_preset("3dmatch")
    ctx = ctx or JobContext()
    t_start = time.perf_counter()
    src = _as_points(source, "source")
    tgt = _as_points(target, "target")
    T_init = np.eye(4) if init is None else np.asarray(init, float)
    src_init = src @ T_init[:3, :3].T + T_init[:3, 3]
    dev = prm.device

    scan_stats: dict[str, dict] = {}
    ground = {}
    src_feat_pts, tgt_feat_pts = src_init, tgt
    if prm.scan.active:
        from .scan_filter import filter_scan

        prm.scan.check()
        with ctx.stage("scan filter (ego, range, ground)"):
            # the filter works in each scan's own sensor frame: the source before `init` moves it
            fsrc = filter_scan(src, prm.scan)
            ftgt = filter_scan(tgt, prm.scan)
            for name, f in (("source", fsrc), ("target", ftgt)):
                scan_stats[name] = f.stats()
                if len(f.points) < 3:
                    raise InputError(getattr(source if name == "source" else target, "source", None) or name,
                                     f"only {len(f.points)} points left after removing the ego vehicle, range "
                                     f"limits and ground ({f.stats()})")
            src_feat_pts = fsrc.points @ T_init[:3, :3].T + T_init[:3, 3]
            tgt_feat_pts = ftgt.points
            if prm.scan.ground == "remove" and prm.scan.ground_icp:
                ground = {"source": fsrc.ground @ T_init[:3, :3].T + T_init[:3, 3], "target": ftgt.ground}

    with ctx.stage("downsample + normals + FPFH"):
        ctx.progress(0.0, "source keypoints and descriptors")
        ks, ns, fs = preprocess(src_feat_pts, prm, ctx.sub(0.0, 0.2))
        ctx.progress(0.2, "target keypoints and descriptors")
        kt, nt, ft = preprocess(tgt_feat_pts, prm, ctx.sub(0.2, 0.4))
    if len(ks) < 3 or len(kt) < 3:
        raise InputError(getattr(source, "source", None) or "source",
                         f"too few keypoints after {prm.voxel} m downsampling ({len(ks)} / {len(kt)})")

    with ctx.stage("matching"):
        ctx.progress(0.4, f"matching {len(fs):,} × {len(ft):,} descriptors")
        m = match_features(fs, ft, mutual=prm.mutual)
        if len(m.src_idx) < 3:
            raise InputError(None, f"only {len(m.src_idx)} correspondences survived matching; try without --mutual")
        P, Q = ks[m.src_idx], kt[m.tgt_idx]
    ctx.progress(0.45, f"{len(P):,} correspondences")

    sc2p = prm.sc2_params()
    rp = RansacParams(inlier_threshold=prm.inlier_threshold, ransac_n=prm.ransac_n,
                      max_iterations=prm.ransac_iterations, seed=prm.seed)
    baseline = None
    sc2_res = rs = None

    verify = None
    if sc2p.verify_top > 0:
        verify_nn = NearestNeighbour(kt.to(torch.float64))
        g = torch.Generator().manual_seed(prm.seed)
        sub = ks[torch.randperm(len(ks), generator=g)[:1000].to(ks.device)].double().cpu().numpy()

        def verify(H: np.ndarray) -> np.ndarray:
            """Share of (up to 1000 seeded) source keypoints within τ of a target keypoint under each pose:
            the true pose lands the whole scene, a wrong one (a 180° street flip, "no motion") only a part."""
            moved = np.einsum("kij,nj->kni", H[:, :3, :3], sub) + H[:, None, :3, 3]
            d, _ = verify_nn.query(torch.as_tensor(moved.reshape(-1, 3)))
            return (d.numpy().reshape(len(H), -1) < sc2p.inlier_threshold).mean(1)

    priority = m.ratio if sc2p.cap != "salient" else -descriptor_salience(fs)[m.src_idx]

    def run_sc2():
        return sc2_pcr(P, Q, sc2p, ctx.sub(0.45, 0.8), priority=priority, verify=verify)

    def run_ransac():
        return ransac(P, Q, rp, ctx.sub(0.8, 0.85))

    est = prm.estimator
    if est not in ("sc2", "ransac"):
        raise InputError(None, f"unknown estimator {est!r} (sc2 or ransac)")
    with ctx.stage("SC²-PCR" if est == "sc2" else "RANSAC"):
        if est == "sc2":
            sc2_res = run_sc2()
            T_est, inl = sc2_res.transform, sc2_res.inlier
        else:
            rs = run_ransac()
            T_est, inl = rs.transform, rs.inlier
    if prm.run_baseline:
        other = "ransac" if est == "sc2" else "sc2"
        t0 = time.perf_counter()
        with ctx.stage("RANSAC (baseline)" if other == "ransac" else "SC²-PCR (baseline)"):
            if other == "ransac":
                rs = run_ransac()
                baseline = {"estimator": "ransac", "transform": rs.transform, "inlier": rs.inlier,
                            "iterations": rs.iterations}
            else:
                sc2_res = run_sc2()
                baseline = {"estimator": "sc2", "transform": sc2_res.transform, "inlier": sc2_res.inlier,
                            "iterations": len(sc2_res.seeds)}
        baseline["seconds"] = time.perf_counter() - t0
    T_coarse = T_est @ T_init
    ctx.emit({"stage": "coarse", "transform": T_coarse})

    with ctx.stage("ICP"):
        ctx.progress(0.85, "ICP")
        nn = NearestNeighbour(kt.to(torch.float64))
        if prm.icp:
            i_src, i_tgt, i_nt, i_nn = ks, kt, nt, nn
            if ground and len(ground["source"]) >= 3 and len(ground["target"]) >= 3:
                # the ground pins height, roll and pitch; voxel-downsampled like the keypoints
                gs, gns, _ = _keypoints(ground["source"], prm)
                gt_, gnt, _ = _keypoints(ground["target"], prm)
                i_src = torch.cat([ks, gs.to(ks.dtype)])
                i_tgt = torch.cat([kt, gt_.to(kt.dtype)])
                i_nt = torch.cat([nt, gnt.to(nt.dtype)])
                i_nn = NearestNeighbour(i_tgt.to(torch.float64))
            ir = icp(i_src, i_tgt, T_est, max_dist=prm.icp_max_dist, iterations=prm.icp_iterations,
                     relative_fitness=prm.icp_relative_fitness, relative_rmse=prm.icp_relative_rmse,
                     method=prm.icp_method, target_normals=i_nt, progress=ctx.sub(0.85, 0.97), nn=i_nn)
            T_ref_local, hist = ir.transform, ir.history
        else:
            T_ref_local, hist = T_est, []
    T_refined = T_ref_local @ T_init

    with ctx.stage("residuals + metrics"):
        ks_np = ks.double().cpu().numpy()
        ks_raw = (ks_np - T_init[:3, 3]) @ T_init[:3, :3]  # keypoints back in the raw source frame
        cloud_res = {name: _cloud_residuals(ks_raw, nn, T) for name, T in
                     (("initial", T_init), ("coarse", T_coarse), ("refined", T_refined))}
        P_np, Q_np = P.double().cpu().numpy(), Q.double().cpu().numpy()
        P_raw = (P_np - T_init[:3, 3]) @ T_init[:3, :3]
        res = M.residuals(P_raw, Q_np, T_refined).astype(np.float32)
        met: dict[str, dict] = {}
        gt_inl = None
        if gt is not None:
            gt = np.asarray(gt, float)
            preset = prm.preset if prm.preset in M.THRESHOLDS else "3dmatch"
            tau = prm.inlier_threshold
            gt_inl = M.gt_inliers(P_raw, Q_np, gt, tau)
            met["coarse"] = M.pair_metrics(T_coarse, gt, preset, P_raw, Q_np, inl, tau).as_dict()
            met["refined"] = M.pair_metrics(T_refined, gt, preset, P_raw, Q_np, None, tau).as_dict()
            if baseline is not None:
                baseline["transform"] = baseline["transform"] @ T_init
                met["baseline"] = M.pair_metrics(baseline["transform"], gt, preset, P_raw, Q_np,
                                                 baseline["inlier"], tau).as_dict()
        elif baseline is not None:
            baseline["transform"] = baseline["transform"] @ T_init
    ctx.progress(1.0, "done")

    n = len(P)
    failure = diagnose(T_refined @ np.linalg.inv(T_init), np.asarray(inl, bool), prm)
    if failure is not None:
        ctx.emit({"stage": "failure", "reason": failure})
    nan = np.full(n, np.nan, np.float32)
    corr = np.stack([m.src_idx.cpu().numpy(), m.tgt_idx.cpu().numpy()], 1).astype(np.int64)
    return RegistrationResult(
        params=prm, src_down=ks_raw, tgt_down=kt.double().cpu().numpy(),
        src_normals=(ns.double().cpu().numpy() @ T_init[:3, :3]).astype(np.float32),
        tgt_normals=nt.cpu().numpy().astype(np.float32), corr=corr,
        feat_dist=m.feat_dist.cpu().numpy().astype(np.float32), T_init=T_init, T_coarse=T_coarse,
        T_refined=T_refined, inlier=np.asarray(inl, bool), residual=res,
        confidence=sc2_res.confidence if sc2_res is not None else nan,
        seed_compat=sc2_res.seed_compat if sc2_res is not None else nan,
        seeds=sc2_res.seeds if sc2_res is not None else np.zeros(0, np.int64),
        seed_fitness=sc2_res.seed_fitness if sc2_res is not None else np.zeros(0, np.float32),
        best_seed=sc2_res.best_seed if sc2_res is not None else -1,
        top_seeds=sc2_res.top_seeds if sc2_res is not None else np.zeros(0, np.int64),
        top_seed_compat=sc2_res.top_seed_compat if sc2_res is not None else np.zeros((0, n), np.float32),
        icp_history=hist, cloud_residual=cloud_res, stage_times=dict(ctx.stage_times),
        seconds=time.perf_counter() - t_start, gt=gt, gt_inlier=gt_inl, metrics=met, baseline=baseline,
        failure=failure, scan_stats=scan_stats)


def make_job(source, target, params: RegistrationParams | None = None, gt=None, init=None,
             name: str | None = None) -> Job:
    prm = params or RegistrationParams.for_preset("3dmatch")
    return Job(name or f"Registration ({prm.estimator}, {prm.preset})",
               lambda ctx: register(source, target, prm, gt, init, ctx), meta={"task": "registration"})


@dataclass
class RefineResult:
    T_init: np.ndarray
    T_refined: np.ndarray
    icp_history: list[dict]
    cloud_residual: np.ndarray
    metrics: dict | None = None


def refine(src_keypoints: np.ndarray, tgt_keypoints: np.ndarray, init: np.ndarray,
           params: RegistrationParams | None = None, tgt_normals: np.ndarray | None = None,
           gt: np.ndarray | None = None, ctx: JobContext | None = None) -> RefineResult:
    """ICP from a given pose (e.g. the user's manual alignment), on the keypoints of a previous run."""
    import torch

    from .icp import NearestNeighbour, icp

    prm = params or RegistrationParams.for_preset("3dmatch")
    ctx = ctx or JobContext()
    ks = torch.as_tensor(np.asarray(src_keypoints, float), device=prm.device)
    kt = torch.as_tensor(np.asarray(tgt_keypoints, float), device=prm.device)
    nt = None if tgt_normals is None else torch.as_tensor(np.asarray(tgt_normals, float), device=prm.device)
    with ctx.stage("ICP"):
        nn = NearestNeighbour(kt)
        method = prm.icp_method if nt is not None else "point_to_point"
        ir = icp(ks, kt, init, max_dist=prm.icp_max_dist, iterations=prm.icp_iterations, method=method,
                 relative_fitness=prm.icp_relative_fitness, relative_rmse=prm.icp_relative_rmse,
                 target_normals=nt, progress=ctx.sub(0.0, 0.95), nn=nn)
        res = _cloud_residuals(np.asarray(src_keypoints, float), nn, ir.transform)
    met = None
    if gt is not None:
        preset = prm.preset if prm.preset in M.THRESHOLDS else "3dmatch"
        met = M.pair_metrics(ir.transform, gt, preset).as_dict()
    ctx.progress(1.0, "done")
    return RefineResult(np.asarray(init, float), ir.transform, ir.history, res, met)


def interpolate(T0: np.ndarray, T1: np.ndarray, t: float) -> np.ndarray:
    """Rigid pose a fraction t of the way from T0 to T1 (slerp of rotation, lerp of translation), for
    animating between alignment stages."""
    from scipy.spatial.transform import Rotation, Slerp

    R = Rotation.from_matrix(np.stack([np.asarray(T0, float)[:3, :3], np.asarray(T1, float)[:3, :3]]))
    out = np.eye(4)
    out[:3, :3] = Slerp([0.0, 1.0], R)([float(np.clip(t, 0, 1))]).as_matrix()[0]
    out[:3, 3] = (1 - t) * np.asarray(T0, float)[:3, 3] + t * np.asarray(T1, float)[:3, 3]
    return out


def evaluate_pose(src_keypoints: np.ndarray, tgt_keypoints: np.ndarray, T: np.ndarray,
                  gt: np.ndarray | None = None, preset: str = "3dmatch", ctx: JobContext | None = None) -> dict:
    """Residual of every source keypoint under T (distance to the nearest target keypoint) plus metrics —
    what the workbench needs after a manual edit of the pose."""
    import torch

    from .icp import NearestNeighbour

    ctx = ctx or JobContext()
    nn = NearestNeighbour(torch.as_tensor(np.asarray(tgt_keypoints, float)))
    res = _cloud_residuals(np.asarray(src_keypoints, float), nn, np.asarray(T, float))
    out = {"transform": np.asarray(T, float), "cloud_residual": res}
    if gt is not None:
        out["metrics"] = M.pair_metrics(T, gt, preset if preset in M.THRESHOLDS else "3dmatch").as_dict()
    ctx.progress(1.0, "evaluated")
    return out
