"""`eval occupancy --dataset`: a folder of Occ3D frames scored frame by frame on the dataset runner
(engine/datasets.py: serial or Ray, resumable), then summed into one confusion matrix exactly as the
reference scripts do, so the numbers equal the single-process `eval occupancy --pred --gt` run's.

Layout: `--dataset GT_ROOT --pred PRED_ROOT`, or `--dataset ROOT` holding both a `gts`/`gt` and a
`preds`/`pred`/`predictions` folder. Frames are matched by sample token (the folder of an Occ3D
`labels.npz`, else the file stem); a ground-truth frame without a prediction is reported as a failed item.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

GT_DIRS = ("gts", "gt")
PRED_DIRS = ("preds", "pred", "predictions")


def frame_hist(pred: str | None, gt: str, proto: str, mask: str, fscore: bool = False, rayiou: bool = False) -> dict:
    """One frame's additive statistics (the per-item function): its confusion matrix `hist[gt, pred]` under
    the protocol and mask, and with `fscore`/`rayiou` that frame's F-score terms and RayIoU ray counts."""
    from .evaluate import _iso, check_label_set, gt_options, load_grid, ray_origins_for
    from .metrics import Confusion, eval_mask, protocol

    if pred is None:
        raise InputError(gt, "no prediction for this sample token")
    opts = gt_options(proto)
    gt_opts = {"role": "gt", **opts}
    if mask in ("camera", "lidar"):
        gt_opts["masks"] = (f"mask_{mask}",)
    pg = load_grid(pred, role="prediction", masks=(), **opts)
    gg = load_grid(gt, **gt_opts)
    check_label_set(pg, gg, proto)
    m = eval_mask(gg, mask, proto)
    h = Confusion(proto).add(pg.labels, gg.labels, m, where=str(pred))
    out = {"hist": h.tolist(), "pred": str(pred), "gt": str(gt)}
    pr = protocol(proto)
    if fscore:
        from .raymetrics import FScore

        out["fscore"] = list(FScore(void=(pr.free, 255)).add(pg.labels, gg.labels, m, gg.origin, gg.voxel_size))
    if rayiou:
        from .raymetrics import RayIoU

        r = RayIoU(pr.n_classes, pr.free)
        r.add(pg.labels, gg.labels, ray_origins_for(gg), _iso(gg), gg.origin)
        out["rayiou"] = {"gt": r.gt_cnt.tolist(), "pred": r.pred_cnt.tolist(), "tp": r.tp.tolist()}
    return out


def dataset_folders(dataset: str | Path, pred: str | Path | None) -> tuple[Path, Path]:
    root = Path(dataset)
    if not root.is_dir():
        raise InputError(root, "--dataset must be a folder of frames")
    if pred is not None:
        if not Path(pred).is_dir():
            raise InputError(pred, "with --dataset, --pred must be a folder of predictions")
        return Path(pred), root
    g = next((root / d for d in GT_DIRS if (root / d).is_dir()), None)
    p = next((root / d for d in PRED_DIRS if (root / d).is_dir()), None)
    if g is None or p is None:
        raise InputError(root, f"give --pred, or hold a ground-truth folder ({'/'.join(GT_DIRS)}) and a "
                               f"prediction folder ({'/'.join(PRED_DIRS)})")
    return p, g


def dataset_items(pred_dir: Path, gt_dir: Path, proto: str, mask: str, fscore: bool = False, rayiou: bool = False):
    from ..datasets import Item
    from .evaluate import _files

    gf, pf = _files(gt_dir), _files(pred_dir)
    if not gf:
        raise InputError(gt_dir, "folder holds no ground-truth grids (.npz, .label, .npy)")
    return [Item(k, (str(pf[k]) if k in pf else None, str(gf[k]), proto, mask, fscore, rayiou)) for k in sorted(gf)]


def evaluate_dataset(dataset, pred, proto: str = "occ3d", mask: str = "camera", workers: int = 1,
                     ray_address: str | None = None, results: str | Path | None = None, resume: bool = True,
                     per_frame: bool = False, progress: bool = True, fscore: bool = False, rayiou: bool = False) -> dict:
    """The protocol's metrics over every frame that scored (with `fscore`/`rayiou` also the challenge F-score
    and RayIoU, summed exactly as `evaluate` sums them), plus `failed` ({token: reason}) and `run`."""
    from ..datasets import run_items
    from .metrics import Confusion, metrics_from_hist, protocol
    from .raymetrics import FScore, RayIoU

    pred_dir, gt_dir = dataset_folders(dataset, pred)
    items = dataset_items(pred_dir, gt_dir, proto, mask, fscore, rayiou)
    run = run_items(frame_hist, items, workers=workers, ray_address=ray_address, results=results, resume=resume,
                    config={"task": "occupancy", "protocol": proto, "mask": mask, "pred": str(pred_dir.resolve()),
                            "gt": str(gt_dir.resolve()), "fscore": fscore, "rayiou": rayiou},
                    desc="frames", progress=progress)
    if not run.results:
        first = next(iter(run.failed.items()))
        raise InputError(gt_dir, f"no frame could be scored ({len(run.failed)} failed; first: {first[0]}: {first[1]})")
    conf = Confusion(proto)
    pr = protocol(proto)
    fs = FScore(void=(pr.free, 255)) if fscore else None
    ray = RayIoU(pr.n_classes, pr.free) if rayiou else None
    frames = []
    for key, r in run.results.items():  # item order: the same sum whatever order the workers finished in
        h = np.asarray(r["hist"], np.int64)
        conf.hist += h
        conf.n_frames += 1
        if fs is not None:
            acc, comp, f = r["fscore"]
            fs.acc, fs.comp, fs.f, fs.n_frames = fs.acc + acc, fs.comp + comp, fs.f + f, fs.n_frames + 1
        if ray is not None:
            ray.gt_cnt += np.asarray(r["rayiou"]["gt"])
            ray.pred_cnt += np.asarray(r["rayiou"]["pred"])
            ray.tp += np.asarray(r["rayiou"]["tp"])
            ray.n_frames += 1
        if per_frame:
            m = metrics_from_hist(h, proto)
            frames.append({"token": key, "pred": r["pred"], "gt": r["gt"], "miou": m["miou"],
                           "iou_geometry": m["iou_geometry"]})
    from .evaluate import assemble_result

    res = assemble_result(conf, mask, fs, ray, pr.label_set, frames if per_frame else None)
    res["failed"] = dict(run.failed)
    res["run"] = run.summary()
    return res


def add_dataset_eval_args(p) -> None:
    from ..datasets import add_dataset_args

    p.add_argument("--dataset", default=None, metavar="ROOT",
                   help="score a whole dataset frame by frame (ROOT = ground-truth folder with --pred, or a folder "
                        "holding gts/ and preds/); resumable, parallel with --workers")
    p.add_argument("--out", default=None,
                   help="with --dataset: write the metrics as JSON here and keep per-frame results beside it "
                        "(OUT.items.jsonl) so a rerun skips finished frames")
    add_dataset_args(p)


def eval_dataset_cli(args, mask: str) -> dict:
    """`eval occupancy --dataset`: metrics as a dict (the caller prints them); failures go to stderr."""
    import json
    import sys

    from ..atomic import write_text
    from ..datasets import results_path
    from .metrics import to_jsonable

    if args.gt is not None:
        raise InputError(args.gt, "--dataset replaces --gt (give the ground-truth root as --dataset)")
    res = evaluate_dataset(args.dataset, args.pred, args.labels, mask, workers=args.workers,
                           ray_address=args.ray_address, results=results_path(args.out) if args.out else None,
                           resume=not args.no_resume, per_frame=args.per_frame, progress=not args.json,
                           fscore=getattr(args, "fscore", False), rayiou=getattr(args, "rayiou", False))
    for key, why in res["failed"].items():
        print(f"frame {key} failed: {why}", file=sys.stderr)
    if args.out:
        write_text(args.out, json.dumps(to_jsonable(res), indent=1))
    return res
