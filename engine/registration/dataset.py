"""Registration scored over whole benchmarks, as the papers do (issue 12 §2): `eval registration --dataset`.

Two layouts (spec §6–7):

* a **3DMatch / 3DLoMatch scene**: a folder with `gt.log` (and `gt.info`) beside or above fragments
  `cloud_bin_<i>.{ply,npy,pcd}`. Every gt.log block `i j` is one pair, registered with source = fragment j and
  target = fragment i, so the estimate is compared with M directly (M maps j into i). Scored both ways:
  pair-level registration recall (RE < 15°, TE < 30 cm) with mean RE/TE over successful pairs, and the
  official recall — over pairs with j − i > 1, success iff ξᵀΣξ/Σ₀₀ ≤ 0.2² (RMSE ≤ 0.2 m) with Σ from gt.info.
* a **KITTI odometry sequence**: `velodyne/NNNNNN.bin` with a poses file (`poses.txt`, `NN.txt` or `--gt`) and
  optional `calib.txt`; pairs by the FCGF rule (kitti_pairs) ≈ 10 m apart, success RE < 5°, TE < 60 cm.

`score_pair` is the per-item function for engine.datasets.run_items (serial or Ray `--workers`): module level,
JSON-serialisable arguments and result.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import InputError

CLOUD_SUFFIXES = (".ply", ".npy", ".pcd", ".bin")


def kitti_pairs(positions: np.ndarray, min_dist: float = 10.0, window: int = 100) -> list[tuple[int, int]]:
    """FCGF's KITTI pairs: from frame `cur`, the first frame within the next `window` farther than `min_dist`
    from it, minus one (as 3DFeatNet's script), is its partner; the search goes on after that partner. A frame
    with no such frame ahead is skipped."""
    pos = np.asarray(positions, float)
    n = len(pos)
    out = []
    cur = 0
    while cur < n:
        ahead = np.linalg.norm(pos[cur:cur + window] - pos[cur], axis=1) > min_dist
        hit = np.nonzero(ahead)[0]
        if len(hit) == 0:
            cur += 1
            continue
        nxt = cur + int(hit[0]) - 1
        if nxt < n:
            out.append((cur, nxt))
        cur = nxt + 1
    return out


def params_to_json(prm) -> dict:
    return prm.as_dict()


def params_from_json(d: dict):
    from .pipeline import RegistrationParams
    from .scan_filter import ScanFilter
    from .sc2pcr import SC2Params

    d = dict(d)
    sc2 = SC2Params(**d.pop("sc2"))
    scan = dict(d.pop("scan"))
    if scan.get("ego_box") is not None:
        scan["ego_box"] = tuple(scan["ego_box"])
    return RegistrationParams(**d, sc2=sc2, scan=ScanFilter(**scan))


def _load_points(path: str) -> np.ndarray:
    from ..io import load_layers
    from ..scene import PointCloud

    clouds = [lay for lay in load_layers(path) if isinstance(lay, PointCloud)]
    if not clouds:
        raise InputError(path, "contains no point cloud")
    return np.asarray(clouds[0].points, np.float64)


def score_pair(source: str, target: str, gt: list, params: dict, info: list | None = None,
               official: bool = False) -> dict:
    """Register one pair and score it: RE/TE, success at the preset's thresholds, and with `info` the official
    3DMatch error. Never raises for a failed registration (it is a result: success False, `failure` set)."""
    from . import metrics as M
    from .pipeline import register

    prm = params_from_json(params)
    T_gt = np.asarray(gt, float)
    res = register(_load_points(source), _load_points(target), prm, gt=T_gt)
    re, te = M.transform_errors(res.transform, T_gt)
    preset = prm.preset if prm.preset in M.THRESHOLDS else "3dmatch"
    out = {"rotation_error_deg": re, "translation_error_cm": te, "success": M.is_success(re, te, preset),
           "failure": res.failure, "n_correspondences": int(len(res.corr)),
           "inlier_ratio": res.metrics.get("refined", {}).get("inlier_ratio"), "seconds": round(res.seconds, 4),
           "transform": res.transform.tolist()}
    if info is not None:
        err = M.rmse_information(res.transform, T_gt, np.asarray(info, float))
        out["rmse_information"] = err
        out["success_official"] = bool(err <= 0.2 ** 2)
    out["official_pair"] = bool(official)
    return out


def _fragment_files(folder: Path) -> dict[int, Path]:
    out: dict[int, Path] = {}
    for p in sorted(folder.iterdir()):
        m = re.fullmatch(r"cloud_bin_(\d+)", p.stem)
        if m and p.suffix.lower() in CLOUD_SUFFIXES and not p.name.endswith((".npz",)):
            out.setdefault(int(m.group(1)), p)
    return out


def threedmatch_items(folder: Path, gt_log: Path | None = None, gt_info: Path | None = None):
    """(items args, meta) of a 3DMatch scene folder: gt.log beside the fragments or given."""
    from ..io.registration_formats import read_gt_info, read_gt_log

    folder = Path(folder)
    log = Path(gt_log) if gt_log else folder / "gt.log"
    if not log.exists():
        raise InputError(folder, "no gt.log in the dataset folder (give --gt PATH/gt.log)")
    entries = read_gt_log(log)
    info_path = Path(gt_info) if gt_info else log.with_name("gt.info")
    info = read_gt_info(info_path) if info_path.exists() else None
    frags = _fragment_files(folder)
    if not frags:
        raise InputError(folder, "no fragments named cloud_bin_<i>.ply/.npy/.pcd")
    pairs = []
    for (i, j), M in entries.items():
        for k in (i, j):
            if k not in frags:
                raise InputError(folder, f"gt.log pair {i} {j} names fragment {k}, which is not in the folder")
        inf = None
        if info is not None:
            inf = info.get((i, j))
            if inf is None:
                raise InputError(info_path, f"no block for the gt.log pair {i} {j}")
        pairs.append((f"{i}_{j}", (str(frags[j]), str(frags[i]), M.tolist(), None if inf is None else inf.tolist(),
                                   j - i > 1)))
    return pairs, {"layout": "3dmatch", "gt_log": str(log), "gt_info": str(info_path) if info is not None else None}


def kitti_items(folder: Path, poses_path: Path | None = None, calib: Path | None = None,
                min_dist: float = 10.0):
    from ..io.registration_formats import GroundTruthFile

    folder = Path(folder)
    velo = folder / "velodyne"
    if not velo.is_dir():
        raise InputError(folder, "no velodyne/ folder")
    scans = {int(p.stem): p for p in sorted(velo.glob("*.bin")) if p.stem.isdigit()}
    if poses_path is None:
        cands = [folder / "poses.txt", *(folder.parent.parent / "poses").glob(f"{folder.name}.txt")]
        poses_path = next((c for c in cands if c.exists()), None)
        if poses_path is None:
            raise InputError(folder, "no poses file (poses.txt in the folder, or give --gt POSES.txt)")
    cal = calib if calib else (folder / "calib.txt" if (folder / "calib.txt").exists() else None)
    g = GroundTruthFile(poses_path, cal)
    if g.kind != "kitti-poses":
        raise InputError(poses_path, "not a KITTI poses file (one 3×4 pose of 12 numbers per line)")
    n = min(len(g.poses), max(scans) + 1 if scans else 0)
    pairs = []
    for a, b in kitti_pairs(g.poses[:n, :3, 3], min_dist):
        if a in scans and b in scans:
            pairs.append((f"{a}_{b}", (str(scans[a]), str(scans[b]), g.get(a, b).tolist(), None, False)))
    if not pairs:
        raise InputError(folder, f"no scan pairs ≥ {min_dist} m apart in {n} frames")
    return pairs, {"layout": "kitti", "poses": str(poses_path), "frame": g.describe()}


def detect_layout(folder: Path) -> str:
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "dataset must be a folder")
    if (folder / "velodyne").is_dir():
        return "kitti"
    return "3dmatch"


def aggregate(keys: list[str], results: dict, failed: dict, preset: str, official_keys: set | None = None) -> dict:
    """Pair-level recall, mean RE/TE over successes, official recall (3DMatch) — failed items count as
    unsuccessful pairs."""
    from . import metrics as M

    rows = [results[k] for k in keys if k in results]
    n = len(keys)
    ok = [r for r in rows if r["success"]]
    out = {"pairs": n, "scored": len(rows), "errors": len(failed),
           "thresholds": {"rotation_deg": M.THRESHOLDS[preset][0], "translation_cm": M.THRESHOLDS[preset][1]},
           "registration_recall": len(ok) / n if n else 0.0,
           "mean_rotation_error_deg": float(np.mean([r["rotation_error_deg"] for r in ok])) if ok else math.nan,
           "mean_translation_error_cm": float(np.mean([r["translation_error_cm"] for r in ok])) if ok else math.nan,
           "reported_failures": sum(1 for r in rows if r.get("failure")),
           "mean_seconds": float(np.mean([r["seconds"] for r in rows])) if rows else math.nan}
    official = [k for k in keys if k in (official_keys or set())]
    if official and any("success_official" in results.get(k, {}) for k in official):
        out["official_recall"] = sum(bool(results.get(k, {}).get("success_official")) for k in official) / len(official)
        out["official_pairs"] = len(official)
    return out
