"""`run pose3d`: 3-D people from synchronised calibrated views (engine/pose/multiview.py).

    main.py run pose3d VIEW… --calib FILE --out DIR [--model M] [--every N] [--threshold 15] [--min-cameras 2]
        [--binning 1]

Each VIEW is a video (2-D people from the pose model, frame by frame) or a COCO/PoseTrack result JSON
already computed for that view (`image_id` = frame index). Views map to the calibration's cameras by name
when every camera name appears in exactly one file name, otherwise in order. Writes DIR/pose3d.npz
(joints T×P×17×3 in metres, NaN where missing, track IDs, per-joint reprojection error, the cameras), one
OpenSim TRC
per track (DIR/track_<id>.trc) and DIR/metrics.json (median and per-joint reprojection error in pixels).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from . import Task


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", help="one video or 2-D result JSON per camera")
    p.add_argument("--calib", required=True,
                   help="Pose2Sim .toml, Qualisys .qca.txt, OpenCV .yml/.xml, Panoptic .json calibration or a SceneLens "
                        "scene manifest (.json) with cameras")
    p.add_argument("--binning", type=int, default=1, help="Qualisys .qca.txt: pixel binning factor (default 1)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--every", type=int, default=1, help="videos: every N-th frame")
    p.add_argument("--threshold", type=float, default=15.0,
                   help="reprojection error (px) above which a view is dropped for a joint (default 15)")
    p.add_argument("--min-cameras", type=int, default=2, help="views a joint needs (default 2)")
    p.add_argument("--fps", type=float, default=0.0, help="frame rate for the TRC files (default: the videos')")
    p.add_argument("--json", action="store_true", help="print a JSON summary")


def _views_from_json(path: Path):
    import numpy as np

    from ..io.coco_keypoints import read_json

    d = read_json(path)
    if not isinstance(d, list):
        raise InputError(path, "2-D input must be a COCO/PoseTrack result list")
    frames: dict[int, list] = {}
    for r in d:
        if not isinstance(r, dict) or "image_id" not in r or len(r.get("keypoints", [])) != 51:
            raise InputError(path, "each entry needs 'image_id' and 51 'keypoints' values (COCO-17)")
        k = np.asarray(r["keypoints"], float).reshape(17, 3)
        s = np.asarray(r.get("keypoint_scores", (k[:, 2] > 0).astype(float)), float)
        frames.setdefault(int(r["image_id"]), []).append((k[:, :2], s))
    return frames, 0.0


def _views_from_video(path: Path, model, every: int):
    from ..jobs import JobContext
    from ..pose.run import estimate

    run = estimate(path, model, JobContext(), every, keep_images=False, track=False)
    return {k: [(q.coco, q.coco_scores) for q in f.persons] for k, f in enumerate(run.frames)}, run.fps


def _run_cli(args: argparse.Namespace) -> int:
    import numpy as np

    from ..atomic import save_npz, write_text
    from ..pose.joints import COCO17
    from ..pose.multiview import associate, read_calibration, track_people, triangulate, write_trc

    cams = read_calibration(args.calib, getattr(args, "binning", 1))
    if args.min_cameras < 2:
        raise InputError(None, "--min-cameras must be ≥ 2")
    if args.min_cameras > len(cams):
        raise InputError(Path(args.calib), f"--min-cameras {args.min_cameras} but the calibration has "
                                           f"{len(cams)} cameras")
    if not args.threshold > 0:
        raise InputError(None, f"--threshold must be a positive number of pixels, not {args.threshold:g}")
    if args.fps < 0 or args.fps != args.fps:
        raise InputError(None, f"--fps must be positive (0 = the videos' rate), not {args.fps:g}")
    if len(args.inputs) != len(cams):
        raise InputError(Path(args.calib), f"{len(cams)} cameras but {len(args.inputs)} view(s) given")
    paths = [Path(p) for p in args.inputs]
    for p in paths:
        if not p.exists():
            raise InputError(p, "no such file")
    by_name = [[c for c in cams if c.name in p.stem] for p in paths]
    if all(len(b) == 1 for b in by_name) and len({b[0].name for b in by_name}) == len(cams):
        cams = [b[0] for b in by_name]
    model = None
    views, fps = [], args.fps
    for p in paths:
        if p.suffix.lower() == ".json":
            v, f = _views_from_json(p)
        else:
            if model is None:
                from ..device import resolve_device
                from .pose import load_pose_model

                model = load_pose_model(args.model, resolve_device(args.device))
            v, f = _views_from_video(p, model, args.every)
        views.append(v)
        fps = fps or f
    n_frames = max(max(v) + 1 if v else 0 for v in views)
    if n_frames == 0:
        raise InputError(paths[0], "no people in any view")
    people3d, errs3d, nviews = [], [], []
    for t in range(n_frames):
        per_view = [v.get(t, []) for v in views]
        groups = associate(per_view, cams, min_cameras=args.min_cameras)
        frame_people, frame_err, frame_n = [], [], []
        for g in groups:
            kps = np.full((len(cams), 17, 2), np.nan)
            conf = np.zeros((len(cams), 17))
            for c, i in enumerate(g):
                if i is not None:
                    kps[c], conf[c] = per_view[c][i]
            X, e, used = triangulate(kps, conf, cams, args.threshold, args.min_cameras)
            if np.isfinite(X).all(1).sum() >= 3:
                frame_people.append(X)
                frame_err.append(e)
                frame_n.append(used.sum(0))
        people3d.append(frame_people)
        errs3d.append(frame_err)
        nviews.append(frame_n)
    ids = track_people(people3d)
    tracks = sorted({i for f in ids for i in f})
    P = len(tracks)
    joints = np.full((n_frames, P, 17, 3), np.nan)
    err = np.full((n_frames, P, 17), np.nan)
    nv = np.zeros((n_frames, P, 17), np.int64)
    for t in range(n_frames):
        for X, e, n, i in zip(people3d[t], errs3d[t], nviews[t], ids[t]):
            s = tracks.index(i)
            joints[t, s], err[t, s], nv[t, s] = X, e, n
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_npz(out / "pose3d.npz", joints=joints, confidence=np.isfinite(joints).all(-1).astype(float),
             reprojection_error_px=err, views_used=nv,
             track_ids=np.array(tracks, np.int64), joint_set=np.array("coco17"), units=np.array("m"),
             cameras=np.array([c.name for c in cams]), fps=np.array(float(fps)),
             # the rig, so the result opens with its cameras drawn and reprojected (engine/io/h36m.py)
             cam_K=np.array([c.K for c in cams]), cam_R=np.array([c.R for c in cams]),
             cam_t=np.array([c.t for c in cams]), cam_dist=np.array([c.dist for c in cams]),
             cam_size=np.array([c.size for c in cams], np.int64),
             # each camera's input, so the result opens on the videos (engine/io/h36m.py), and the video
             # frame of every result frame (--every)
             views=np.array([str(p.resolve()) for p in paths]),
             view_frames=np.arange(n_frames, dtype=np.int64) * max(1, args.every))
    trcs = []
    for s, i in enumerate(tracks):
        f = out / f"track_{i}.trc"
        write_trc(f, joints[:, s], list(COCO17.names), fps or 30.0)
        trcs.append(str(f))
    finite = err[np.isfinite(err)]
    per_joint = {n: (float(np.nanmedian(err[..., j])) if np.isfinite(err[..., j]).any() else None)
                 for j, n in enumerate(COCO17.names)}
    metrics = {"frames": n_frames, "tracks": tracks, "cameras": [c.name for c in cams],
               "median_reprojection_px": float(np.median(finite)) if finite.size else None,
               "per_joint_median_reprojection_px": per_joint,
               "joints_triangulated": int(np.isfinite(joints).all(-1).sum()),
               "mean_views_per_joint": float(nv[nv > 0].mean()) if (nv > 0).any() else 0.0,
               "threshold_px": args.threshold, "min_cameras": args.min_cameras}
    write_text(out / "metrics.json", json.dumps(metrics, indent=1))
    summary = dict(metrics, out=str(out), trc=trcs)
    summary.pop("per_joint_median_reprojection_px")
    if args.json:
        print(json.dumps(summary))
    else:
        med = metrics["median_reprojection_px"]
        print(f"{n_frames} frame(s), {P} track(s), median reprojection "
              f"{'–' if med is None else f'{med:.2f}'} px → {out}")
    return 0


TASK = Task("pose3d", "3-D people from synchronised calibrated views (triangulation, tracks, TRC)",
            _add_run_args, _run_cli)
