"""Registration scored over whole benchmarks, as the papers do (issue 12 §2): `eval registration --dataset`.

Layouts (spec §6–7), detected from what the path holds (`detect_layout`):

* a **3DMatch / 3DLoMatch scene**: a folder with `gt.log` (and `gt.info`) beside or above fragments
  `cloud_bin_<i>.{ply,npy,pcd,pth}`. Every gt.log block `i j` is one pair, registered with source = fragment j
  and target = fragment i, so the estimate is compared with M directly (M maps j into i). Scored both ways:
  pair-level registration recall (RE < 15°, TE < 30 cm) with mean RE/TE over successful pairs, and the
  official recall — over pairs with j − i > 1, success iff ξᵀΣξ/Σ₀₀ ≤ 0.2² (RMSE ≤ 0.2 m) with Σ from gt.info.
  3DLoMatch scenes are the same files (their gt.log holds only the 10–30 %-overlap pairs).
* a **3DMatch / 3DLoMatch pair list**: the `.pkl` of Predator (`3DLoMatch.pkl`: parallel src/tgt/rot/trans/overlap
  lists) or GeoTransformer (`metadata/3DLoMatch.pkl`: records with pcd0/pcd1/rotation/translation/overlap), read
  with the restricted unpickler; fragment paths relative to `--data-root` (default: the pkl's folder), `.pth`
  fragments through torch's weights-only loader. Pair recall at 15°/30 cm and the RMSE recall GeoTransformer
  reports (mean displacement of the source points under T_gt⁻¹·T_est < 0.2 m); per-pair overlap in the table.
* a **KITTI odometry sequence**: `velodyne/NNNNNN.bin` with a poses file (`poses.txt`, `NN.txt` or `--gt`) and
  optional `calib.txt`; pairs by the FCGF rule (kitti_pairs) ≈ 10 m apart, success RE < 5°, TE < 60 cm.
* a **nuScenes-style sequence**: a devkit folder (`v1.0-*/sample_data.json`, `ego_pose.json`,
  `calibrated_sensor.json`, sweeps `samples/LIDAR_TOP/*.pcd.bin` in the sensor frame) or an mmdetection3d
  info `.pkl` (restricted unpickler). Each sweep's pose is ego→global · lidar→ego; within each scene the
  partner of a keyframe is the first keyframe at least `--min-dist` (10 m) ahead (keyframes are 2 Hz, so the
  FCGF "one before" rule would often pair sweeps only 5 m apart); success RE < 5°, TE < 60 cm.

Success thresholds follow the layout's protocol (indoor 15°/30 cm, outdoor 5°/60 cm), not the pipeline preset;
without `--preset` the layout's preset runs (nuscenes, kitti, 3dmatch). `score_pair` is the per-item function
for engine.datasets.run_items (serial or Ray `--workers`): module level, JSON-serialisable arguments and result.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from ..errors import InputError

CLOUD_SUFFIXES = (".ply", ".npy", ".pcd", ".bin", ".pth")
# success thresholds (keys of metrics.THRESHOLDS) of each layout's protocol
PROTOCOL = {"3dmatch": "3dmatch", "pairlist": "3dlomatch", "kitti": "kitti", "nuscenes": "nuscenes"}
# the preset a layout runs with when --preset is not given
DEFAULT_PRESET = {"3dmatch": "3dmatch", "pairlist": "3dmatch", "kitti": "kitti", "nuscenes": "nuscenes"}


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


def first_beyond_pairs(positions: np.ndarray, min_dist: float = 10.0, window: int = 100) -> list[tuple[int, int]]:
    """Pairs at least `min_dist` apart: from frame `cur`, the first frame within the next `window` at least
    `min_dist` from it is its partner, and the search goes on after that partner."""
    pos = np.asarray(positions, float)
    out, cur, n = [], 0, len(pos)
    while cur < n:
        hit = np.nonzero(np.linalg.norm(pos[cur:cur + window] - pos[cur], axis=1) >= min_dist)[0]
        if len(hit) == 0:
            cur += 1
            continue
        out.append((cur, cur + int(hit[0])))
        cur = cur + int(hit[0]) + 1
    return out


def _load_points(path: str, columns: int | None = None) -> np.ndarray:
    from ..io import load_layers
    from ..scene import PointCloud

    p = Path(path)
    if p.suffix.lower() == ".pth":
        from ..io.registration_formats import read_pth_points

        return read_pth_points(p)
    if p.suffix.lower() == ".bin" and columns:
        from ..io.pointcloud import load_bin

        return np.asarray(load_bin(p, columns=columns)[0].points, np.float64)
    clouds = [lay for lay in load_layers(path) if isinstance(lay, PointCloud)]
    if not clouds:
        raise InputError(path, "contains no point cloud")
    return np.asarray(clouds[0].points, np.float64)


def displacement_rmse(points: np.ndarray, T_est: np.ndarray, T_gt: np.ndarray) -> float:
    """GeoTransformer's registration "RMSE": mean distance the source points move under T_gt⁻¹·T_est."""
    D = np.linalg.inv(np.asarray(T_gt, float)) @ np.asarray(T_est, float)
    return float(np.linalg.norm(points @ D[:3, :3].T + D[:3, 3] - points, axis=1).mean())


def score_pair(source: str, target: str, gt: list, params: dict, info: list | None = None,
               official: bool = False, opts: dict | None = None) -> dict:
    """Register one pair and score it: RE/TE, success at the protocol's thresholds (`opts["protocol"]`,
    default the preset's), with `info` the official 3DMatch error, with `opts["rmse"]` the displacement-RMSE
    success; `opts["columns"]`: floats per point of `.bin` sweeps. Never raises for a failed registration (it
    is a result: success False, `failure` set)."""
    from . import metrics as M
    from .pipeline import register

    opts = opts or {}
    prm = params_from_json(params)
    T_gt = np.asarray(gt, float)
    src = _load_points(source, opts.get("columns"))
    res = register(src, _load_points(target, opts.get("columns")), prm, gt=T_gt)
    re, te = M.transform_errors(res.transform, T_gt)
    proto = opts.get("protocol") or (prm.preset if prm.preset in M.THRESHOLDS else "3dmatch")
    out = {"rotation_error_deg": re, "translation_error_cm": te, "success": M.is_success(re, te, proto),
           "failure": res.failure, "n_correspondences": int(len(res.corr)),
           "inlier_ratio": res.metrics.get("refined", {}).get("inlier_ratio"), "seconds": round(res.seconds, 4),
           "transform": res.transform.tolist()}
    if info is not None:
        err = M.rmse_information(res.transform, T_gt, np.asarray(info, float))
        out["rmse_information"] = err
        out["success_official"] = bool(err <= 0.2 ** 2)
    if opts.get("rmse"):
        err = displacement_rmse(src, res.transform, T_gt)
        out["rmse"] = err
        out["success_official"] = bool(err < 0.2)
    if opts.get("overlap") is not None:
        out["overlap"] = float(opts["overlap"])
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


def nuscenes_items(path: Path, min_dist: float = 10.0):
    """(pairs, meta) of a nuScenes-style sequence (devkit folder or info .pkl): per scene, each keyframe with
    the first keyframe at least `min_dist` ahead; ground truth inv(L_b)·L_a with L = ego2global·lidar2ego."""
    from ..io.registration_formats import read_lidar_sequence

    frames = read_lidar_sequence(path)
    pairs, scenes = [], {}
    for f in frames:
        scenes.setdefault(f.scene, []).append(f)
    missing = 0
    for scene, fr in scenes.items():
        pos = np.array([f.pose[:3, 3] for f in fr])
        for a, b in first_beyond_pairs(pos, min_dist):
            A, B = fr[a], fr[b]
            if not (A.path.exists() and B.path.exists()):
                missing += 1
                continue
            key = (f"{scene[:8]}/" if len(scenes) > 1 else "") + f"{a}_{b}"
            gt = np.linalg.inv(B.pose) @ A.pose
            pairs.append((key, (str(A.path), str(B.path), gt.tolist(), None, False,
                                {"columns": A.columns, "distance_m": round(float(np.linalg.norm(pos[b] - pos[a])), 3)})))
    if not pairs:
        raise InputError(path, f"no keyframe pairs ≥ {min_dist:g} m apart with both sweeps present "
                               f"({len(frames)} keyframes in {len(scenes)} scene(s), {missing} pairs without files)")
    return pairs, {"layout": "nuscenes", "keyframes": len(frames), "scenes": len(scenes),
                   "pairs_without_files": missing,
                   "frame": "sweeps in the LiDAR frame; pose = ego2global · lidar2ego"}


def pairlist_items(pkl: Path, data_root: Path | None = None):
    """(pairs, meta) of a Predator/GeoTransformer 3DMatch/3DLoMatch pair list; fragment paths inside `data_root`
    (default: the pkl's folder)."""
    from ..io.limits import resolve_inside
    from ..io.registration_formats import read_pair_list

    pkl = Path(pkl)
    root = Path(data_root) if data_root else pkl.parent
    if not root.is_dir():
        raise InputError(root, "data root must be a folder")
    rows = read_pair_list(pkl)
    pairs = []
    for k, r in enumerate(rows):
        paths = []
        for what in ("source", "target"):
            p = resolve_inside(root, r[what], f"pair {k} {what}", must_exist=False)
            if not p.exists():
                raise InputError(pkl, f"pair {k}: {what} {r[what]!r} not found under {root} (give --data-root)")
            paths.append(str(p))
        key = f"{r['scene']}/{Path(r['source']).stem}_{Path(r['target']).stem}"
        pairs.append((key, (*paths, r["gt"].tolist(), None, True, {"rmse": True, "overlap": r["overlap"]})))
    ov = [r["overlap"] for r in rows if r["overlap"] is not None]
    return pairs, {"layout": "pairlist", "pair_list": str(pkl), "data_root": str(root),
                   "overlap": [float(min(ov)), float(max(ov))] if ov else None}


def _is_pair_list(pkl: Path) -> bool:
    from ..io.nuscenes import safe_load_pickle

    d = safe_load_pickle(pkl)
    return (isinstance(d, dict) and {"src", "tgt", "rot", "trans"} <= set(d)) or (
        isinstance(d, list) and bool(d) and isinstance(d[0], dict) and "pcd0" in d[0])


def detect_layout(path: Path) -> str:
    """3dmatch (scene folder with gt.log), pairlist (Predator/GeoTransformer .pkl), kitti (velodyne/ folder) or
    nuscenes (devkit folder with v1.0-*/ tables, or an mmdetection3d info .pkl)."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".pkl":
        return "pairlist" if _is_pair_list(path) else "nuscenes"
    if not path.is_dir():
        raise InputError(path, "dataset must be a folder (3DMatch scene, KITTI sequence, nuScenes root) or a .pkl "
                               "(3DLoMatch pair list, nuScenes info file)" if not path.exists() else
                         "dataset must be a folder or a .pkl pair list / info file")
    if (path / "velodyne").is_dir():
        return "kitti"
    if any(path.glob("*/sample_data.json")):
        return "nuscenes"
    pkls = sorted(path.glob("*.pkl"))
    if not (path / "gt.log").exists() and len(pkls) == 1:
        return "pairlist" if _is_pair_list(pkls[0]) else "nuscenes"
    return "3dmatch"


def dataset_items(path, params_json: dict, gt=None, info=None, calib=None, min_dist: float = 10.0,
                  data_root=None, layout: str | None = None):
    """Everything `eval registration --dataset` runs: (layout, [(key, score_pair args)], meta, official keys).
    Items carry the layout's success thresholds (PROTOCOL) in their options."""
    path = Path(path)
    layout = layout or detect_layout(path)
    if layout == "kitti":
        pairs, meta = kitti_items(path, Path(gt) if gt else None, calib, min_dist)
    elif layout == "nuscenes":
        pairs, meta = nuscenes_items(path, min_dist)
    elif layout == "pairlist":
        pkl = path if path.is_file() else sorted(path.glob("*.pkl"))[0]
        pairs, meta = pairlist_items(pkl, data_root)
    else:
        pairs, meta = threedmatch_items(path, Path(gt) if gt else None, info)
    items, official = [], set()
    for key, a in pairs:
        src, tgt, T, inf, off = a[:5]
        opts = {**(a[5] if len(a) > 5 else {}), "protocol": PROTOCOL[layout]}
        if layout == "kitti":
            opts.setdefault("columns", 4)
        items.append((key, (src, tgt, T, params_json, inf, off, opts)))
        if off and (inf is not None or opts.get("rmse")):
            official.add(key)
    return layout, items, meta, official


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
    ov = [r["overlap"] for r in rows if r.get("overlap") is not None]
    if ov:
        out["mean_overlap"] = float(np.mean(ov))
    official = [k for k in keys if k in (official_keys or set())]
    if official and any("success_official" in results.get(k, {}) for k in official):
        out["official_recall"] = sum(bool(results.get(k, {}).get("success_official")) for k in official) / len(official)
        out["official_pairs"] = len(official)
    return out
