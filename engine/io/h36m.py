"""3-D joint files: Human3.6M-style NPZ (mmpose's `S`/`part` arrays, GFPose `results.npz` with
multi-hypothesis `pred3d`), SceneLens' own joints NPZ, and plain NPY joint arrays.

A bare array of 17 joints does not say whether it is COCO or Human3.6M order, and metrics between
different orders are meaningless; so files written here always name their joint set, and files that do
not are read with a declared default (H36M for `S`/GFPose) or, for a bare 3-D NPY, told apart by what
they hold (`guess_17`: Human3.6M's joint 0 is the pelvis, halfway between its hips 1 and 4, while COCO's
is the nose, far from its ankles 15/16; `joint_set=` overrides). Units are made explicit: the median
bone length says metres (< 2), centimetres (2–100) or millimetres (> 100), converted to metres;
`units=` overrides; `meta['units_in']` records what the file held. The up axis (`meta['up_axis']`, what
the 3-D view turns onto its z-up ground) comes from the feet-to-head direction when the file does not
say it, so GFPose's image-frame poses (y down) and camera-frame arrays stand.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..scene import Skeleton
from . import register


def _js(name: str):
    from ..pose.joints import get_joint_set

    try:
        return get_joint_set(name)
    except KeyError as e:
        raise InputError(None, str(e)) from None


UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}


def _median_bone(joints: np.ndarray, bones) -> float:
    b = np.asarray(bones)
    lengths = np.linalg.norm(joints[..., b[:, 0], :] - joints[..., b[:, 1], :], axis=-1)
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    return float(np.median(lengths)) if lengths.size else float("nan")


def detect_units(joints: np.ndarray, bones) -> str:
    """'m', 'cm' or 'mm' from the median bone length (a human's is ≈ 0.1–0.45 m), 'unknown' if empty."""
    if joints.size == 0 or not bones:
        return "unknown"
    med = _median_bone(joints, bones)
    if not np.isfinite(med):
        return "unknown"
    return "m" if med < 2.0 else "cm" if med < 100.0 else "mm"


def _to_metres(joints: np.ndarray, bones, units: str | None = None) -> tuple[np.ndarray, str]:
    if units not in (None, "", "auto"):
        if units not in UNIT_SCALE:
            raise InputError(None, f"units must be m, cm or mm, not {units!r}")
        return joints * UNIT_SCALE[units], units
    u = detect_units(joints, bones)
    return (joints * UNIT_SCALE[u], u) if u in UNIT_SCALE else (joints, u)


# feet → head joints per joint set, for the up axis
_UP_JOINTS = {"h36m17": ([3, 6], [10]), "coco17": ([15, 16], [0, 1, 2]), "mediapipe33": ([27, 28], [0])}


def detect_up_axis(joints: np.ndarray, joint_set: str) -> str | None:
    """'z', 'y' or '-y' (what the 3-D view knows) from the mean feet→head direction; None if unclear."""
    spec = _UP_JOINTS.get(joint_set)
    if spec is None or joints.shape[-1] != 3:
        return None
    j = joints.reshape(-1, joints.shape[-2], 3)
    v = j[:, spec[1]].mean(1) - j[:, spec[0]].mean(1)
    v = v[np.isfinite(v).all(1) & (np.linalg.norm(v, axis=1) > 0)]
    if not len(v):
        return None
    m = v.mean(0)
    k = int(np.argmax(np.abs(m)))
    if np.abs(m[k]) < 0.5 * np.linalg.norm(m):
        return None
    axis = ("x", "y", "z")[k]
    name = axis if m[k] > 0 else f"-{axis}"
    return name if name in ("z", "y", "-y") else None


def guess_17(joints: np.ndarray) -> str:
    """'h36m17' or 'coco17' for a 3-D 17-joint array, from its geometry (see the module doc)."""
    j = np.asarray(joints, float).reshape(-1, 17, joints.shape[-1])
    j = j[np.isfinite(j).all((1, 2))]
    if not len(j):
        return "h36m17"
    extent = np.linalg.norm(j.max(1) - j.min(1), axis=-1)
    ok = extent > 0
    if not ok.any():
        return "h36m17"
    j, extent = j[ok], extent[ok]
    pelvis_off = np.linalg.norm(j[:, 0] - (j[:, 1] + j[:, 4]) / 2, axis=-1) / extent
    nose_ankle = (np.linalg.norm(j[:, 0] - j[:, 15], axis=-1) + np.linalg.norm(j[:, 0] - j[:, 16], axis=-1)) / (2 * extent)
    # COCO: joint 0 (nose) is a body height away from the ankles; H36M: joint 0 (pelvis) sits between the hips
    if np.median(nose_ankle) >= 0.7 or np.median(pelvis_off) > 0.1:
        return "coco17"
    return "h36m17"


def make_skeleton(path: Path, name: str, joints: np.ndarray, joint_set: str, confidence=None,
                  hypotheses: np.ndarray | None = None, convert_units: bool = True, units: str | None = None,
                  **meta) -> Skeleton:
    """Skeleton layer from (T×J×3), (T×P×J×3) or (J×3) joints of a named joint set."""
    js = _js(joint_set)
    j = np.asarray(joints, float)
    while j.ndim < 4:
        j = j[None] if j.ndim == 2 else j[:, None]
    if j.shape[-2] != js.n:
        raise InputError(path, f"{j.shape[-2]} joints, but joint set {js.name} has {js.n}")
    units_in = "m"
    if convert_units and j.shape[-1] == 3:
        try:
            j2, units_in = _to_metres(j, js.bones, units)
        except InputError as e:
            raise InputError(path, e.message) from None
        if units_in in UNIT_SCALE and hypotheses is not None:
            hypotheses = np.asarray(hypotheses, float) * UNIT_SCALE[units_in]
        j = j2
    conf = np.ones(j.shape[:-1]) if confidence is None else np.asarray(confidence, float).reshape(j.shape[:-1])
    sk = Skeleton(name=name, source=str(path), joints=j, confidence=conf, joint_set=js.name, joint_names=list(js.names),
                  bones=list(js.bones))
    sk.meta.update({"units_in": units_in, "units": "m" if units_in in UNIT_SCALE else "unknown"})
    if hypotheses is not None:
        sk.meta["hypotheses"] = np.asarray(hypotheses, float)
    sk.meta.update(meta)
    if j.shape[-1] == 3 and "up_axis" not in sk.meta:
        up = detect_up_axis(j, js.name)
        if up is not None:
            sk.meta["up_axis"] = up
            sk.meta["up_axis_detected"] = True
    return sk


def _npz_keys(p: Path) -> set[str]:
    with zipfile.ZipFile(p) as z:
        return {n[:-4] for n in z.namelist() if n.endswith(".npy")}


@register("pose3d-npz", "3-D joints NPZ (Human3.6M S/part, GFPose results, SceneLens joints)")
def load_pose_npz(path: Path, **opts) -> list[Skeleton]:
    try:
        d = np.load(path, allow_pickle=False)
        keys = set(d.files)
    except (ValueError, OSError, zipfile.BadZipFile) as e:
        raise InputError(path, f"not a readable NPZ ({e})") from None
    out: list[Skeleton] = []
    if "joints" in keys:  # SceneLens joints NPZ
        js = str(d["joint_set"]) if "joint_set" in keys else opts.get("joint_set")
        if not js:
            raise InputError(path, "joints NPZ does not name its joint set ('joint_set' array)")
        hyp = d["hypotheses"] if "hypotheses" in keys else None
        joints = np.asarray(d["joints"], float)
        conf = np.asarray(d["confidence"], float) if "confidence" in keys else np.ones(joints.shape[:-1])
        missing = ~np.isfinite(joints).all(-1)
        if missing.any():  # NaN = not reconstructed (e.g. `run pose3d`): confidence 0, drawn nowhere
            conf = np.where(missing, 0.0, conf.reshape(missing.shape))
            joints = np.where(missing[..., None], 0.0, joints)
        sk = make_skeleton(path, path.name, joints, js, conf, hyp, convert_units=False, format="joints-npz")
        if missing.any():
            sk.meta["valid"] = (~missing).any(-1).reshape(sk.joints.shape[:2])
        if "fps" in keys:
            sk.fps = float(d["fps"])
        if "units" in keys:
            sk.meta["units"] = str(d["units"])
        if "track_ids" in keys:  # `run pose3d`: one person slot per 3-D track → the per-track timeline
            ids = [int(v) for v in np.ravel(d["track_ids"])]
            if len(ids) == sk.joints.shape[1] and len(set(ids)) == len(ids):
                sk.meta["track_ids"] = ids
                sk.meta.setdefault("valid", np.ones(sk.joints.shape[:2], bool))
        out.append(sk)
        if {"cam_K", "cam_R", "cam_t"} <= keys:  # `run pose3d`: the rig, and the people reprojected into it
            out.extend(_rig_and_reprojections(path, d, keys, sk, joints, missing))
    elif "world" in keys and "world_joint_set" in keys:  # written by `run pose`
        w = d["world"]
        valid = d["valid"] if "valid" in keys else np.ones(w.shape[:2], bool)
        conf = np.repeat(valid[..., None], w.shape[2], -1).astype(float)
        out.append(make_skeleton(path, f"{path.stem} 3D", w, str(d["world_joint_set"]), conf, convert_units=False,
                                 up_axis="-y", format="pose-run"))
    elif "S" in keys:  # mmpose-style Human3.6M annotations
        s = np.asarray(d["S"], float)
        if s.ndim != 3 or s.shape[-1] not in (3, 4):
            raise InputError(path, f"'S' must be N×J×3 or N×J×4, got shape {s.shape}")
        conf = s[..., 3] if s.shape[-1] == 4 else None
        js = opts.get("joint_set", "h36m17")
        meta = {"format": "h36m-npz"}
        cam = _camera_from(d, keys)
        if cam:
            meta["camera"] = cam
        if "imgname" in keys:
            meta["file_names"] = [str(x) for x in d["imgname"]]
        out.append(make_skeleton(path, f"{path.stem} 3D", s[:, None, :, :3], js, conf[:, None] if conf is not None else None,
                                 units=opts.get("units"), **meta))
        if "part" in keys:
            part = np.asarray(d["part"], float)
            if part.ndim == 3 and part.shape[-1] == 3 and part.shape[1] == out[0].joints.shape[2]:
                sk2 = Skeleton(name=f"{path.stem} 2D", source=str(path), joints=part[:, None, :, :2],
                               confidence=part[:, None, :, 2], joint_set=out[0].joint_set,
                               joint_names=out[0].joint_names, bones=out[0].bones)
                sk2.meta["format"] = "h36m-npz"
                out.append(sk2)
    elif "pred3d" in keys:  # GFPose results: (1|T, N, H, 17, 3), gt3d (1, N, 1, 17, 3)
        pred = np.asarray(d["pred3d"], float)
        if pred.ndim != 5:
            raise InputError(path, f"'pred3d' must be (T, N, H, J, 3), got shape {pred.shape}")
        final = pred[-1]                                          # N×H×J×3, last sampling step
        hyp = np.moveaxis(final, 1, 0)[:, :, None]                # H×N×1×J×3
        mean = final.mean(1)[:, None]                             # N×1×J×3
        out.append(make_skeleton(path, f"{path.stem} prediction", mean, opts.get("joint_set", "h36m17"),
                                 hypotheses=hyp, convert_units=False, units_note="GFPose normalised image frame",
                                 format="gfpose"))
        if "gt3d" in keys:
            gt = np.asarray(d["gt3d"], float)[0, :, 0][:, None]
            out.append(make_skeleton(path, f"{path.stem} ground truth", gt, opts.get("joint_set", "h36m17"),
                                     convert_units=False, format="gfpose"))
    else:
        raise InputError(path, f"no 3-D joints found (arrays: {', '.join(sorted(keys))}); expected 'joints'+'joint_set', "
                               "'S', 'world' or 'pred3d'")
    return out


def _rig_and_reprojections(path: Path, d, keys, sk: Skeleton, joints: np.ndarray, missing: np.ndarray) -> list:
    """`run pose3d` NPZs carry their cameras (cam_K, cam_R, cam_t world → camera in metres, cam_dist,
    cam_size, cameras = names): kept as `meta["rig_cameras"]` (drawn as frustums around the people) and
    the 3-D people projected into every camera as one 2-D layer per view."""
    from .panoptic import project

    K, R, t = (np.asarray(d[k], float) for k in ("cam_K", "cam_R", "cam_t"))
    n = len(K)
    if K.shape != (n, 3, 3) or R.shape != (n, 3, 3) or t.shape != (n, 3):
        raise InputError(path, f"camera arrays must be C×3×3, C×3×3 and C×3 (got {K.shape}, {R.shape}, {t.shape})")
    dist = np.asarray(d["cam_dist"], float).reshape(n, -1) if "cam_dist" in keys else np.zeros((n, 5))
    size = np.asarray(d["cam_size"], np.int64).reshape(n, 2) if "cam_size" in keys else np.zeros((n, 2), np.int64)
    names = [str(x) for x in np.ravel(d["cameras"])] if "cameras" in keys else [f"cam{i}" for i in range(n)]
    cams = [{"name": names[i] if i < len(names) else f"cam{i}", "size": [int(v) for v in size[i]],
             "K": K[i].tolist(), "R": R[i].tolist(), "t": t[i].tolist(), "dist": dist[i].tolist()} for i in range(n)]
    sk.meta["rig_cameras"] = cams
    out = []
    video_of: dict[str, Path | None] = {}
    frames = ([int(v) for v in np.ravel(d["view_frames"])] if "view_frames" in keys
              else list(range(sk.joints.shape[0])))
    if "views" in keys:  # the cameras' videos (2-D result JSONs have no pictures), as one image layer each
        from .coco_keypoints import _result_video
        from .image import load_video
        from .sanitize import warn

        views = [str(v) for v in np.ravel(d["views"])]
        for c, v in zip(cams, views):
            if Path(v).suffix.lower() == ".json":
                continue
            found = _result_video(path, v, sk)
            if found is None:
                continue
            try:
                lay = load_video(found)[0]
            except InputError as e:
                warn(path, f"video {v!r:.200} of camera {c['name']} is not shown: {e.message}", sk)
                continue
            lay.name = c["name"]
            video_of[c["name"]] = found
            out.append(lay)
    for c in cams:
        cc = {k: (np.asarray(v, float) if k in ("K", "R", "t", "dist") else v) for k, v in c.items()}
        uv, front = project(joints, cc)
        w, h = c["size"]
        inside = front & ~missing
        if w > 0 and h > 0:
            inside &= (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        sk2 = Skeleton(name=f"{sk.name} in {c['name']}", source=str(path), joints=np.where(inside[..., None], uv, 0.0),
                       confidence=np.where(inside, sk.confidence.reshape(inside.shape), 0.0), joint_set=sk.joint_set,
                       joint_names=list(sk.joint_names), bones=list(sk.bones), fps=sk.fps,
                       image_size=(w, h) if w > 0 and h > 0 else None)
        sk2.meta.update({"format": "pose3d-reprojection", "camera": c["name"], "valid": sk.meta.get("valid")})
        if video_of.get(c["name"]) is not None:  # drawn over that camera's video, frame by frame
            sk2.meta["frames"] = frames
        if sk.meta.get("track_ids"):  # the same IDs (and colours, badges) in every view
            sk2.meta["track_ids"] = list(sk.meta["track_ids"])
        out.append(sk2)
    return out


def _camera_from(d, keys) -> dict | None:
    """Intrinsics/extrinsics when the NPZ carries them: K or f/c, optional R, T (world→camera)."""
    cam: dict = {}
    if "K" in keys:
        cam["K"] = np.asarray(d["K"], float).reshape(-1, 3, 3)[0]
    elif "f" in keys and "c" in keys:
        f, c = np.ravel(d["f"]).astype(float), np.ravel(d["c"]).astype(float)
        cam["K"] = np.array([[f[0], 0, c[0]], [0, f[-1], c[1]], [0, 0, 1]])
    if not cam:
        return None
    if "R" in keys and "T" in keys:
        r = np.asarray(d["R"], float).reshape(3, 3)
        t = np.ravel(d["T"]).astype(float)
        w2c = np.eye(4)
        w2c[:3, :3], w2c[:3, 3] = r, t
        cam["cam_to_world"] = np.linalg.inv(w2c)
    else:
        cam["cam_to_world"] = np.eye(4)
    k = cam["K"]
    cam["size"] = (int(round(2 * k[0, 2])), int(round(2 * k[1, 2])))
    return cam


@load_pose_npz.sniffer
def _sniff_pose_npz(p: Path, head: bytes) -> int:
    if not head.startswith(b"PK\x03\x04"):
        return 0
    keys = _npz_keys(p)
    if {"joints", "joint_set"} <= keys or {"world", "world_joint_set"} <= keys or "pred3d" in keys:
        return 95
    if "S" in keys:
        return 90
    return 0


@register("pose3d-npy", "3-D joint array NPY (T×J×3; joint set declared or 33 = MediaPipe)")
def load_pose_npy(path: Path, **opts) -> list[Skeleton]:
    try:
        a = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise InputError(path, f"not a plain NumPy array ({e})") from None
    if a.ndim not in (2, 3, 4) or a.shape[-1] not in (2, 3):
        raise InputError(path, f"expected (…, J, 3) joints, got shape {a.shape}")
    from ..pose.joints import guess_joint_set

    js = opts.get("joint_set")
    how = "declared"
    if not js and a.shape[-2] == 17 and a.shape[-1] == 3:
        js, how = guess_17(a), "told from the joint geometry"
    elif not js:
        js, how = guess_joint_set(a.shape[-2]), "from the joint count"
    if js is None:
        raise InputError(path, f"{a.shape[-2]} joints: cannot tell the joint set; pass joint_set=")
    return [make_skeleton(path, path.name, a, js, units=opts.get("units"), format="joints-npy",
                          joint_set_declared=bool(opts.get("joint_set")), joint_set_how=how)]


@load_pose_npy.sniffer
def _sniff_pose_npy(p: Path, head: bytes) -> int:
    import re

    if not head.startswith(b"\x93NUMPY"):
        return 0
    m = re.search(rb"'shape':\s*\(([\d,\s]+)\)", head[:256])
    if not m:
        return 0
    shape = [int(v) for v in m.group(1).replace(b" ", b"").split(b",") if v]
    if len(shape) in (3, 4) and shape[-1] == 3 and shape[-2] in (17, 33):
        return 70
    return 0


def write_joints_npz(path: str | Path, sk: Skeleton) -> None:
    """SceneLens joints NPZ: joints, confidence, the joint set by name, joint names, bones, fps, units."""
    from ..atomic import save_npz

    arrays = {"joints": np.asarray(sk.joints, float), "joint_set": np.array(sk.joint_set),
              "joint_names": np.array(sk.joint_names), "bones": np.asarray(sk.bones, np.int64).reshape(-1, 2),
              "fps": np.array(float(sk.fps)), "units": np.array(str(sk.meta.get("units", "m")))}
    if sk.confidence is not None:
        arrays["confidence"] = np.asarray(sk.confidence, float)
    if "hypotheses" in sk.meta:
        arrays["hypotheses"] = np.asarray(sk.meta["hypotheses"], float)
    save_npz(path, **arrays)
