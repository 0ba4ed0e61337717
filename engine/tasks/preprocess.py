"""Built-in job proving the engine path end to end: voxel downsampling + normal estimation (torch, CPU or
CUDA). It is also stage 1 of registration, so it lives in the engine as a reusable task."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from ..jobs import Job, JobContext
from ..scene import PointCloud
from . import Task


def downsample_with_normals(cloud: PointCloud, voxel: float, k: int = 30, device: str = "cpu",
                            ctx: JobContext | None = None) -> PointCloud:
    """Voxel-downsample `cloud` and estimate normals; carries the majority label when the cloud has labels."""
    import numpy as np
    import torch

    from ..geometry import as_tensor, estimate_normals, voxel_downsample

    if cloud.n == 0:
        raise InputError(cloud.source or cloud.name, "point cloud is empty")
    ctx = ctx or JobContext()
    with ctx.stage("downsample"):
        ctx.progress(0.0, "voxel downsampling")
        pts = as_tensor(cloud.points, device)
        cent, inv, _ = voxel_downsample(pts, voxel)
        ctx.progress(0.2, f"{len(cent):,} voxels")
    with ctx.stage("normals"):
        normals = estimate_normals(cent, k=k, radius=2.0 * voxel, progress=ctx.sub(0.2, 0.95))
    attrs = {"normal": normals.cpu().numpy().astype(np.float32)}
    if "label" in cloud.attributes:
        lab = torch.as_tensor(cloud.attributes["label"].astype(np.int64), device=device)
        n_cls = int(lab.max()) + 1
        votes = torch.zeros(len(cent), n_cls, dtype=torch.int64, device=device)
        votes.index_put_((inv, lab), torch.ones_like(lab), accumulate=True)
        attrs["label"] = votes.argmax(1).cpu().numpy().astype(np.uint8)
    ctx.progress(1.0, "done")
    out = PointCloud(name=f"{cloud.name} ↓{voxel:g} m", source=f"job:preprocess({cloud.name})",
                     points=cent.cpu().double().numpy(), attributes=attrs, label_set=cloud.label_set, frame=cloud.frame)
    out.meta["voxel"] = voxel
    return out


def make_job(cloud: PointCloud, voxel: float, k: int = 30, device: str = "cpu") -> Job:
    return Job(f"Downsample + normals ({cloud.name})", lambda ctx: downsample_with_normals(cloud, voxel, k, device, ctx))


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs=1, help="point cloud (PLY, PCD, NPY, .bin)")
    p.add_argument("--voxel", type=float, default=0.05, help="voxel size in metres (default 0.05)")
    p.add_argument("--knn", type=int, default=30)
    p.add_argument("--out", required=True, help="output point cloud (.ply/.pcd/.npy)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")


def _run_cli(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..io import load_layers
    from ..io.pointcloud import write_points
    from ..jobs import cli_progress, run_sync

    layers = [lay for lay in load_layers(args.inputs[0]) if isinstance(lay, PointCloud)]
    if not layers:
        raise InputError(args.inputs[0], "contains no point cloud")
    if args.voxel <= 0:
        raise InputError(None, "--voxel must be positive")
    device = resolve_device(args.device)
    bar = cli_progress("preprocess")
    out, ctx = run_sync(make_job(layers[0], args.voxel, args.knn, device), bar)
    bar.close()
    write_points(args.out, out)
    summary = {"input_points": layers[0].n, "output_points": out.n, "voxel": args.voxel, "device": device,
               "seconds": {k: round(v, 4) for k, v in ctx.stage_times.items()}, "out": str(Path(args.out))}
    print(json.dumps(summary) if args.json else f"{summary['input_points']:,} → {summary['output_points']:,} points, wrote {args.out}")
    return 0


TASK = Task("preprocess", "voxel downsampling + normal estimation of a point cloud", _add_run_args, _run_cli)
