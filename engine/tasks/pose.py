"""`run pose` / `eval pose`: 2-D + 3-D human pose from images or video, and COCO keypoint evaluation.

`run` writes a COCO result list (what pycocotools' `loadRes` takes: `image_id`, `category_id`,
`keypoints` as x,y,v triples, `score`) with the 3-D world landmarks in each entry's `extra`, and a sibling
NPZ with every array and its joint set named. `eval` prints AP from pycocotools plus PCK and pixel errors
as defined in engine/pose/metrics.py.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ..errors import InputError
from . import Task

TORCH_EXT = (".pt", ".pth", ".ts", ".jit", ".torchscript")


def load_pose_model(model: str | None, device: str, output: str = "heatmaps", joint_set: str = "coco17",
                    input_size: tuple[int, int] | None = None):
    """The built-in BlazePose model (torch), a TorchScript keypoint file, or a user adapter .py file."""
    from ..adapters import get_adapter, load_instance

    if model and model.lower().endswith(TORCH_EXT):
        from ..pose.torch_adapter import TorchKeypointAdapter

        ad = TorchKeypointAdapter(output=output, joint_set=joint_set, input_size=input_size)
        return load_instance(ad, model, device, model)
    import scenelens.engine.pose  # noqa: F401  (registers the built-in adapters)

    return get_adapter("pose", model, device, default="blazepose")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs=1, help="an image, a folder of images or a video")
    p.add_argument("--out", required=True, help="output COCO results JSON (a sibling .npz gets the 3-D joints)")
    p.add_argument("--every", type=int, default=1, help="video: process every N-th frame (default 1)")
    p.add_argument("--boxes", help="COCO person detections (JSON) for top-down multi-person estimation")
    p.add_argument("--box-score", type=float, default=0.3, help="minimum detection score for --boxes")
    p.add_argument("--model-output", choices=["heatmaps", "coords"], default="heatmaps",
                   help="TorchScript models: what the network returns")
    p.add_argument("--joint-set", default="coco17", help="TorchScript models: joint order of the output")
    p.add_argument("--input-size", help="TorchScript models: HxW network input, e.g. 256x192")
    p.add_argument("--no-track", action="store_true",
                   help="video: do not link people across frames (default: track IDs, PoseTrack-style output)")
    p.add_argument("--max-people", type=int, default=0, help="built-in model: at most N people per frame (0 = all)")
    p.add_argument("--det-score", type=float, default=0.5,
                   help="built-in model: person detector score threshold (default 0.5, MediaPipe's)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")


def _run_cli(args: argparse.Namespace) -> int:
    import numpy as np

    from ..atomic import save_npz
    from ..device import resolve_device
    from ..io.coco_keypoints import write_coco
    from ..jobs import cli_progress, run_sync
    from ..pose.run import load_boxes, make_job

    src = args.inputs[0]
    if args.every < 1:
        raise InputError(None, "--every must be ≥ 1")
    size = None
    if args.input_size:
        try:
            h, w = (int(v) for v in args.input_size.lower().split("x"))
            size = (h, w)
        except ValueError:
            raise InputError(None, f"--input-size must look like 256x192, got {args.input_size!r}") from None
    device = resolve_device(args.device)
    if args.max_people < 0:
        raise InputError(None, "--max-people must be ≥ 0")
    model = load_pose_model(args.model, device, args.model_output, args.joint_set, size)
    if not 0.0 < args.det_score <= 1.0:
        raise InputError(None, "--det-score must be in (0, 1]")
    if getattr(model, "pipe", None) is not None:
        model.max_people = model.pipe.max_people = args.max_people
        model.min_detection_confidence = model.pipe.min_detection_confidence = args.det_score
    boxes = load_boxes(args.boxes, args.box_score) if args.boxes else None
    bar = cli_progress("pose")
    try:
        run, ctx = run_sync(make_job(src, model, args.every, boxes, keep_images=False, track=not args.no_track), bar)
    finally:
        bar.close()
        if hasattr(model, "close"):
            model.close()
    out = Path(args.out)
    write_coco(out, run.results())
    npz = out.with_suffix(".npz")
    save_npz(npz, **run.arrays())
    n_people = sum(len(f.persons) for f in run.frames)
    model_s = ctx.stage_times.get("model", 0.0)
    summary = {"input": str(src), "kind": run.kind, "frames": len(run.frames), "people": n_people,
               "model": run.model, "device": device, "out": str(out), "npz": str(npz),
               "seconds": {k: round(v, 4) for k, v in ctx.stage_times.items()},
               "model_fps": round(len(run.frames) / model_s, 2) if model_s > 0 else None,
               "tracks": run.track_ids()}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{len(run.frames)} frame(s), {n_people} person(s) → {out} (+ {npz.name})")
    return 0


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", required=True, help="COCO keypoint results JSON (list) or a GT-format file")
    p.add_argument("--gt", required=True, help="COCO keypoint ground truth JSON")
    p.add_argument("--alpha", type=float, default=0.2, help="PCK threshold as a fraction of the torso size")
    p.add_argument("--all-images", action="store_true",
                   help="score every GT image (default: only the images the predictions cover)")
    p.add_argument("--json", action="store_true", help="print all metrics as JSON")


def _load_gt(path: Path) -> dict:
    from ..io.coco_keypoints import read_json

    d = read_json(path)
    if not isinstance(d, dict) or not isinstance(d.get("annotations"), list) or not isinstance(d.get("images"), list):
        raise InputError(path, "ground truth must be a COCO dict with 'images' and 'annotations'")
    for a in d["annotations"]:
        if "keypoints" not in a or "image_id" not in a or "bbox" not in a:
            raise InputError(path, f"annotation {a.get('id', '?')} lacks keypoints, image_id or bbox")
        if len(a["keypoints"]) != 51:
            raise InputError(path, f"annotation {a.get('id', '?')} has {len(a['keypoints'])} keypoint values, expected 51")
    d.setdefault("categories", [{"id": 1, "name": "person"}])
    return d


def _load_pred(path: Path) -> list[dict]:
    from ..io.coco_keypoints import read_json

    d = read_json(path)
    if isinstance(d, dict) and "annotations" in d:  # a GT-format file used as predictions
        d = [dict(a, score=a.get("score", 1.0)) for a in d["annotations"] if a.get("num_keypoints", 1) > 0]
    if not isinstance(d, list):
        raise InputError(path, "predictions must be a COCO result list")
    for r in d:
        if not isinstance(r, dict) or "image_id" not in r or "keypoints" not in r:
            raise InputError(path, "each prediction needs 'image_id' and 'keypoints'")
        if len(r["keypoints"]) != 51:
            raise InputError(path, f"a prediction for image {r['image_id']} has {len(r['keypoints'])} keypoint values, expected 51")
        r.setdefault("score", 1.0)
    return d


def _eval_cli(args: argparse.Namespace) -> int:
    from ..pose.evaluate import evaluate_coco

    if not 0 < args.alpha <= 1:
        raise InputError(None, f"--alpha must be in (0, 1] (a fraction of the torso size), not {args.alpha:g}")
    gt = _load_gt(Path(args.gt))
    pred = _load_pred(Path(args.pred))
    gt_ids = {im.get("id") for im in gt["images"]}
    if pred and not args.all_images and not any(r["image_id"] in gt_ids for r in pred):
        # e.g. a video's PoseTrack-style results (image_id = frame) against a COCO file: nothing to score
        ids = [str(i) for i in sorted({r["image_id"] for r in pred}, key=lambda i: (isinstance(i, str), str(i).zfill(20)))]
        raise InputError(Path(args.pred), f"none of its {len(pred)} predictions is on an image of {Path(args.gt).name} "
                                          f"(its image_ids: {', '.join(ids[:5])}{', …' if len(ids) > 5 else ''})")
    m = evaluate_coco(gt, pred, args.alpha, all_images=args.all_images)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in m.items()}))
    else:
        a = f"{args.alpha:g}"
        print(f"AP {m['AP']:.4f}  AP50 {m['AP50']:.4f}  AP75 {m['AP75']:.4f}  AR {m['AR']:.4f}")
        print(f"PCK@{a} {m[f'PCK@{a}']:.4f} (torso; bbox {m[f'PCK@{a}_bbox']:.4f}; matched only {m[f'PCK@{a}_matched']:.4f})")
        print(f"mean pixel error {m['mean_px_error']:.2f} px over {m['matched_people']}/{m['gt_people']} matched people "
              f"in {m['images']} image(s)")
    return 0


TASK = Task("pose", "2-D/3-D multi-person pose estimation and tracking (BlazePose on torch or your torch model) "
            "and COCO keypoint evaluation",
            _add_run_args, _run_cli, _add_eval_args, _eval_cli)
