"""`run attribution IMAGE --method ig|gradcam|occlusion|poseig ...`: explain a prediction headless.

Writes map.npy (full-resolution float map), overlay.png and metrics.json (plus per-joint maps, curves and
index tables when the method has them) into --out; the GUI workbench runs the same engine pipeline.
"""
from __future__ import annotations

import argparse
import sys


from ..errors import InputError
from . import Task


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs=1, metavar="IMAGE",
                   help="image file (PNG, JPEG, ...), a scene with --voxel, or a point cloud with --points")
    p.add_argument("--method", default=None, choices=("ig", "gradcam", "occlusion", "poseig"),
                   help="image attribution method (required unless --voxel)")
    p.add_argument("--target", default=None,
                   help="class index or name (classifiers; default: the top class) or joint name (poseig)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--json", action="store_true", help="print metrics.json to stdout")
    p.add_argument("--steps", type=int, default=None, help="IG path steps (default 64) / PoseIG fold (default 50)")
    p.add_argument("--tol", type=float, default=0.01,
                   help="completeness tolerance |Σ IG − ΔF| / |ΔF|: the steps double until it is met (default 0.01 "
                        "= 1 %%; 0 = fixed --steps)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="cap on the doubling (default 1024 IG steps; PoseIG 8 × the fold); a warning says when hit")
    p.add_argument("--baseline", default="black", help="IG baseline: black, blurred or an image file")
    p.add_argument("--batch-size", type=int, default=16, help="path steps / patches per model call")
    p.add_argument("--layer", default=None, help="Grad-CAM layer (dotted module name)")
    p.add_argument("--window", type=int, default=32, help="occlusion window (pixels at model input size)")
    p.add_argument("--stride", type=int, default=16, help="occlusion stride")
    p.add_argument("--no-faithfulness", action="store_true", help="skip deletion/insertion curves")
    p.add_argument("--curve-step", type=int, default=None, help="pixels per deletion/insertion step")
    p.add_argument("--substrate", default="rise", choices=("rise", "blur", "mean", "zero"),
                   help="what deleted pixels become: rise = zeros for deletion and the blurred image for insertion "
                        "(RISE); blur, mean or zero = that substrate for both curves and the metrics below")
    p.add_argument("--random-cell", type=int, default=None,
                   help="cell size (model-input pixels) of the granularity-matched random floor (default: the "
                        "map's own grid: Grad-CAM's feature cells, the occlusion stride, pixels for IG)")
    p.add_argument("--faithfulness", default="", metavar="LIST",
                   help="extra faithfulness metrics, comma-separated: correlation (Bhatt et al.), aopc (MoRF/LeRF "
                        "region perturbation), sanity (model-parameter randomisation); 'all' for the three")
    p.add_argument("--fc-subset", type=int, default=224, help="faithfulness correlation: pixels per subset")
    p.add_argument("--fc-runs", type=int, default=100, help="faithfulness correlation: number of subsets")
    p.add_argument("--aopc-patch", type=int, default=8, help="region perturbation: patch size (pixels)")
    p.add_argument("--aopc-regions", type=int, default=100, help="region perturbation: regions removed")
    p.add_argument("--gt", default=None, help="PoseIG: COCO keypoint JSON with the image's ground truth")
    p.add_argument("--person", type=int, default=0, help="PoseIG: which annotated person (0 = largest)")
    p.add_argument("--joints", default=None, help="PoseIG: comma-separated joint names (default: COCO-17)")
    p.add_argument("--alpha", type=float, default=0.5, help="overlay opacity")
    p.add_argument("--cmap", default="jet", help="overlay colour map (matplotlib name)")
    from ..attribution.point_cli import add_point_args
    from ..attribution.voxel_cli import add_voxel_args

    add_voxel_args(p)
    add_point_args(p)


def _run_cli(args: argparse.Namespace) -> int:
    from ..attribution.pipeline import AttributionOptions, export_all, make_job
    from ..device import resolve_device
    from ..jobs import cli_progress, run_sync

    device = resolve_device(getattr(args, "device", "auto"))
    if getattr(args, "points", False):
        if getattr(args, "voxel", None):
            raise InputError(None, "--points and --voxel are different tasks: give one")
        from ..attribution.point_cli import run_point_cli

        return run_point_cli(args, device)
    if getattr(args, "voxel", None):
        from ..attribution.voxel_cli import run_voxel_cli

        return run_voxel_cli(args, device)
    if args.method is None:
        raise InputError(None, "--method is required (or --voxel i,j,k with a scene)")
    if args.steps is not None and args.steps < 1:
        raise InputError(None, "--steps must be ≥ 1")
    if args.tol < 0:
        raise InputError(None, "--tol must be ≥ 0")
    if args.max_steps is not None and args.max_steps < 1:
        raise InputError(None, "--max-steps must be ≥ 1")
    extra = [k.strip() for k in (args.faithfulness or "").split(",") if k.strip()]
    if "all" in extra:
        extra = ["correlation", "aopc", "sanity"]
    bad = [k for k in extra if k not in ("correlation", "aopc", "sanity")]
    if bad:
        raise InputError(None, f"--faithfulness: unknown metric(s) {', '.join(bad)} (use correlation, aopc, sanity or all)")
    if extra and args.no_faithfulness:
        raise InputError(None, "--faithfulness and --no-faithfulness contradict each other")
    for name in ("fc_subset", "fc_runs", "aopc_patch", "aopc_regions"):
        if getattr(args, name) < 1:
            raise InputError(None, f"--{name.replace('_', '-')} must be ≥ 1")
    if args.random_cell is not None and args.random_cell < 1:
        raise InputError(None, "--random-cell must be ≥ 1")
    if not 0.0 <= args.alpha <= 1.0:
        raise InputError(None, "--alpha must be in [0, 1]")
    from matplotlib import colormaps
    if args.cmap not in colormaps:
        raise InputError(None, f"unknown colour map {args.cmap!r}")
    opts = AttributionOptions(
        steps=args.steps or (50 if args.method == "poseig" else 64), baseline=args.baseline,
        tol=args.tol or None, max_steps=args.max_steps,
        batch_size=max(1, args.batch_size), layer=args.layer, window=args.window, stride=args.stride,
        faithfulness=not args.no_faithfulness, curve_step=args.curve_step, gt=args.gt, person=args.person,
        substrate=args.substrate, random_cell=args.random_cell, metrics=tuple(extra), fc_subset=args.fc_subset,
        fc_runs=args.fc_runs, aopc_patch=args.aopc_patch, aopc_regions=args.aopc_regions,
        joints=[j.strip() for j in args.joints.split(",")] if args.joints else None)
    bar = cli_progress(f"attribution {args.method}")
    try:
        res, ctx = run_sync(make_job(args.inputs[0], args.method, args.target, getattr(args, "model", None), opts,
                                     device), bar)
    finally:
        bar.close()
    res.metrics["seconds"] = {k: round(v, 4) for k, v in ctx.stage_times.items()}
    files = export_all(res, args.out, args.alpha, args.cmap)
    if args.json:
        print(open(files["metrics"], encoding="utf-8").read())
    else:
        m = res.metrics
        parts = [f"{res.method} → {res.target_name}"]
        if res.method in ("ig", "poseig") and "relative_error" in m:
            from ..attribution.ig import format_gap

            tol = m.get("tolerance")
            parts.append(f"completeness gap {format_gap(m['relative_error'])} at {m.get('steps')} steps"
                         + (f" (tolerance {100 * tol:.2f} %)" if tol else " (fixed steps)"))
        for k in ("convergence_delta", "output_difference", "deletion_auc", "insertion_auc", "deletion_auc_random",
                  "deletion_auc_random_cells", "faithfulness_correlation", "aopc_morf", "aopc_lerf", "sanity_last"):
            if k in m and m[k] is not None:
                parts.append(f"{k}={m[k]:.4g}")
        print(", ".join(parts) + f"; wrote {args.out}")
    for w in res.metrics.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    return 0


TASK = Task("attribution", "explain a prediction: IG, Grad-CAM, occlusion, PoseIG (maps, indices, AUCs)",
            _add_run_args, _run_cli)

