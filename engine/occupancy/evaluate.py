"""Evaluate prediction grids against ground truth, one file pair or two folders of matching names.

Frames are read on a small thread pool (npz inflation releases the GIL) while the confusion matrix is
accumulated on the calling thread, so a folder of frames is I/O-bound rather than Python-bound.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext
from ..scene import VoxelGrid
from .metrics import Confusion, eval_mask

GRID_EXT = (".npz", ".label", ".npy")


def load_grid(path, **opts) -> VoxelGrid:
    """Read a grid; the evaluation's own formats skip format detection (it probes every reader per file)."""
    from ..io import load_layers

    p = Path(path)
    if p.is_file():
        if p.suffix == ".npz":
            from ..io.occ3d import read_occ_npz

            return read_occ_npz(p, **opts)
        if p.suffix == ".label" and p.stat().st_size == 256 * 256 * 32 * 2:
            from ..io.semantickitti_voxels import read_ssc

            return read_ssc(p, **opts)

    grids = [g for g in load_layers(path, **opts) if isinstance(g, VoxelGrid)]
    if not grids:
        raise InputError(path, "holds no voxel grid")
    return grids[0]


def _key(p: Path) -> str:
    return p.parent.name if p.stem == "labels" else p.stem


def _files(folder: Path) -> dict[str, Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in GRID_EXT]
    labels_first = {}
    for p in sorted(files):
        k = _key(p)
        # a SemanticKITTI set shares one stem: prefer its .label over .bin/.invalid
        if k not in labels_first or p.suffix == ".label":
            labels_first[k] = p
    return labels_first


def match_pairs(pred: str | Path, gt: str | Path) -> list[tuple[Path, Path]]:
    """(pred, gt) file pairs: two files, or two folders matched by sample token / file stem."""
    pred, gt = Path(pred), Path(gt)
    for p in (pred, gt):
        if not p.exists():
            raise InputError(p, "no such file or folder")
    if pred.is_file() and gt.is_file():
        return [(pred, gt)]
    if pred.is_dir() != gt.is_dir():
        raise InputError(pred, "--pred and --gt must both be files or both be folders")
    pf, gf = _files(pred), _files(gt)
    if not gf:
        raise InputError(gt, "folder holds no ground-truth grids (.npz, .label, .npy)")
    missing = sorted(set(gf) - set(pf))
    if missing:
        raise InputError(pred, f"{len(missing)} ground-truth frame(s) have no prediction, e.g. {missing[0]!r}")
    return [(pf[k], gf[k]) for k in sorted(gf)]


def gt_options(proto: str) -> dict:
    return {"grid": "surroundocc"} if proto == "surroundocc" else {}


def evaluate(pairs: list[tuple[Path, Path]], proto: str = "occ3d", mask: str = "camera",
             ctx: JobContext | None = None, workers: int = 2, per_frame: bool = False,
             fscore: bool = False, rayiou: bool = False, ray_origins=None) -> dict:
    """Accumulate one confusion matrix over all pairs and return the protocol's metrics (percent);
    optionally the challenge F-score and SparseOcc's RayIoU (engine.occupancy.raymetrics)."""
    from .metrics import protocol
    from .raymetrics import FScore, RayIoU

    ctx = ctx or JobContext()
    conf = Confusion(proto)
    pr = protocol(proto)
    fs = FScore(void=(pr.free, 255)) if fscore else None
    ray = RayIoU(pr.n_classes, pr.free) if rayiou else None
    frames = []
    pred_opts = {"role": "prediction", "masks": (), **gt_options(proto)}
    gt_opts = {"role": "gt", **gt_options(proto)}
    if mask in ("camera", "lidar"):
        gt_opts["masks"] = (f"mask_{mask}",)

    def read(pair):
        p, g = pair
        return load_grid(p, **pred_opts), load_grid(g, **gt_opts)

    n = len(pairs)
    from ..io import readers

    readers()  # discover reader modules on this thread: discovery in engine.io is not thread-safe
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        # bounded look-ahead: at most 2×workers frames in memory
        it = iter(pairs)
        pending = [pool.submit(read, pr) for _, pr in zip(range(2 * workers), it)]  # range first: zip must not drop an item
        done = 0
        while pending:
            fut = pending.pop(0)
            pg, gg = fut.result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(read, nxt))
            check_label_set(pg, gg, proto)
            m = eval_mask(gg, mask, proto)
            h = conf.add(pg.labels, gg.labels, m, where=pg.source)
            if fs is not None:
                fs.add(pg.labels, gg.labels, m, gg.origin, gg.voxel_size)
            if ray is not None:
                ray.add(pg.labels, gg.labels, ray_origins_for(gg, ray_origins), _iso(gg), gg.origin)
            if per_frame:
                from .metrics import metrics_from_hist

                r = metrics_from_hist(h, proto)
                frames.append({"pred": pg.source, "gt": gg.source, "miou": r["miou"], "iou_geometry": r["iou_geometry"]})
            done += 1
            ctx.progress(done / n, f"{done}/{n} frames")
    return assemble_result(conf, mask, fs, ray, protocol(proto).label_set, frames if per_frame else None)


def assemble_result(conf, mask, fs, ray, label_set: str, frames: list | None) -> dict:
    """The metrics dict of a sequence or dataset eval from its accumulators (confusion, F-score, RayIoU);
    shared by `evaluate_sequence` and the dataset runner so both report the same keys."""
    res = conf.result()
    res["mask"] = mask
    res["hist"] = conf.hist
    if fs is not None:
        res.update(fs.result())
    if ray is not None:
        from ..labels import get_label_set

        res.update(ray.result(get_label_set(label_set).names))
    if frames is not None:
        res["frames"] = frames
    return res


def _iso(g: VoxelGrid) -> float:
    vs = np.asarray(g.voxel_size, float)
    if not np.allclose(vs, vs[0]):
        raise InputError(g.source or g.name, f"RayIoU needs cubic voxels, the grid has {tuple(vs)}")
    return float(vs[0])


def ray_origins_for(gt: VoxelGrid, origins=None) -> np.ndarray:
    """Ray origins for RayIoU: given ones (K×3, grid frame), the grid's stored `ray_origins`, or the frame's own
    LiDAR: nuScenes LIDAR_TOP in the ego frame for ego grids, the sensor (0, 0, 0) for LiDAR-frame grids."""
    from .raymetrics import NUSCENES_LIDAR_ORIGIN_EGO

    if origins is not None:
        return np.asarray(origins, float).reshape(-1, 3)
    if "ray_origins" in gt.meta:
        return np.asarray(gt.meta["ray_origins"], float).reshape(-1, 3)
    return np.asarray([NUSCENES_LIDAR_ORIGIN_EGO if (gt.frame or "ego") == "ego" else (0.0, 0.0, 0.0)], float)


def check_label_set(pred: VoxelGrid, gt: VoxelGrid, proto: str) -> None:
    """Refuse a protocol whose class table does not fit the files (e.g. --labels semantickitti on Occ3D)."""
    from .metrics import protocol

    want = protocol(proto).label_set
    for g, role in ((gt, "ground truth"), (pred, "prediction")):
        if g.label_set and g.label_set != want:
            raise InputError(g.source or g.name, f"{role} holds {g.label_set} classes but --labels {proto} "
                                                 f"scores {want} classes; pick --labels "
                                                 f"{'semantickitti' if g.label_set == 'semantickitti' else 'occ3d'}")
    if pred.shape != gt.shape:
        raise InputError(pred.source or pred.name, f"prediction grid {pred.shape} differs from ground truth {gt.shape}")
    pv, gv = np.asarray(pred.voxel_size, float), np.asarray(gt.voxel_size, float)
    if not np.allclose(pv, gv, rtol=1e-6, atol=1e-9):
        # same shape, other geometry (a SurroundOcc 0.5 m grid against an Occ3D 0.4 m one): the voxels do not
        # cover the same space, so a voxel-by-voxel score would be meaningless
        def fmt(v):
            return f"{v[0]:g} m" if np.allclose(v, v[0]) else "×".join(f"{x:g}" for x in v) + " m"

        raise InputError(pred.source or pred.name,
                         f"prediction voxels are {fmt(pv)}{_grid_name(pred)}, ground truth voxels {fmt(gv)}"
                         f"{_grid_name(gt)}: the grids do not cover the same space voxel for voxel")


def _grid_name(g: VoxelGrid) -> str:
    fmt = g.meta.get("format") or g.meta.get("grid")
    return f" ({fmt})" if fmt else ""


def evaluate_grids(pred: VoxelGrid, gt: VoxelGrid, proto: str, mask: str = "camera") -> dict:
    """Metrics for one in-memory pair (the GUI's IoU table)."""
    check_label_set(pred, gt, proto)
    conf = Confusion(proto)
    conf.add(pred.labels, gt.labels, eval_mask(gt, mask, proto), where=pred.source or pred.name)
    res = conf.result()
    res["mask"] = mask
    res["hist"] = conf.hist
    return res


def make_eval_job(pairs, proto="occ3d", mask="camera", per_frame: bool = False) -> Job:
    return Job(f"Evaluate occupancy ({len(pairs)} frame(s), {proto})",
               lambda ctx: evaluate(pairs, proto, mask, ctx, per_frame=per_frame))
