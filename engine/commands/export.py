"""`scenelens export SCENE|PROJECT --to OUT`: a scene, folder, manifest or `.slproj` project as a Rerun
recording (`.rrd`, every layer), or one voxel grid as a mesh (`.ply`, `.glb`, `.gltf`, `.obj`, `.stl`, `.off`)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InputError
from . import Command


def _add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="scene file, folder, scene manifest or .slproj project")
    p.add_argument("--to", required=True, metavar="OUT",
                   help="out.rrd (Rerun recording of all layers) or a mesh of one voxel grid: .ply .glb .gltf .obj")
    p.add_argument("--layer", default=None, help="mesh export: the voxel grid layer (name or uid; default: the first)")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


def _run(args: argparse.Namespace) -> int:
    from ..interop import MESH_SUFFIXES
    from ..session import Session

    src = Path(args.path)
    if not src.exists():
        raise InputError(src, "no such file or folder")
    out = Path(args.to)
    suffix = out.suffix.lower()
    if suffix != ".rrd" and suffix not in MESH_SUFFIXES:
        raise InputError(out, f"unknown export format {suffix or '(none)'!r}: use .rrd or a mesh "
                              f"({', '.join(MESH_SUFFIXES)})")
    scene = Session.open(src, device="cpu").scene
    try:
        return _write(args, scene, src, out, suffix)
    except OSError as e:  # an unwritable folder, a full disk: one line, not a traceback
        raise InputError(out, f"cannot write ({e.strerror or e})") from None


def _write(args, scene, src: Path, out: Path, suffix: str) -> int:
    from ..interop import write_mesh, write_rrd
    from ..scene import VoxelGrid

    if suffix == ".rrd":
        logged = write_rrd(scene, out)
        summary = {"out": str(out), "format": "rerun", "entities": logged, "bytes": out.stat().st_size}
        text = f"wrote {out} ({len(logged)} entities, {out.stat().st_size / 1e6:.1f} MB)"
        skipped = [f"  {k}: {v}" for k, v in logged.items() if v.startswith("skipped")]
        if skipped:
            text += "\n" + "\n".join(skipped)
    else:
        grids = [lay for lay in scene.layers if isinstance(lay, VoxelGrid)]
        if args.layer is not None:
            grid = scene.get(args.layer)
            if not isinstance(grid, VoxelGrid):
                raise InputError(src, f"no voxel grid layer {args.layer!r} (grids: "
                                      f"{', '.join(g.name for g in grids) or 'none'})")
        elif grids:
            grid = grids[0]
        else:
            raise InputError(src, "holds no voxel grid to export as a mesh")
        n = write_mesh(grid, out)
        summary = {"out": str(out), "format": suffix[1:], "layer": grid.name, "triangles": n}
        text = f"wrote {out} ({n:,} triangles of {grid.name})"
    print(json.dumps(summary) if args.json else text)
    return 0


COMMAND = Command("export", "write a scene or project as a Rerun recording (.rrd) or a voxel grid as a mesh",
                  _add_args, _run)
