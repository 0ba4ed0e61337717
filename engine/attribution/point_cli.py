"""`run attribution CLOUD --points --model M --target T --out DIR`: per-point attribution of a user's point model.

The model contract is `common.MODEL_CONTRACT` (TorchScript; an adapter .py with build_model() plus --weights
state_dict/.safetensors; a trusted whole-module pickle). The model takes one cloud as 1×N×C (``--layout NC``,
channels = xyz then the ``--channels`` attributes in that order) or 1×C×N (``CN``, PointNet style) and returns
logits per cloud (1×K; target = class id) or per point (1×N×K or 1×K×N; target = "point,class").

Writes point_scores.npy (signed, N), point_magnitude.npy (N), point_channels.npy (N×C), attribution.ply
(the cloud with `score` = signed attribution and a diverging RGB colour, for any point viewer), colorbar.png and
metrics.json (completeness gap, steps, baseline, channels). Light at import (no torch).
"""
from __future__ import annotations

import argparse
import sys


def add_point_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("point-cloud attribution (CLOUD = PLY, PCD, KITTI .bin, NPY … with --points)")
    g.add_argument("--points", action="store_true",
                   help="explain a point model on the cloud: --model (TorchScript, or adapter .py + --weights) "
                        "and --target (class id, or 'point,class' for per-point outputs)")
    g.add_argument("--weights", default=None,
                   help="state_dict (.pt, loaded as data) or .safetensors for the adapter .py given as --model")
    g.add_argument("--channels", default="", help="per-point attributes after xyz, comma-separated (e.g. intensity)")
    g.add_argument("--layout", default="NC", choices=("NC", "CN"), help="model input 1×N×C (default) or 1×C×N")
    g.add_argument("--point-method", default="ig", choices=("ig", "gradxinput"),
                   help="Integrated Gradients (completeness-checked) or gradient × (input − baseline)")
    g.add_argument("--point-baseline", default="centroid", choices=("centroid", "zeros", "features"),
                   help="IG baseline: every point at the centroid (default), all zeros, or xyz kept (features only)")


def run_point_cli(args: argparse.Namespace, device: str) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from .. import io as eio
    from ..atomic import save_npy, write_text
    from ..errors import InputError
    from ..jobs import cli_progress, run_sync
    from ..scene import PointCloud
    from .common import colorbar, colorize, display_scale, save_png
    from .pointcloud import make_point_model_job, parse_target

    if not getattr(args, "model", None):
        raise InputError(None, "--points needs --model (a TorchScript file, or an adapter .py with build_model() "
                               "and --weights)")
    if args.target in (None, ""):
        raise InputError(None, "--points needs --target: a class id, or 'point,class' for per-point outputs")
    if args.method not in (None, "ig"):
        raise InputError(None, f"--points uses --point-method (ig or gradxinput); --method {args.method} is for images")
    steps = args.steps if args.steps is not None else 64
    if steps < 1:
        raise InputError(None, "--steps must be ≥ 1")
    path = Path(args.inputs[0])
    if not path.exists():
        raise InputError(path, "point cloud file does not exist")
    clouds = [lay for lay in eio.load(path).layers if isinstance(lay, PointCloud)]
    if not clouds:
        raise InputError(path, "holds no point cloud")
    cloud = clouds[0]
    target = parse_target(args.target)
    channels = tuple(c.strip() for c in args.channels.split(",") if c.strip())
    job = make_point_model_job(cloud, args.model, target, method=args.point_method, baseline=args.point_baseline,
                               steps=steps, channels=channels, layout=args.layout, device=device,
                               weights=args.weights, tol=args.tol or None, max_steps=args.max_steps)
    bar = cli_progress("point attribution")
    try:
        am, ctx = run_sync(job, bar)
    finally:
        bar.close()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = am.meta
    save_npy(out / "point_scores.npy", np.asarray(am.scores, np.float32))
    save_npy(out / "point_magnitude.npy", np.asarray(meta["magnitude"], np.float32))
    save_npy(out / "point_channels.npy", np.asarray(meta["per_channel"], np.float32))
    from ..io.pointcloud import write_ply

    rgb = colorize(np.asarray(am.scores, np.float64)[None], args.cmap, True)[0]
    write_ply(out / "attribution.ply", PointCloud(name="attribution", points=cloud.points,
                                                  attributes={"rgb": rgb, "score": np.asarray(am.scores, np.float32)}))
    scale = display_scale(am.scores)
    save_png(out / "colorbar.png", colorbar(args.cmap, True, scale))
    metrics = {"task": "point attribution", "cloud": str(path), "model": str(args.model),
               "weights": args.weights, "target": list(target) if isinstance(target, tuple) else target,
               "method": args.point_method, "baseline": args.point_baseline, "layout": args.layout,
               "n_points": int(cloud.n), "channels": meta["channels"], "steps": meta["steps"],
               "f_input": meta["f_input"], "f_baseline": meta["f_baseline"],
               "convergence_delta": meta["convergence_delta"], "relative_error": meta["relative_error"],
               "tolerance": meta["tolerance"], "converged": meta["converged"], "steps_tried": meta["steps_tried"],
               "display": {"signed": True, "scale": scale, "cmap": args.cmap},
               "seconds": {k: round(v, 4) for k, v in ctx.stage_times.items()}}
    from .pipeline import _jsonable

    write_text(out / "metrics.json", json.dumps(_jsonable(metrics), indent=1))
    warn = None
    if args.point_method == "ig" and meta["converged"] is False:
        from .ig import format_gap

        warn = (f"completeness gap {format_gap(meta['relative_error'])} is above the tolerance at the step cap "
                f"({meta['steps']} steps): raise --max-steps")
    if args.json:
        print((out / "metrics.json").read_text(encoding="utf-8"))
    else:
        from .ig import format_gap

        top = np.argsort(-np.abs(np.asarray(am.scores)))[:3]
        gap = (f"completeness gap {format_gap(meta['relative_error'])} at {meta['steps']} steps"
               if args.point_method == "ig" else "gradient × input (no completeness)")
        print(f"points {cloud.n} → target {args.target}: {gap}; most important points "
              f"{', '.join(str(int(i)) for i in top)}; wrote {out}")
    if warn:
        print(f"warning: {warn}", file=sys.stderr)
    return 0
