"""CMU Panoptic Studio 3-D body poses: `body3DScene_<frame>.json` (one frame: `bodies`, each with an `id`
and `joints19` = 19 × (x, y, z, confidence) in centimetres, world y pointing down) — a single file or a
folder of them (hdPose3d_stage1_coco19/) read as one sequence with one person slot per body id — and the
sequence's `calibration_<seq>.json` (cameras with K, distCoef, R, t in centimetres, world → camera),
found next to the poses or in a parent folder, kept in `meta["rig_cameras"]`.

Joints are converted to metres (`units=` overrides the centimetres the dataset documents), the up axis is
"-y", and with a calibration the skeletons are projected into the HD cameras named by `cameras=`
("all", or a comma list such as "00_00,00_16"; default none) as 2-D layers — OpenCV's pinhole + distortion
model, so the overlay matches the dataset's videos.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..scene import Skeleton
from . import register

UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
FRAME_RE = re.compile(r"body3DScene_(\d+)\.json$")


def _read_json(p: Path):
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(p, f"not a readable JSON file ({type(e).__name__}: {e})") from None


def _bodies(p: Path, d) -> list[tuple[int, np.ndarray]]:
    if not isinstance(d, dict) or not isinstance(d.get("bodies"), list):
        raise InputError(p, "not a Panoptic body3DScene file (needs a 'bodies' list)")
    out = []
    for b in d["bodies"]:
        j = b.get("joints19") if isinstance(b, dict) else None
        if not isinstance(j, list) or len(j) != 76:
            raise InputError(p, f"body {b.get('id', '?') if isinstance(b, dict) else '?'}: 'joints19' must hold "
                                "19 × 4 numbers")
        a = np.asarray(j, float).reshape(19, 4)
        if not np.isfinite(a).all():
            raise InputError(p, "joints19 holds NaN or infinite values")
        out.append((int(b.get("id", len(out))), a))
    return out


def find_calibration(start: Path) -> Path | None:
    for d in [start if start.is_dir() else start.parent, *list((start if start.is_dir() else start.parent).parents)[:2]]:
        hits = sorted(d.glob("calibration_*.json"))
        if hits:
            return hits[0]
    return None


def read_calibration(p: Path, scale: float = 0.01) -> list[dict]:
    """Cameras of a Panoptic calibration JSON: name, type, size (w, h), K, dist, R, t (metres)."""
    d = _read_json(p)
    if not isinstance(d, dict) or not isinstance(d.get("cameras"), list):
        raise InputError(p, "not a Panoptic calibration file (needs a 'cameras' list)")
    cams = []
    for c in d["cameras"]:
        try:
            cams.append({"name": str(c["name"]), "type": str(c.get("type", "")),
                         "size": tuple(int(v) for v in c.get("resolution", (0, 0))),
                         "K": np.asarray(c["K"], float).reshape(3, 3),
                         "dist": np.asarray(c.get("distCoef", [0] * 5), float).ravel(),
                         "R": np.asarray(c["R"], float).reshape(3, 3),
                         "t": np.asarray(c["t"], float).reshape(3) * scale})
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(p, f"camera {c.get('name', '?') if isinstance(c, dict) else '?'}: missing or bad "
                                f"field ({type(e).__name__}: {e})") from None
    return cams


def project(points: np.ndarray, cam: dict) -> tuple[np.ndarray, np.ndarray]:
    """(…, 3) world points (metres) → (…, 2) pixels in `cam`, and whether each lies in front of it."""
    import cv2

    pts = np.asarray(points, float).reshape(-1, 3)
    xc = pts @ cam["R"].T + cam["t"]
    front = xc[:, 2] > 1e-6
    rvec, _ = cv2.Rodrigues(cam["R"])
    uv, _ = cv2.projectPoints(pts.reshape(-1, 1, 3), rvec, cam["t"].reshape(3, 1), cam["K"], cam["dist"])
    return uv.reshape(*np.shape(points)[:-1], 2), front.reshape(np.shape(points)[:-1])


@register("panoptic", "CMU Panoptic 3-D bodies (body3DScene_*.json, joints19, cm) with the calibration's cameras")
def load_panoptic(path: Path, **opts) -> list[Skeleton]:
    from ..pose.joints import PANOPTIC19

    units = opts.get("units") or "cm"
    if units not in UNITS:
        raise InputError(path, f"units must be m, cm or mm, not {units!r}")
    files = [path] if path.is_file() else sorted(path.glob("body3DScene_*.json"))
    if not files:
        raise InputError(path, "folder holds no body3DScene_*.json files")
    frames = [_bodies(f, _read_json(f)) for f in files]
    ids = sorted({i for fr in frames for i, _ in fr})
    t, p = len(frames), max(len(ids), 1)
    joints = np.zeros((t, p, 19, 3))
    conf = np.zeros((t, p, 19))
    valid = np.zeros((t, p), bool)
    for k, fr in enumerate(frames):
        for i, a in fr:
            s = ids.index(i)
            joints[k, s] = a[:, :3] * UNITS[units]
            conf[k, s] = np.clip(a[:, 3], 0, 1)  # -1 = not reconstructed
            valid[k, s] = True
    frame_no = [int(m.group(1)) if (m := FRAME_RE.search(f.name)) else k for k, f in enumerate(files)]
    name = path.name if path.is_dir() else path.stem
    sk = Skeleton(name=f"{name} 3D", source=str(path), joints=joints, confidence=conf, joint_set="panoptic19",
                  joint_names=list(PANOPTIC19.names), bones=list(PANOPTIC19.bones), fps=29.97 if t > 1 else 0.0)
    sk.meta.update({"format": "panoptic", "units": "m", "units_in": units, "up_axis": "-y", "valid": valid,
                    "track_ids": ids, "frames": frame_no, "file_names": [f.name for f in files]})
    out = [sk]
    calib = find_calibration(path)
    if calib is not None:
        cams = read_calibration(calib, UNITS[units])
        sk.meta["calibration"] = str(calib)
        # the rig (all calibrated cameras); not "cameras", which the 3-D view reads as one camera per frame
        sk.meta["rig_cameras"] = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}
                                  for c in cams]
        want = opts.get("cameras") or ""
        names = [c["name"] for c in cams] if want == "all" else [w for w in str(want).split(",") if w]
        unknown = [w for w in names if w not in {c["name"] for c in cams}]
        if unknown:
            raise InputError(calib, f"no camera {', '.join(unknown)} (cameras: {', '.join(c['name'] for c in cams)})")
        for c in (c for c in cams if c["name"] in names):
            uv, front = project(joints, c)
            w, h = c["size"]
            inside = front & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
            sk2 = Skeleton(name=f"{name} in {c['name']}", source=str(path), joints=uv,
                           confidence=np.where(inside, conf, 0.0), joint_set="panoptic19",
                           joint_names=list(PANOPTIC19.names), bones=list(PANOPTIC19.bones), fps=sk.fps,
                           image_size=(w, h))
            sk2.meta.update({"format": "panoptic", "camera": c["name"], "valid": valid, "track_ids": ids,
                             "frames": frame_no, "kind": "projection"})
            out.append(sk2)
    return out


@register("panoptic-folder", "CMU Panoptic 3-D body sequence (a folder of body3DScene_*.json)", folder=True)
def load_panoptic_folder(path: Path, **opts) -> list[Skeleton]:
    return load_panoptic(path, **opts)


@load_panoptic_folder.sniffer
def _sniff_panoptic_folder(p: Path, head: bytes) -> int:
    return 85 if next(p.glob("body3DScene_*.json"), None) is not None else 0


@load_panoptic.sniffer
def _sniff_panoptic(p: Path, head: bytes) -> int:
    h = head[:4096]
    if b'"bodies"' in h and (b'"joints19"' in h or FRAME_RE.search(p.name)):
        return 90
    if FRAME_RE.search(p.name) and h.lstrip().startswith(b"{"):
        return 40
    return 0
