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


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs=2, metavar="CLOUD", help="SOURCE and TARGET point clouds (PLY, PCD, NPY, .bin)")
    p.add_argument("--out", required=True, help="where to write the 4×4 source→target transform (.txt/.npy/.json)")
    p.add_argument("--preset", choices=["3dmatch", "kitti"], default="3dmatch",
                   help="parameter set from the spec (voxel, FPFH radii, SC² thresholds); default 3dmatch")
    p.add_argument("--gt", help="ground-truth 4×4 source→target transform (.txt/.npy/.json) to score against")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a text summary")
    p.add_argument("--estimator", choices=["sc2", "ransac"], default="sc2", help="coarse estimator (default sc2)")
    p.add_argument("--baseline", action="store_true", help="also run the other estimator and report it")
    p.add_argument("--no-icp", action="store_true", help="skip the ICP refinement")
    p.add_argument("--icp", choices=["point_to_point", "point_to_plane"], default="point_to_point")
    p.add_argument("--voxel", type=float, help="override the preset's voxel size (m)")
    p.add_argument("--max-points", type=int, help="cap on correspondences entering the N×N stage (default 2000)")
    p.add_argument("--cap", choices=["best", "random"], default="best",
                   help="which correspondences the cap keeps: best descriptor ratio (default) or a seeded random subset")
    p.add_argument("--mutual", action="store_true", help="keep only mutual nearest-neighbour matches")
    p.add_argument("--seed", type=int, default=0)


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
    from ..io.registration_formats import read_transform, write_transform
    from ..jobs import cli_progress, run_sync
    from ..registration.pipeline import RegistrationParams, make_job

    src, tgt = (_load_cloud(p) for p in args.inputs)
    gt = read_transform(args.gt) if args.gt else None
    over = {"estimator": args.estimator, "run_baseline": args.baseline, "icp": not args.no_icp,
            "icp_method": args.icp, "mutual": args.mutual, "seed": args.seed, "cap": args.cap,
            "device": resolve_device(args.device)}
    if args.voxel is not None:
        if args.voxel <= 0:
            raise InputError(None, "--voxel must be positive")
        over["voxel"] = args.voxel
    if args.max_points is not None:
        if args.max_points < 3:
            raise InputError(None, "--max-points must be at least 3")
        over["max_points"] = args.max_points
    prm = RegistrationParams.for_preset(args.preset, **over)
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
    return 0


def _jd(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(type(o).__name__)


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", required=True, help="estimated 4×4 source→target transform (.txt/.npy/.json)")
    p.add_argument("--gt", required=True, help="ground truth: a 4×4 file, or a 3DMatch gt.log with --pair")
    p.add_argument("--preset", choices=["3dmatch", "kitti"], default="3dmatch",
                   help="success thresholds: 3dmatch (15°, 30 cm) or kitti (5°, 60 cm)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--info", help="3DMatch gt.info: also compute the official RMSE-with-information error")
    p.add_argument("--pair", nargs=2, type=int, metavar=("SOURCE", "TARGET"),
                   help="with a gt.log --gt (and --info): the fragment indices of the pair")


def _load_gt(path: str, pair) -> "tuple":
    import numpy as np

    from ..io.registration_formats import gt_pair, read_gt_log, read_transform

    p = Path(path)
    if pair is not None and p.suffix.lower() == ".log":
        entries = read_gt_log(p)
        try:
            return gt_pair(entries, pair[0], pair[1]), entries
        except KeyError as e:
            raise InputError(p, str(e.args[0])) from None
    return np.asarray(read_transform(p)), None


def _eval_cli(args: argparse.Namespace) -> int:
    from ..io.registration_formats import read_gt_info, read_transform
    from ..registration import metrics as M

    pred = read_transform(args.pred)
    gt, _ = _load_gt(args.gt, args.pair)
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
