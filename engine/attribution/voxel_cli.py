"""`run attribution SCENE --voxel i,j,k --out DIR`: explain one voxel of a camera+LiDAR scene headless.

Kept apart from the image CLI (engine/tasks/attribution.py only dispatches here) so the image options stay
as they were. Writes cam_<name>_map.npy + cam_<name>_overlay.png per camera, voxel_map.npy, metrics.json
(engine/attribution/voxel_export.py), the same files the GUI's export writes. Light at import (no torch).
"""
from __future__ import annotations

import argparse
import sys


def add_voxel_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("voxel attribution (SCENE with cameras + LiDAR points or a voxel grid)")
    g.add_argument("--voxel", default=None,
                   help="explain this voxel: i,j,k (grid indices) or m:x,y,z (metres in the scene frame)")
    g.add_argument("--voxel-method", default="ig", choices=("ig", "gxi"),
                   help="per-voxel input attribution: IG from the empty grid, or gradient × input")
    g.add_argument("--occ-steps", type=int, default=64, help="IG steps over the occupancy grid")


def run_voxel_cli(args: argparse.Namespace, device: str) -> int:
    from pathlib import Path

    from .. import io as eio
    from ..errors import InputError
    from ..jobs import cli_progress, run_sync
    from .voxel_explain import VoxelExplainOptions, make_voxel_job
    from .voxel_export import export_voxel_explanation

    if args.method not in (None, "ig"):
        raise InputError(None, f"--voxel explains with IG; --method {args.method} is for images")
    steps = args.steps if args.steps is not None else 64
    if steps < 1 or args.occ_steps < 1:
        raise InputError(None, "--steps and --occ-steps must be ≥ 1")
    if args.baseline not in ("black", "blurred"):
        raise InputError(None, f"--baseline {args.baseline!r}: voxel explanations use black or blurred")
    path = Path(args.inputs[0])
    if not path.exists():
        raise InputError(path, "scene file does not exist")
    scene = eio.load(path)
    opts = VoxelExplainOptions(image_steps=steps, occ_steps=args.occ_steps, baseline=args.baseline,
                               occ_method=args.voxel_method, batch_size=max(1, min(args.batch_size, 16)),
                               target=args.target, tol=getattr(args, "tol", 0.01) or None,
                               max_steps=getattr(args, "max_steps", None) or 256)
    bar = cli_progress("voxel attribution")
    try:
        res, ctx = run_sync(make_voxel_job(scene, args.voxel, opts, getattr(args, "model", None), device,
                                           weights=getattr(args, "weights", None)), bar)
    finally:
        bar.close()
    res.metrics["seconds_stages"] = {k: round(v, 4) for k, v in ctx.stage_times.items()}
    files = export_voxel_explanation(res, args.out, alpha=args.alpha)
    if args.json:
        print(open(files["metrics"], encoding="utf-8").read())
    else:
        m = res.metrics
        parts = [f"voxel {','.join(map(str, res.voxel))}: {res.predicted_name} "
                 f"{res.probabilities.get(res.predicted_name, 0):.3f}, explained {res.target_name}"]
        for k in ("image", "occupancy"):
            if "relative_error" in (m.get(k) or {}):
                from .ig import format_gap

                parts.append(f"{k} IG gap {format_gap(m[k]['relative_error'])} at {m[k].get('steps')} steps")
        seen = (m.get("image") or {}).get("cameras_seeing")
        if seen is not None:
            parts.append("seen by " + (", ".join(seen) or "no camera"))
        print("; ".join(parts) + f"; wrote {args.out}")
    for w in res.metrics.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    return 0
