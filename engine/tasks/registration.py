"""`run registration` / `eval registration`: the headless face of the registration workbench, so any result
seen in the GUI can be reproduced and scored from a shell or CI with the same engine Job.

Output contract (issue 4): the 4×4 source→target transform is written to --out (txt, npy or json by
suffix); with --gt RE/TE/success are printed; --json prints one object with `transform`,
`rotation_error_deg`, `translation_error_cm`, `success`, `inlier_ratio`, `seconds` (plus details).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError
from ..scene import PointCloud
from . import Task


# (flag, RegistrationParams / SC2Params / ScanFilter field, type, help): every pipeline parameter, default None
# so that only what the user gives overrides the preset (and a --voxel alone rescales the lengths)
_PARAM_FLAGS = [
    ("--voxel", "voxel", float, "voxel size (m); rescales radii and thresholds that are not given"),
    ("--normal-radius", "normal_radius", float, "normal estimation radius (m)"),
    ("--normal-max-nn", "normal_max_nn", int, "normal estimation neighbours"),
    ("--fpfh-radius", "fpfh_radius", float, "FPFH radius (m)"),
    ("--fpfh-max-nn", "fpfh_max_nn", int, "FPFH neighbours"),
    ("--d-thre", "d_thre", float, "SC² compatibility distance d (m)"),
    ("--inlier-threshold", "inlier_threshold", float, "inlier threshold τ (m)"),
    ("--nms-radius", "nms_radius", float, "SC² seed NMS radius (m)"),
    ("--seed-ratio", "ratio", float, "SC² seeds as a share of the correspondences"),
    ("--k1", "k1", int, "SC² first-stage consensus size"),
    ("--k2", "k2", int, "SC² second-stage consensus size"),
    ("--power-iterations", "num_iterations", int, "SC² power-iteration steps"),
    ("--max-points", "max_points", int, "cap on correspondences entering the N×N stage"),
    ("--verify-top", "verify_top", int, "re-rank this many best SC² hypotheses by cloud overlap (0: off)"),
    ("--ransac-iterations", "ransac_iterations", int, "RANSAC iterations"),
    ("--ransac-n", "ransac_n", int, "RANSAC sample size"),
    ("--icp-max-dist", "icp_max_dist", float, "ICP correspondence distance (m)"),
    ("--icp-iterations", "icp_iterations", int, "ICP iterations"),
    ("--icp-relative-fitness", "icp_relative_fitness", float, "ICP stops when fitness changes by less (relative)"),
    ("--icp-relative-rmse", "icp_relative_rmse", float, "ICP stops when inlier RMSE changes by less (relative)"),
    ("--min-range", "min_range", float, "drop returns closer than this to the sensor (m; ego vehicle)"),
    ("--max-range", "max_range", float, "drop returns farther than this (m; 0: off)"),
    ("--ground", "ground", str, "keep or remove the ground before descriptors"),
    ("--ground-threshold", "ground_threshold", float, "distance to a ground plane that counts as ground (m)"),
    ("--sensor-height", "sensor_height", float, "sensor height above the ground (m; 0: estimated)"),
    ("--min-inliers", "min_inliers", int, "fewer predicted inliers: reported as a failure"),
    ("--degenerate-translation", "degenerate_translation", float,
     "a result moving less than this (m) with a low inlier ratio is degenerate (0: off)"),
    ("--degenerate-ratio", "degenerate_ratio", float, "inlier ratio under which a near-identity result is degenerate"),
]


def _preset_help() -> str:
    from ..registration.pipeline import PRESET_HELP

    return "; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items())


def _add_param_args(p: argparse.ArgumentParser) -> None:
    from ..registration.pipeline import PRESETS

    p.add_argument("--preset", choices=list(PRESETS), default=None,
                   help="parameter set (default 3dmatch; with eval --dataset the benchmark's). " + _preset_help())
    g = p.add_argument_group("pipeline parameters (default: the preset's)")
    for flag, _f, typ, hlp in _PARAM_FLAGS:
        if flag == "--ground":
            g.add_argument(flag, choices=["keep", "remove"], default=None, help=hlp)
        else:
            g.add_argument(flag, type=typ, default=None, help=hlp)
    g.add_argument("--ego-box", type=float, nargs=6, metavar=("XMIN", "XMAX", "YMIN", "YMAX", "ZMIN", "ZMAX"),
                   help="drop returns inside this box around the sensor (sensor frame, m)")
    g.add_argument("--no-ground-icp", action="store_true", help="with --ground remove: leave the ground out of ICP too")
    g.add_argument("--estimator", choices=["sc2", "ransac"], default="sc2", help="coarse estimator (default sc2)")
    g.add_argument("--baseline", action="store_true", help="also run the other estimator and report it")
    g.add_argument("--no-icp", action="store_true", help="skip the ICP refinement")
    g.add_argument("--icp", choices=["point_to_point", "point_to_plane"], default=None,
                   help="ICP kind (default: the preset's — point_to_point indoor, point_to_plane outdoor)")
    g.add_argument("--cap", choices=["best", "salient", "random"], default=None,
                   help="which correspondences the --max-points cap keeps: best descriptor ratio (3dmatch), most "
                        "salient source descriptors (outdoor presets) or a seeded random subset")
    g.add_argument("--mutual", action="store_true", help="keep only mutual nearest-neighbour matches")
    g.add_argument("--seed", type=int, default=0)


def params_from_args(args: argparse.Namespace, device: str):
    """RegistrationParams from the shared CLI options (run and eval --dataset)."""
    from ..registration.pipeline import RegistrationParams

    over = {"estimator": args.estimator, "run_baseline": args.baseline, "icp": not args.no_icp,
            "mutual": args.mutual, "seed": args.seed, "device": device}
    if args.icp is not None:
        over["icp_method"] = args.icp
    for flag, f, _t, _h in _PARAM_FLAGS:
        v = getattr(args, flag[2:].replace("-", "_"))
        if v is None:
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            positive = f in ("voxel", "normal_radius", "fpfh_radius", "d_thre", "inlier_threshold", "nms_radius",
                             "ratio", "icp_max_dist", "ground_threshold")
            if (positive and v <= 0) or v < 0:
                raise InputError(None, f"{flag} must be {'positive' if positive else 'non-negative'}, got {v}")
        over[f] = v
    if args.max_points is not None and args.max_points < 3:
        raise InputError(None, "--max-points must be at least 3")
    if args.cap is not None:
        over["cap"] = args.cap
    if args.ego_box is not None:
        over["ego_box"] = tuple(args.ego_box)
    if args.no_ground_icp:
        over["ground_icp"] = False
    if args.preset is None:
        args.preset = "3dmatch"
    prm = RegistrationParams.for_preset(args.preset, **over)
    prm.scan.check()
    return prm


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs=2, metavar="CLOUD", help="SOURCE and TARGET point clouds (PLY, PCD, NPY, .bin)")
    p.add_argument("--out", required=True, help="where to write the 4×4 source→target transform (.txt/.npy/.json)")
    p.add_argument("--gt", help="ground truth: a 4×4 file (.txt/.npy/.json), or a gt.log / KITTI poses file with --pair")
    p.add_argument("--pair", nargs=2, type=int, metavar=("SOURCE", "TARGET"),
                   help="with a gt.log or KITTI poses --gt: the fragment/frame indices of source and target")
    p.add_argument("--calib", help="KITTI calib.txt for a poses --gt (default: found beside it, else none)")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a text summary")
    _add_param_args(p)


def _load_cloud(path: str) -> PointCloud:
    from ..io import load_layers

    clouds = [lay for lay in load_layers(path) if isinstance(lay, PointCloud)]
    if not clouds:
        raise InputError(path, "contains no point cloud")
    if clouds[0].n < 3:
        raise InputError(path, f"point cloud has only {clouds[0].n} points")
    return clouds[0]


def _run_cli(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..io.registration_formats import load_ground_truth, write_transform
    from ..jobs import cli_progress, run_sync
    from ..registration.pipeline import make_job

    prm = params_from_args(args, resolve_device(args.device))
    src, tgt = (_load_cloud(p) for p in args.inputs)
    gt = load_ground_truth(args.gt, args.pair, args.calib) if args.gt else None
    bar = cli_progress("registration")
    res, _ = run_sync(make_job(src, tgt, prm, gt=gt), bar)
    bar.close()
    summary = res.summary()
    summary["source"], summary["target"] = args.inputs
    write_transform(args.out, res.transform, extra=summary if str(args.out).lower().endswith(".json") else None)
    if args.json:
        print(json.dumps(summary, default=_jd))
    else:
        print(f"{len(res.corr):,} correspondences, {int(res.inlier.sum()):,} predicted inliers, "
              f"{res.seconds:.2f} s; wrote {args.out}")
        if gt is not None:
            m = res.metrics["refined"]
            print(f"RE {m['rotation_error_deg']:.3f}°  TE {m['translation_error_cm']:.2f} cm  "
                  f"success({args.preset}) {m['success']}  input inlier ratio {m['inlier_ratio']:.3f}")
    sys.stdout.flush()
    if res.failure is not None:
        print(f"registration failed: {res.failure}", file=sys.stderr)
        return 1
    return 0


def _jd(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(type(o).__name__)


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    from ..datasets import add_dataset_args

    p.add_argument("--pred", help="estimated 4×4 source→target transform (.txt/.npy/.json); not with --dataset")
    p.add_argument("--gt", help="ground truth: a 4×4 file (.txt/.npy/.json), or a 3DMatch gt.log / KITTI poses "
                                "file with --pair; with --dataset: the scene's gt.log or the sequence's poses")
    p.add_argument("--dataset", metavar="DIR",
                   help="register and score every pair of a benchmark: a 3DMatch/3DLoMatch scene folder "
                        "(gt.log, gt.info, cloud_bin_<i>.*), a Predator/GeoTransformer 3DMatch/3DLoMatch pair-list "
                        ".pkl (with --data-root), a KITTI odometry sequence (velodyne/*.bin + poses, pairs ≈ 10 m "
                        "apart as FCGF) or a nuScenes-style sequence (devkit folder with v1.0-*/ tables, or an "
                        "mmdetection3d info .pkl; keyframes ≥ 10 m apart). Thresholds follow the benchmark "
                        "(15°/30 cm indoor, 5°/60 cm outdoor); without --preset the benchmark's preset runs")
    p.add_argument("--out", help="with --dataset: write the report (summary + per-pair rows) as JSON here; the "
                                 "per-pair results file beside it lets a rerun resume")
    p.add_argument("--min-dist", type=float, default=10.0,
                   help="with a KITTI or nuScenes --dataset: pair distance (m; KITTI: FCGF's rule, nuScenes: the "
                        "first keyframe at least this far ahead)")
    p.add_argument("--data-root", help="with a 3DMatch/3DLoMatch pair-list .pkl: the folder its fragment paths are "
                                       "relative to (default: the pkl's folder)")
    p.add_argument("--calib", help="KITTI calib.txt for a poses --gt (default: found beside it, else none)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--info", help="3DMatch gt.info: also compute the official RMSE-with-information error")
    p.add_argument("--pair", nargs=2, type=int, metavar=("SOURCE", "TARGET"),
                   help="with a gt.log or KITTI poses --gt (and --info): the fragment/frame indices of the pair")
    add_dataset_args(p)
    if "--device" not in p._option_string_actions:
        p.add_argument("--device", default="auto", help="with --dataset: auto (CUDA when present), cpu or cuda")
    _add_param_args(p)  # --preset (success thresholds, and the pipeline of --dataset) and every parameter


def _load_gt(path: str, pair, calib=None) -> "tuple":
    from ..io.registration_formats import GroundTruthFile

    g = GroundTruthFile(path, calib)
    return (g.get(*pair) if pair is not None else g.get()), g


def _eval_dataset(args: argparse.Namespace) -> int:
    from ..datasets import Item, results_path, run_items
    from ..device import resolve_device
    from ..registration import dataset as D

    folder = Path(args.dataset)
    layout = D.detect_layout(folder)
    if args.preset is None:
        args.preset = D.DEFAULT_PRESET[layout]
    prm = params_from_args(args, resolve_device(args.device))
    pjson = D.params_to_json(prm)
    _, pairs, meta, official = D.dataset_items(folder, pjson, args.gt, args.info, args.calib, args.min_dist,
                                               args.data_root, layout)
    items = [Item(k, a) for k, a in pairs]
    run = run_items(D.score_pair, items, workers=args.workers, ray_address=args.ray_address,
                    results=results_path(args.out) if args.out else None, resume=not args.no_resume,
                    config={"task": "registration", "dataset": str(folder.resolve()), "params": pjson},
                    desc="pairs")
    keys = [it.key for it in items]
    summary = D.aggregate(keys, run.results, run.failed, D.PROTOCOL[layout], official)
    rows = [{"pair": k, **{c: v for c, v in run.results[k].items() if c != "transform"}} if k in run.results
            else {"pair": k, "error": run.failed.get(k)} for k in keys]
    report = {**meta, "dataset": str(folder), "preset": prm.preset, "summary": summary, "run": run.summary(),
              "pairs": rows}
    if args.out:
        from ..atomic import write_text

        write_text(args.out, json.dumps(report, indent=2, default=_jd))
    if args.json:
        print(json.dumps(report, default=_jd))
    else:
        w = max([10] + [len(r["pair"]) for r in rows])
        has_ov = any("overlap" in r for r in rows)
        print(f"{'pair':>{w}} {'RE°':>7} {'TE cm':>8} {'ok':>3} {'official':>8}" + (f" {'overlap':>7}" if has_ov else "")
              + f" {'s':>6}  failure")
        for r in rows:
            if "error" in r:
                print(f"{r['pair']:>{w}} {'error':>7}  {r['error']}")
                continue
            off = "" if "success_official" not in r or not r["official_pair"] else ("y" if r["success_official"] else "n")
            ov = (f" {r['overlap']:7.2f}" if r.get("overlap") is not None else f" {'':>7}") if has_ov else ""
            print(f"{r['pair']:>{w}} {r['rotation_error_deg']:7.2f} {r['translation_error_cm']:8.1f} "
                  f"{'y' if r['success'] else 'n':>3} {off:>8}{ov} {r['seconds']:6.2f}  {r['failure'] or ''}")
        s = summary
        print(f"{s['pairs']} pairs ({meta['layout']}): registration recall {s['registration_recall']:.3f} at "
              f"{s['thresholds']['rotation_deg']:g}°/{s['thresholds']['translation_cm']:g} cm, mean RE "
              f"{s['mean_rotation_error_deg']:.3f}° TE {s['mean_translation_error_cm']:.2f} cm over successes"
              + (f"; official recall {s['official_recall']:.3f} over {s['official_pairs']} pairs (RMSE "
                 f"{'< 0.2 m, GeoTransformer' if layout == 'pairlist' else '≤ 0.2 m with gt.info'})"
                 if "official_recall" in s else "")
              + (f"; {s['errors']} pairs could not be run" if s["errors"] else ""))
    sys.stdout.flush()
    return 0


def _eval_cli(args: argparse.Namespace) -> int:
    from ..io.registration_formats import read_gt_info, read_transform
    from ..registration import metrics as M

    if args.dataset:
        if args.pred:
            raise InputError(args.pred, "--pred is for one pair; --dataset registers every pair itself")
        return _eval_dataset(args)
    if not args.pred or not args.gt:
        raise InputError(None, "eval registration needs --pred and --gt (or --dataset DIR)")
    if args.preset is None:
        args.preset = "3dmatch"
    pred = read_transform(args.pred)
    gt, _ = _load_gt(args.gt, args.pair, args.calib)
    re, te = M.transform_errors(pred, gt)
    out = {"rotation_error_deg": re, "translation_error_cm": te, "success": M.is_success(re, te, args.preset),
           "success_3dmatch": M.is_success(re, te, "3dmatch"), "success_kitti": M.is_success(re, te, "kitti"),
           "preset": args.preset, "thresholds": {"rotation_deg": M.THRESHOLDS[args.preset][0],
                                                 "translation_cm": M.THRESHOLDS[args.preset][1]}}
    if args.info:
        if args.pair is None:
            raise InputError(args.info, "--info needs --pair SOURCE TARGET to pick the block")
        info = read_gt_info(args.info)
        a, b = args.pair
        mat = info.get((b, a), info.get((a, b)))
        if mat is None:
            raise InputError(args.info, f"no block for fragments {a} and {b}")
        err = M.rmse_information(pred, gt, mat)
        out["rmse_information"] = err
        out["success_official_3dmatch"] = bool(err <= 0.2 ** 2)
    if getattr(args, "json", False):
        print(json.dumps(out))
    else:
        print(f"RE {re:.3f}°  TE {te:.2f} cm  success({args.preset}) {out['success']}"
              + (f"  official error {out['rmse_information']:.4f}" if "rmse_information" in out else ""))
    sys.stdout.flush()
    return 0


TASK = Task("registration", "align two point clouds (FPFH + SC²-PCR + ICP); eval RE/TE/success",
            _add_run_args, _run_cli, _add_eval_args, _eval_cli)
