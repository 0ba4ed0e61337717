"""`scenelens figure GRID|FOLDER --out PNG|DIR`: paper-style occupancy figures (white background, cube edges,
the palettes of the nuScenes devkit, Occ3D, SurroundOcc and TPVFormer, fixed views that frame the whole
grid), one file or a folder of frames rendered from one saved viewpoint.

The drawing itself lives in gui/render.py (VTK, shared with the 3D view); this verb only parses options
and hands over, so engine/ still imports no GUI toolkit at module level.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from . import Command

PALETTES = ("nuscenes", "occ3d", "surroundocc", "tpvformer", "semantickitti")
VIEWS = ("iso", "top", "bev", "front", "side")


def _size(s: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in s.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WxH, got {s!r}") from None
    if not (16 <= w <= 8192 and 16 <= h <= 8192):
        raise argparse.ArgumentTypeError("size must be between 16 and 8192 pixels per side")
    return w, h


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="an occupancy grid (Occ3D .npz, SurroundOcc .npy, SemanticKITTI .label) or a folder of them")
    p.add_argument("--out", required=True, help="PNG for one grid; a folder for a folder (one PNG per frame + viewpoint.json)")
    p.add_argument("--view", default="iso", choices=VIEWS, help="fixed paper view framing the whole grid")
    p.add_argument("--palette", default="nuscenes", choices=PALETTES, help="class colours (default: nuScenes devkit)")
    p.add_argument("--size", type=_size, default=(1600, 1000), help="WxH pixels")
    p.add_argument("--camera", default=None, help="viewpoint JSON (from --save-camera or a batch's viewpoint.json)")
    p.add_argument("--save-camera", default=None, help="write the viewpoint used as JSON")
    p.add_argument("--mask", default=None, choices=["camera", "lidar"], help="draw only voxels inside this mask")
    p.add_argument("--no-edges", action="store_true", help="no black cube edges")
    p.add_argument("--no-ego", action="store_true", help="do not draw the ego car")
    p.add_argument("--show-ignore", action="store_true", help="also draw ignore (255) voxels, in grey")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


def _run(args: argparse.Namespace) -> int:
    src = Path(args.path)
    if not src.exists():
        raise InputError(src, "no such file or folder")
    camera = None
    if args.camera:
        try:
            camera = json.loads(Path(args.camera).read_text())
        except (OSError, ValueError) as e:
            raise InputError(args.camera, f"unreadable viewpoint JSON ({e})") from None
        ok = isinstance(camera, dict) and all(
            isinstance(camera.get(k), list) and len(camera[k]) == 3 and all(isinstance(v, (int, float)) for v in camera[k])
            for k in ("position", "focal_point", "view_up"))
        if not ok:
            raise InputError(args.camera, "a viewpoint needs position, focal_point and view_up, 3 numbers each")
    from scenelens.gui.render import render_figures  # VTK is loaded only when a figure is drawn

    files, cam = render_figures(src, args.out, args.size, args.view, args.palette, camera, not args.no_edges,
                                args.mask, not args.no_ego, show_ignore=args.show_ignore)
    if args.save_camera:
        Path(args.save_camera).write_text(json.dumps(cam, indent=1))
    summary = {"files": [str(f) for f in files], "view": args.view, "palette": args.palette, "size": list(args.size)}
    print(json.dumps(summary) if args.json else f"wrote {len(files)} figure(s): {files[0]}{' …' if len(files) > 1 else ''}")
    return 0


COMMAND = Command("figure", "paper-style occupancy figures (white, cube edges, paper palettes, fixed views; "
                            "folders with one viewpoint)", _add_args, _run)
