"""Task "occupancy": LiDAR → semantic occupancy (`run`) and occupancy evaluation (`eval`).

`run` voxelises labelled LiDAR points (SemanticKITTI scans, nuScenes info files) into a chosen grid with a
per-voxel majority vote, optionally aggregating several frames with their poses, and ray-casts a LiDAR
visibility mask. A user's own model plugs in with `--model adapter.py` (the adapter gets the scene with
its camera images and returns a label grid), and its output is written exactly like a loaded prediction.
`eval` computes the reference metrics of the Occ3D challenge, SemanticKITTI SSC or SurroundOcc.
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from ..adapters import register_adapter
from ..errors import InputError
from ..jobs import Job, JobContext
from . import Task

# ---------------------------------------------------------------------------------------------- inputs


def read_poses(path: str | Path, calib: str | Path | None = None) -> np.ndarray:
    """Poses (T×4×4, sensor→world) from KITTI `poses.txt` (12 floats/line), 16 floats/line or `.npy`.

    With a KITTI `calib.txt`, camera-0 poses become velodyne poses: inv(Tr) · pose · Tr.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "poses file does not exist")
    if path.suffix == ".npy":
        P = np.load(path, allow_pickle=False).astype(float)
        if P.ndim != 3 or P.shape[1:] != (4, 4):
            raise InputError(path, f"expected T×4×4 poses, got {P.shape}")
    else:
        try:
            rows = np.loadtxt(path, ndmin=2)
        except ValueError as e:
            raise InputError(path, f"unreadable poses ({e})") from None
        if rows.shape[1] == 12:
            P = np.tile(np.eye(4), (len(rows), 1, 1))
            P[:, :3, :] = rows.reshape(-1, 3, 4)
        elif rows.shape[1] == 16:
            P = rows.reshape(-1, 4, 4)
        else:
            raise InputError(path, f"each line needs 12 (KITTI 3×4) or 16 numbers, found {rows.shape[1]}")
    if calib is not None:
        Tr = read_kitti_tr(calib)
        P = np.linalg.inv(Tr)[None] @ P @ Tr[None]
    return P


def read_kitti_tr(path: str | Path) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "calib file does not exist")
    for line in path.read_text().splitlines():
        if line.startswith("Tr:"):
            v = np.array(line.split()[1:], float)
            if v.size != 12:
                raise InputError(path, "Tr must have 12 numbers")
            T = np.eye(4)
            T[:3] = v.reshape(3, 4)
            return T
    raise InputError(path, "no 'Tr:' line (velodyne → cam0)")


def scan_from_scene(scene, grid_label_set: str, name: str, unlabeled_class: int | None = None, drop_classes=(),
                    warn=None, need_points: bool = True):
    """One loaded scene as a voxelisation Scan: its first point cloud, per-point labels (nuScenes boxes,
    a `label` attribute or the unlabelled class), the ego pose of nuScenes info files and the sensor origin.
    Shared by the CLI, the GUI and the Python API, so all three voxelise the same points the same way."""
    from ..occupancy.voxelize import Scan
    from ..scene import PointCloud

    pc = next((lay for lay in scene.layers if isinstance(lay, PointCloud)), None)
    if pc is None:
        if need_points:
            raise InputError(scene.path, "holds no point cloud (LiDAR occupancy needs points; a camera model "
                                         "given with --model takes camera-only scenes)")
        return Scan(np.zeros((0, 3)), np.zeros(0, np.int64), None, np.zeros(3), name)
    origin = np.asarray(pc.meta.get("sensor_origin", np.zeros(3)), float)
    pose = None
    if scene.meta.get("format") == "nuscenes-info":
        from ..io.nuscenes import box_corners_mask, label_points_from_boxes

        labels = label_points_from_boxes(scene).astype(np.int64)
        label_set = "occ3d"
        pose = np.asarray(scene.meta["ego2global"], float)
        # points in no box have no class (the info files carry no lidarseg): ignore, never 'others', and say so
        T = np.asarray(scene.meta.get("lidar2ego", np.eye(4)))
        outside = box_corners_mask((pc.points - T[:3, 3]) @ T[:3, :3], scene.meta.get("boxes") or []) < 0
        if outside.any():
            if unlabeled_class is None and warn is not None:
                warn(f"{scene.path}: {int(outside.sum()):,} LiDAR points lie in no annotated box and have no "
                     "lidarseg label; their voxels are 255 (ignore) — give --unlabeled-class C to assign a class")
            labels[outside] = 255 if unlabeled_class is None else unlabeled_class
    elif "label" in pc.attributes:
        labels = pc.attributes["label"].astype(np.int64)
        label_set = pc.label_set
    else:
        # unlabelled points never become a class silently: ignore (255) and a warning with the count
        if unlabeled_class is None and warn is not None:
            hint = " (an N×4 .npy of x, y, z, label: add --label-column 3)" if str(scene.path).endswith(".npy") else ""
            warn(f"{scene.path}: {pc.n:,} points have no labels; their voxels are 255 (ignore: occupied, class "
                 f"unknown){hint}; give --unlabeled-class C to assign a class")
        labels = np.full(pc.n, 255 if unlabeled_class is None else unlabeled_class, np.int64)
        label_set = grid_label_set
    if label_set != grid_label_set:
        raise InputError(scene.path, f"point labels are {label_set} classes but the grid uses {grid_label_set}; "
                                     f"pick --grid {label_set}")
    keep = ~np.isin(labels, np.asarray(list(drop_classes), np.int64))
    return Scan(pc.points[keep], labels[keep], pose, origin, name)


def scans_from_inputs(inputs: list[str], grid_label_set: str, poses: np.ndarray | None = None,
                      unlabeled_class: int | None = None, label_column: int | None = None, warn=None,
                      need_points: bool = True):
    """Load each input as (Scan, scene-or-None); labels must be in the grid's label set.

    `label_column` takes the labels from that column of an `.npy` array (N×4 x, y, z, label)."""
    from ..io import load

    scans, scenes = [], []
    for i, inp in enumerate(inputs):
        scene = load(inp)
        if label_column is not None:
            _labels_from_column(scene, inp, label_column, grid_label_set)
        scan = scan_from_scene(scene, grid_label_set, Path(inp).name, unlabeled_class, warn=warn,
                               need_points=need_points)
        if poses is not None:
            m = re.fullmatch(r"\d+", Path(inp).stem.split(".")[0])
            if len(poses) == len(inputs):
                scan.pose = poses[i]
            elif m and int(m.group(0)) < len(poses):
                scan.pose = poses[int(m.group(0))]
            else:
                raise InputError(inp, f"no pose for this scan ({len(poses)} poses for {len(inputs)} scans)")
        scans.append(scan)
        scenes.append(scene)
    return scans, scenes


def _labels_from_column(scene, inp, column: int, label_set: str) -> None:
    from ..scene import PointCloud

    if Path(inp).suffix != ".npy":
        raise InputError(inp, "--label-column applies to .npy point arrays")
    arr = np.load(inp, allow_pickle=False)
    if not 3 <= column < arr.shape[1]:
        raise InputError(inp, f"--label-column {column}: the array has {arr.shape[1]} columns (0-2 are x, y, z)")
    col = arr[:, column]
    if not np.all(col == np.round(col)) or col.min(initial=0) < 0 or col.max(initial=0) > 255:
        raise InputError(inp, f"column {column} does not hold class ids (whole numbers 0..255)")
    pc = next(lay for lay in scene.layers if isinstance(lay, PointCloud))
    pc.attributes["label"] = col.astype(np.int64)
    pc.label_set = label_set


# --------------------------------------------------------------------------------------------- adapter


@register_adapter("occupancy", "lidar")
class LidarVoteAdapter:
    """Built-in 'model': majority vote of labelled LiDAR points with ray-cast visibility."""

    def load(self, spec, device):
        self.device = device

    def predict(self, inputs, progress, cancel):
        from ..occupancy.voxelize import lidar_to_occupancy

        ctx = JobContext(progress, cancel_event=cancel)
        return lidar_to_occupancy(inputs["scans"], inputs["grid"], inputs.get("current"),
                                  inputs.get("visibility", True), device=self.device, ctx=ctx)


def adapter_output_to_grid(out, spec, source: str):
    """Accept what an adapter returns — a VoxelGrid, a label array, or {'labels', 'scores'} — as a prediction."""
    from ..scene import VoxelGrid

    if isinstance(out, VoxelGrid):
        g = out
    else:
        labels, scores = (out.get("labels"), out.get("scores")) if isinstance(out, dict) else (out, None)
        try:
            import torch

            if isinstance(labels, torch.Tensor):
                labels = labels.detach().cpu().numpy()
            if isinstance(scores, torch.Tensor):
                scores = scores.detach().cpu().numpy()
        except ImportError:
            pass
        labels = np.asarray(labels)
        if labels.shape != tuple(spec.shape):
            raise InputError(source, f"model returned a grid of shape {labels.shape}, expected {spec.shape}")
        g = spec.empty(f"prediction ({Path(source).name})", source)
        g.labels = labels.astype(np.uint8)
        if scores is not None:
            g.scores = np.asarray(scores, np.float32).reshape(spec.shape)
    g.meta.setdefault("role", "prediction")
    g.source = g.source or source
    return g


def make_run_job(scans, spec, current=None, visibility=True, device="cpu", adapter=None, scenes=None,
                 name="LiDAR occupancy") -> Job:
    def fn(ctx: JobContext):
        if adapter is None:
            from ..occupancy.voxelize import lidar_to_occupancy

            return lidar_to_occupancy(scans, spec, current, visibility, device=device, ctx=ctx, name=name)
        out = adapter.predict({"scans": scans, "scenes": scenes, "grid": spec, "current": current,
                               "visibility": visibility, "scene": (scenes or [None])[-1]},
                              ctx.progress, ctx.cancel_event)
        return adapter_output_to_grid(out, spec, getattr(adapter, "adapter_name", type(adapter).__name__))

    return Job(name, fn)


# ------------------------------------------------------------------------------------------------- CLI


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+",
                   help="a sequence (SurroundOcc own-data folder with pc/ pc_seman/ bbox/ calib/ pose/, "
                        "a SemanticKITTI sequence folder with poses.txt, or an mmdetection3d nuScenes info .pkl), "
                        "or labelled LiDAR scans (SemanticKITTI .bin + .label, .ply/.npy with labels)")
    p.add_argument("--out", required=True,
                   help="output grid: .npz (Occ3D semantics/mask_lidar/mask_camera), .label (SemanticKITTI voxels "
                        "+ .invalid) or .npy (SurroundOcc occupied-voxel list)")
    p.add_argument("--grid", default=None, choices=["occ3d", "semantickitti", "surroundocc"],
                   help="target grid (default: from the input: occ3d for nuScenes, surroundocc for the SurroundOcc "
                        "layout, semantickitti for KITTI)")
    p.add_argument("--origin", type=float, nargs=3, default=None, help="custom grid origin (m)")
    p.add_argument("--voxel-size", type=float, default=None, help="custom voxel size (m)")
    p.add_argument("--shape", type=int, nargs=3, default=None, help="custom grid shape")
    p.add_argument("--poses", default=None, help="poses file (KITTI poses.txt, 16 floats/line, or T×4×4 .npy)")
    p.add_argument("--calib", default=None, help="KITTI calib.txt: convert cam0 poses to velodyne poses")
    p.add_argument("--current", "--keyframe", dest="current", type=_keyframe, default=None,
                   help="index of the keyframe / current scan (default: last scan; first frame of a sequence); "
                        "'all': one ground-truth file per frame of a sequence, --out is then a folder")
    p.add_argument("--no-visibility", action="store_true", help="skip the ray-cast LiDAR visibility mask")
    p.add_argument("--no-camera-mask", action="store_true", help="sequences: skip the camera visibility mask")
    p.add_argument("--sweeps", action="store_true",
                   help="nuScenes infos: also accumulate the non-key LiDAR sweeps (lidar_sweeps) between keyframes, "
                        "their boxes interpolated between the enclosing keyframes")
    p.add_argument("--densify", nargs="?", const="auto", default=None, choices=("auto", "poisson", "closing"),
                   help="sequences: densify as SurroundOcc does (Poisson surface via Open3D; 'auto', the default "
                        "when given alone, falls back to 'closing' — one-voxel holes, never into ray-observed free "
                        "space — where Open3D does not import); the summary says which ran")
    p.add_argument("--ego-box", type=float, nargs=6, default=None, metavar=("XMIN", "YMIN", "ZMIN", "XMAX", "YMAX", "ZMAX"),
                   help="sequences: the ego vehicle's box in its ego frame (points inside are removed)")
    p.add_argument("--ground-layer", type=int, default=0,
                   help="sequences, Occ3D grid: layer k that holds the ground (ego z = 0); 0 as in the Occ3D "
                        "release; -1 keeps the metric range [-1, 5.4] m")
    p.add_argument("--unlabeled-class", type=int, default=None, help="class for unlabelled points (default: 255 ignore, with a warning)")
    p.add_argument("--nn-labels", type=float, default=0.0, metavar="METRES",
                   help="sequences: voxels with only unlabelled points take the nearest labelled voxel's class within "
                        "this distance (SurroundOcc's nearest-neighbour semantics; default off)")
    p.add_argument("--label-column", type=int, default=None, help=".npy scans: column holding the class id (e.g. 3)")
    p.add_argument("--checkpoint", default=None, help="weights for --model: passed to the adapter's load(spec, device)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")


def _keyframe(v: str):
    if v == "all":
        return v
    try:
        return int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"keyframe must be a frame index or 'all', got {v!r}") from None


def write_grid(out: Path, g) -> list[Path]:
    """Write a grid in the format the file name asks for; returns the files written."""
    from ..io.occ3d import write_occ3d
    from ..io.semantickitti_voxels import write_ssc
    from ..io.surroundocc import write_surroundocc

    out = Path(out)
    if out.suffix == ".label":
        if "invalid" not in g.masks and "mask_lidar" in g.masks:
            g.masks["invalid"] = ~g.masks["mask_lidar"]  # unobserved voxels are not evaluated (SSC .invalid)
        return write_ssc(out, g)
    if out.suffix == ".npz":
        write_occ3d(out, g)
        return [out]
    if out.suffix == ".npy":
        write_surroundocc(out, g)
        return [out]
    raise InputError(out, "output must end in .npz (Occ3D layout), .label (SemanticKITTI voxels) or .npy (SurroundOcc list)")


def _warn(msg: str) -> None:
    import sys

    print(f"warning: {msg}", file=sys.stderr)


def make_sequence_job(seq, spec, keyframe, **kw) -> Job:
    from ..occupancy.sequence import build_ground_truth

    return Job(f"Occupancy ground truth ({len(seq.frames)} frames)",
               lambda ctx: build_ground_truth(seq, spec, keyframe, ctx=ctx, **kw))


def sequence_spec(seq, grid: str | None = None, ground_layer: int = 0, overrides: dict | None = None):
    """The target grid of a sequence: the layout's own grid unless asked otherwise; Occ3D grids put the
    ground in `ground_layer` (−1: the metric range)."""
    from ..occupancy.grids import preset, with_overrides
    from ..occupancy.sequence import occ3d_ground_spec

    overrides = overrides or {}
    grid = grid or {"surroundocc": "surroundocc", "semantickitti": "semantickitti"}.get(seq.layout, "occ3d")
    spec = with_overrides(preset(grid), overrides)
    if grid == "occ3d" and overrides.get("origin") is None and ground_layer >= 0:
        spec = occ3d_ground_spec(spec, ground_layer)
    if spec.label_set != seq.label_set:
        raise InputError(seq.source, f"the sequence has {seq.label_set} labels; --grid {grid} uses {spec.label_set}")
    return spec


def _run_sequence(args, seq) -> int:
    from ..device import resolve_device
    from ..jobs import cli_progress, run_sync

    spec = sequence_spec(seq, args.grid, args.ground_layer,
                         {"origin": args.origin, "voxel_size": args.voxel_size, "shape": args.shape})
    device = resolve_device(args.device)
    if args.current == "all":
        return _run_sequence_all(args, seq, spec, device)
    key = 0 if args.current is None else args.current
    warnings: list[str] = []

    def warn(m):
        warnings.append(m)
        _warn(m)

    bar = cli_progress("ground truth")
    g, ctx = run_sync(make_sequence_job(seq, spec, key, ego_box=args.ego_box, densify=args.densify or False,
                                        unlabeled_class=args.unlabeled_class, nn_radius=args.nn_labels,
                                        camera_mask=not args.no_camera_mask, device=device, warn=warn), bar)
    bar.close()
    files = write_grid(Path(args.out), g)
    occ = g.occupied()
    summary = {"grid": spec.name, "layout": seq.layout, "shape": list(spec.shape), "origin": list(spec.origin),
               "voxel_size": list(spec.voxel_size), "frames": len(seq.keyframes),
               "sweeps": len(seq.frames) - len(seq.keyframes), "keyframe": key,
               "occupied": int(occ.sum()), "ignore": int((g.labels == 255).sum()),
               **{k: int(g.masks[k].sum()) for k in ("mask_lidar", "mask_camera") if k in g.masks},
               "ego_points_removed": g.meta["ego_points_removed"], "unlabeled_points": g.meta["unlabeled_points"],
               "instances": g.meta["instances"], **({"densify": g.meta["densify"]} if "densify" in g.meta else {}),
               "class_counts": {int(c): int(n) for c, n in zip(*np.unique(g.labels[occ], return_counts=True))},
               "warnings": warnings, "seconds": {k: round(v, 4) for k, v in ctx.stage_times.items()},
               "device": device, "out": [str(f) for f in files]}
    print(json.dumps(summary) if args.json else
          f"{summary['occupied']:,} occupied voxels"
          f"{' with a class, ' + format(summary['ignore'], ',') + ' more occupied with class unknown (255)' if summary['ignore'] else ''}"
          f" in a {'×'.join(map(str, spec.shape))} {spec.name} grid from "
          f"{len(seq.frames)} frame(s) ({seq.layout}), keyframe {key}; wrote {', '.join(summary['out'])}")
    return 0


def _run_sequence_all(args, seq, spec, device) -> int:
    """Ground truth for every frame: `<out>/<frame>.npz` (or the suffix of --out's name pattern)."""
    from ..jobs import cli_progress
    from ..occupancy.sequence import build_ground_truth

    out = Path(args.out)
    if out.suffix:
        raise InputError(out, "--keyframe all writes one file per frame: give a folder for --out")
    out.mkdir(parents=True, exist_ok=True)
    from ..occupancy.sequence import accumulate

    bar = cli_progress("ground truth")
    warned: set[str] = set()
    written = []
    n = len(seq.keyframes)
    acc = accumulate(seq, args.ego_box)  # once: every keyframe reuses the accumulated points
    for k, f in enumerate(seq.frames[i] for i in seq.keyframes):
        ctx = JobContext(lambda fr, m, k=k: bar((k + fr) / n, f"frame {k + 1}/{n}: {m}"))

        def warn(m):
            if m not in warned:
                warned.add(m)
                _warn(m)

        g = build_ground_truth(seq, spec, k, ego_box=args.ego_box, densify=args.densify or False,
                               unlabeled_class=args.unlabeled_class, camera_mask=not args.no_camera_mask,
                               device=device, ctx=ctx, warn=warn, nn_radius=args.nn_labels, acc=acc)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", f.name) or f"{k:06d}"
        written += write_grid(out / f"{name}.npz", g)
    bar.close()
    summary = {"frames": n, "sweeps": len(seq.frames) - n, "layout": seq.layout, "grid": spec.name,
               "out": [str(f) for f in written],
               "warnings": sorted(warned)}
    print(json.dumps(summary) if args.json else f"wrote {len(written)} ground-truth frame(s) to {out}")
    return 0


def _load_model(model: str, checkpoint: str | None, device: str):
    """The adapter named by --model, loaded with --checkpoint as its `spec` (weights path)."""
    from ..adapters import builtin_adapters, get_adapter, load_adapter_file, load_instance

    if checkpoint is None:
        return get_adapter("occupancy", model, device)
    if not Path(checkpoint).is_file():
        raise InputError(checkpoint, "checkpoint file does not exist")
    if model.endswith(".py") or "/" in model:
        cls = load_adapter_file(model)
    else:
        reg = builtin_adapters("occupancy")
        if ("occupancy", model) not in reg:
            raise InputError(None, f"unknown model {model!r} for task 'occupancy'")
        cls = reg[("occupancy", model)]
    return load_instance(cls(), str(checkpoint), device, f"{model} ({Path(checkpoint).name})")


def _run_cli(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..jobs import cli_progress, run_sync
    from ..occupancy.grids import preset, with_overrides

    use_model = getattr(args, "model", None) and args.model != "lidar"
    if len(args.inputs) == 1 and not use_model and args.poses is None:
        from ..occupancy.sequence import detect_sequence

        seq = detect_sequence(args.inputs[0], sweeps=args.sweeps)
        if seq is not None:
            return _run_sequence(args, seq)
    first = Path(args.inputs[0])
    grid = args.grid or ("occ3d" if use_model or first.suffix == ".pkl" or str(first).endswith(".pcd.bin")
                         else "semantickitti")
    spec = with_overrides(preset(grid), {"origin": args.origin, "voxel_size": args.voxel_size, "shape": args.shape})
    poses = read_poses(args.poses, args.calib) if args.poses else None
    scans, scenes = scans_from_inputs(args.inputs, spec.label_set, poses, args.unlabeled_class,
                                      args.label_column, warn=_warn, need_points=not use_model)
    if args.current == "all":
        raise InputError(None, "--keyframe all needs a sequence (a SurroundOcc/SemanticKITTI folder or an info .pkl)")
    if args.current is not None and not 0 <= args.current < len(scans):
        raise InputError(None, f"--current {args.current} out of range (0..{len(scans) - 1})")
    device = resolve_device(args.device)
    adapter = None
    if use_model:
        adapter = _load_model(args.model, args.checkpoint, device)
    bar = cli_progress("occupancy")
    g, ctx = run_sync(make_run_job(scans, spec, args.current, not args.no_visibility, device, adapter, scenes), bar)
    bar.close()
    out = Path(args.out)
    files = write_grid(out, g)
    occ = g.occupied()
    summary = {"grid": spec.name, "shape": list(spec.shape), "scans": len(scans), "occupied": int(occ.sum()),
               "observed": int(g.masks["mask_lidar"].sum()) if "mask_lidar" in g.masks else None,
               "class_counts": {int(c): int(n) for c, n in zip(*np.unique(g.labels[occ], return_counts=True))},
               "seconds": {k: round(v, 4) for k, v in ctx.stage_times.items()}, "device": device,
               "out": str(out), "files": [str(f) for f in files]}
    print(json.dumps(summary) if args.json else
          f"{summary['occupied']:,} occupied voxels in a {'×'.join(map(str, spec.shape))} {spec.name} grid, wrote {out}")
    return 0


def _add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pred", default=None, help="prediction file or folder")
    p.add_argument("--gt", default=None, help="ground-truth file or folder (matching names / sample tokens)")
    p.add_argument("--mask", default=None, choices=["camera", "lidar", "none"],
                   help="Occ3D visibility mask (default camera for occ3d, none otherwise)")
    p.add_argument("--labels", default="occ3d", choices=["occ3d", "semantickitti", "surroundocc"],
                   help="metric protocol and class table")
    p.add_argument("--per-frame", action="store_true", help="also list each frame's mIoU")
    p.add_argument("--fscore", action="store_true", help="also the Occ3D challenge F-score (0.4 m, KD-tree both ways)")
    p.add_argument("--rayiou", action="store_true",
                   help="also SparseOcc's RayIoU@1/2/4 m (rays from the frame's LiDAR origin)")
    p.add_argument("--json", action="store_true", help="print JSON (keys miou, iou_geometry, per_class)")
    p.add_argument("--csv", default=None, help="also write per-class IoU as CSV")
    from ..occupancy.dataset import add_dataset_eval_args

    add_dataset_eval_args(p)  # --dataset, --out, --workers, --ray-address, --no-resume


def _eval_cli(args: argparse.Namespace) -> int:
    from ..jobs import cli_progress, run_sync
    from ..occupancy.evaluate import evaluate, match_pairs
    from ..occupancy.export import write_metrics_csv
    from ..occupancy.metrics import to_jsonable

    mask = args.mask or ("camera" if args.labels == "occ3d" else "none")
    if args.dataset:
        from ..occupancy.dataset import eval_dataset_cli

        res = eval_dataset_cli(args, mask)
    else:
        if args.pred is None or args.gt is None:
            raise InputError(None, "give --pred and --gt (files or folders), or --dataset ROOT")
        pairs = match_pairs(args.pred, args.gt)
        bar = cli_progress("eval")
        res, _ = run_sync(Job("eval", lambda ctx: evaluate(pairs, args.labels, mask, ctx, per_frame=args.per_frame,
                                                             fscore=args.fscore, rayiou=args.rayiou)),
                          bar)
        bar.close()
    if args.csv:
        write_metrics_csv(args.csv, res)
    if args.json:
        print(json.dumps(to_jsonable(res)))
        return 1 if res.get("failed") else 0
    print(f"{res['protocol']} metrics over {res['n_frames']} frame(s), mask={mask}")
    for name, v in res["per_class"].items():
        print(f"  {name:<22s} {'   nan' if v is None else f'{v:6.2f}'}")
    print(f"mIoU          {res['miou']:.2f}")
    print(f"geometry IoU  {res['iou_geometry']:.2f}")
    if "precision" in res:
        print(f"precision     {res['precision']:.2f}\nrecall        {res['recall']:.2f}")
    if res.get("fscore") is not None:
        print(f"F-score       {res['fscore']:.2f}  (accuracy {res['fscore_accuracy']:.2f}, "
              f"completeness {res['fscore_completeness']:.2f})")
    if res.get("rayiou") is not None:
        print(f"RayIoU        {res['rayiou']:.2f}  (@1 m {res['rayiou@1']:.2f}, @2 m {res['rayiou@2']:.2f}, "
              f"@4 m {res['rayiou@4']:.2f})")
    if res.get("frames"):
        print("per frame:")
        for fr in res["frames"]:
            print(f"  {Path(fr['pred']).name:<40s} mIoU {fr['miou']:6.2f}  geometry IoU {fr['iou_geometry']:6.2f}")
    return 1 if res.get("failed") else 0  # --dataset: metrics over the frames that scored; failures on stderr


TASK = Task("occupancy", "LiDAR → semantic occupancy (majority vote, ray-cast visibility) and occupancy metrics",
            _add_run_args, _run_cli, _add_eval_args, _eval_cli)
