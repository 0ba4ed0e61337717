"""`eval trajectory`: APE and RPE of an estimated trajectory against a reference, as evo_ape / evo_rpe
compute them (engine/pose/trajectory_eval.py), for TUM, KITTI and EuRoC files.

    main.py eval trajectory --est EST --ref REF --align se3|sim3|none [--t-max-diff 0.01] [--t-offset S]
                            [--delta N --delta-unit f|m] [--format auto|tum|kitti|euroc] [--json]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import Task


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--est", required=True, help="estimated trajectory (TUM, KITTI or EuRoC file)")
    p.add_argument("--ref", required=True, help="reference (ground-truth) trajectory")
    p.add_argument("--align", choices=["se3", "sim3", "none"], default="se3",
                   help="align the estimate to the reference first: rigid (evo --align), with scale "
                        "(--align --correct_scale) or not at all (default se3)")
    p.add_argument("--t-max-diff", type=float, default=0.01, help="max. time difference to pair poses, s (0.01)")
    p.add_argument("--t-offset", type=float, default=0.0, help="time offset added to the estimate's stamps, s")
    p.add_argument("--delta", type=float, default=1, help="RPE: distance between pose pairs (default 1)")
    p.add_argument("--delta-unit", choices=["f", "m"], default="f", help="RPE: delta in frames (f) or metres (m)")
    p.add_argument("--format", choices=["auto", "tum", "kitti", "euroc"], default="auto",
                   help="file format of both trajectories (default: decided from each file's content)")
    p.add_argument("--json", action="store_true", help="print all statistics as JSON")


def _eval_cli(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..io.trajectory import read_trajectory
    from ..pose.trajectory_eval import evaluate

    if args.t_max_diff < 0:
        raise InputError(None, "--t-max-diff must be ≥ 0")
    est = read_trajectory(Path(args.est), args.format)
    ref = read_trajectory(Path(args.ref), args.format)
    r = evaluate(est.poses, ref.poses, est.timestamps, ref.timestamps, args.align, args.t_max_diff,
                 args.t_offset, args.delta, args.delta_unit)
    r.pop("errors")
    r.update(est=str(args.est), ref=str(args.ref), est_format=est.meta.get("format"),
             ref_format=ref.meta.get("format"), t_max_diff=args.t_max_diff, t_offset=args.t_offset)
    if args.json:
        print(json.dumps(r))
        return 0
    unit = "frames" if args.delta_unit == "f" else "m"
    print(f"{r['matched']} poses matched by {r['matching']}, alignment {args.align}"
          + (f" (scale {r['alignment']['scale']:.6f})" if args.align == "sim3" else ""))
    for name, block in (("APE", r["ape"]), (f"RPE (delta {args.delta:g} {unit}, {r['rpe']['pairs']} pairs)", r["rpe"])):
        t, a = block["translation_m"], block["rotation_deg"]
        print(f"{name}: translation rmse {t['rmse']:.6f} m  mean {t['mean']:.6f}  median {t['median']:.6f}  "
              f"max {t['max']:.6f}; rotation rmse {a['rmse']:.6f} deg  mean {a['mean']:.6f}  max {a['max']:.6f}")
    return 0


TASK = Task("trajectory", "trajectory error (APE, RPE) of an estimate against a reference, as evo computes it",
            None, None, _add_eval_args, _eval_cli)
