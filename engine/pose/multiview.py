"""3-D people from calibrated cameras: calibration readers, cross-view association, weighted DLT
triangulation that drops cameras by reprojection error (Pose2Sim's scheme), and 3-D tracks.

* Calibration: Pose2Sim's `Calib.toml` ([cam_xx] with size, matrix, distortions k1 k2 p1 p2, rotation as a
  Rodrigues vector and translation in metres, world → camera), Qualisys QTM's `.qca.txt` (converted as
  Pose2Sim's calibration step does; translation mm → m), an OpenCV FileStorage YAML/XML with one map
  per camera (K | camera_matrix, dist | distortion_coefficients, R (3×3) | rvec, T | tvec, optional size /
  image_width+image_height), CMU Panoptic's calibration JSON (centimetres), and a SceneLens scene
  manifest's cameras (K, cam_to_frame; the manifest's frame is the world).
* Triangulation of one joint: the views where it was seen (confidence ≥ `min_conf`) give two DLT rows each,
  weighted by the confidence; the point is the SVD null vector. While its mean reprojection error exceeds
  `threshold_px`, one more view is left out — every subset of that size is tried and the best-reprojecting
  one kept — down to `min_cameras` views; a joint still above the threshold stays missing (NaN). 2-D points
  are undistorted first (OpenCV model), so the DLT sees pinhole cameras.
* Association: per frame, the combination of one person per view (or none) whose triangulated torso
  reprojects best is taken as one person, its detections removed, and so on while the error stays under
  `assoc_px`.
* Tracks: people are linked frame to frame by the median joint distance to each track's constant-velocity
  prediction (Hungarian assignment, gated at `max_move_m` per frame, gaps up to `max_gap` frames).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass
class Camera:
    name: str
    size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray   # world → camera
    t: np.ndarray   # metres

    @property
    def P(self) -> np.ndarray:
        return self.K @ np.c_[self.R, self.t]

    def project(self, X: np.ndarray) -> np.ndarray:
        """(…, 3) world points → (…, 2) distorted pixels."""
        import cv2

        pts = np.asarray(X, float).reshape(-1, 1, 3)
        rvec, _ = cv2.Rodrigues(self.R)
        uv, _ = cv2.projectPoints(pts, rvec, self.t.reshape(3, 1), self.K, self.dist)
        return uv.reshape(*np.shape(X)[:-1], 2)

    def undistort(self, uv: np.ndarray) -> np.ndarray:
        """(…, 2) distorted pixels → the pinhole pixels (same K) the DLT expects."""
        import cv2

        if not np.any(self.dist):
            return np.asarray(uv, float)
        pts = np.asarray(uv, float).reshape(-1, 1, 2)
        out = cv2.undistortPoints(pts, self.K, self.dist, P=self.K)
        return out.reshape(np.shape(uv))


# ------------------------------------------------------------------------------------------ calibration

def _pose2sim_toml(p: Path) -> list[Camera]:
    import tomllib

    import cv2

    try:
        d = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(p, f"not a readable TOML calibration ({type(e).__name__}: {e})") from None
    cams = []
    for key, c in d.items():
        if not isinstance(c, dict) or "matrix" not in c:
            continue
        try:
            R, _ = cv2.Rodrigues(np.asarray(c["rotation"], float).reshape(3, 1))
            dist = np.zeros(5)
            dd = np.asarray(c.get("distortions", [0, 0, 0, 0]), float).ravel()
            dist[:len(dd[:5])] = dd[:5]
            if c.get("fisheye"):
                raise InputError(p, f"camera {key}: fisheye calibrations are not supported")
            cams.append(Camera(str(c.get("name", key)), tuple(int(v) for v in c.get("size", (0, 0))),
                               np.asarray(c["matrix"], float).reshape(3, 3), dist, R,
                               np.asarray(c["translation"], float).reshape(3)))
        except (KeyError, ValueError, TypeError) as e:
            raise InputError(p, f"camera {key}: missing or bad field ({type(e).__name__}: {e})") from None
    return cams


def _opencv_yaml(p: Path) -> list[Camera]:
    import cv2

    fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_READ)
    if not fs.isOpened():
        raise InputError(p, "not a readable OpenCV YAML/XML calibration")
    cams = []
    try:
        root = fs.root()
        for name in root.keys():
            n = root.getNode(name)
            if not n.isMap():
                continue

            def mat(*keys):
                for k in keys:
                    m = n.getNode(k)
                    if not m.empty():
                        return m.mat() if m.isMap() or m.mat() is not None else np.asarray(m.real())
                return None

            K = mat("K", "camera_matrix", "cameraMatrix")
            if K is None:
                continue
            dist = mat("dist", "distortion_coefficients", "distCoeffs", "D")
            R = mat("R", "rotation")
            rvec = mat("rvec", "rvecs")
            T = mat("T", "t", "tvec", "translation")
            if R is None and rvec is not None:
                R, _ = cv2.Rodrigues(np.asarray(rvec, float).reshape(3, 1))
            if R is None or T is None:
                raise InputError(p, f"camera {name}: needs R (or rvec) and T (or tvec)")
            size = mat("size", "image_size")
            if size is None and not n.getNode("image_width").empty():
                size = [n.getNode("image_width").real(), n.getNode("image_height").real()]
            d5 = np.zeros(5)
            if dist is not None:
                dd = np.asarray(dist, float).ravel()[:5]
                d5[:len(dd)] = dd
            cams.append(Camera(name, tuple(int(v) for v in np.ravel(size))[:2] if size is not None else (0, 0),
                               np.asarray(K, float).reshape(3, 3), d5, np.asarray(R, float).reshape(3, 3),
                               np.asarray(T, float).reshape(3)))
    finally:
        fs.release()
    return cams


QCA_VIDEO_MODELS = ("Miqus Video", "Miqus Video UnderWater", "none")


def _natural_key(s: str):
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", s)]


def _qualisys_qca(p: Path, binning: int = 1) -> list[Camera]:
    """Qualisys QTM's calibration export (`.qca.txt`, XML), read as Pose2Sim's calibration step converts it
    (Pose2Sim/calibration.py `read_qca` + `calib_qca_fun`):

    * only video cameras (model "Miqus Video", "Miqus Video UnderWater" or "none"), in natural order of
      their serial, which names them;
    * image size from `fov_video` (right − left + 1, bottom − top + 1), scaled by `video_resolution`
      ("540p" → 540 / 1080) and divided by the binning factor;
    * `intrinsic` values are in 1/64 pixel: f = focalLength / 64, c = centerPoint / 64 − the fov_video
      offset, the same scaling; k1, k2, p1, p2 likewise / 64 / binning (Pose2Sim's convention);
    * `transform` is the camera pose in the world: x, y, z = the camera centre in **millimetres**, r11…r33
      its rotation; world → camera is R = [r_ij] (rows), t = −R·centre, then turned by π about the camera's
      x axis (QTM cameras look down −z with y up; OpenCV looks down +z with y down).

    Units: the translation is divided by 1000 once (mm → m), as QTM writes millimetres and Pose2Sim's
    calibration does. Pose2Sim's older stand-alone `Utilities/calib_qca_to_toml.py` divides a second time
    (cameras a thousand times too close to the origin); that is not followed."""
    import xml.etree.ElementTree as ET

    import cv2

    try:
        root = ET.fromstring(p.read_bytes())
    except (OSError, ET.ParseError) as e:
        raise InputError(p, f"not a readable Qualisys .qca.txt calibration (XML: {e})") from None
    tags = root.findall("cameras/camera")
    if not tags:
        raise InputError(p, "no cameras/camera entries: not a Qualisys calibration")
    cams = []
    for tag in tags:
        name = str(tag.get("serial", ""))
        if tag.get("model") not in QCA_VIDEO_MODELS:
            continue
        try:
            res = tag.get("video_resolution")
            scale = (int(res.rstrip("pP")) / 1080.0 if res else 1.0) / binning
            fov, intr, tr = tag.find("fov_video"), tag.find("intrinsic"), tag.find("transform")
            if fov is None or intr is None or tr is None:
                raise KeyError("fov_video, intrinsic and transform are needed")
            left, top = float(fov.get("left")), float(fov.get("top"))
            w = (float(fov.get("right")) - left + 1) * scale
            h = (float(fov.get("bottom")) - top + 1) * scale
            f = lambda k: float(intr.get(k)) / 64.0  # noqa: E731 - the file's 1/64-pixel unit
            K = np.array([[f("focalLengthU") * scale, 0.0, (f("centerPointU") / binning - left) * binning * scale],
                          [0.0, f("focalLengthV") * scale, (f("centerPointV") / binning - top) * binning * scale],
                          [0.0, 0.0, 1.0]])
            dist = np.array([f("radialDistortion1"), f("radialDistortion2"), f("tangentalDistortion1"),
                             f("tangentalDistortion2"), 0.0]) / binning
            dist[4] = 0.0
            centre = np.array([float(tr.get(k)) for k in ("x", "y", "z")]) / 1000.0
            M = np.array([[float(tr.get(f"r{i}{j}")) for j in (1, 2, 3)] for i in (1, 2, 3)])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise InputError(p, f"camera {name or '?'}: missing or bad field ({type(e).__name__}: {e})") from None
        if not np.all(np.isfinite(M)) or abs(abs(np.linalg.det(M)) - 1.0) > 1e-3:
            raise InputError(p, f"camera {name}: transform r11…r33 is not a rotation")
        flip = np.diag([1.0, -1.0, -1.0])  # rotation by π about x
        R = flip @ M
        t = flip @ (-M @ centre)
        R, _ = cv2.Rodrigues(cv2.Rodrigues(R)[0])  # re-orthonormalised as Pose2Sim's Rodrigues round trip does
        cams.append(Camera(name, (int(round(w)), int(round(h))), K, dist, R, t))
    if not cams:
        raise InputError(p, f"no video cameras (models {', '.join(QCA_VIDEO_MODELS)}) in the calibration")
    return sorted(cams, key=lambda c: _natural_key(c.name))


def _manifest_cameras(p: Path) -> list[Camera]:
    """The cameras of a SceneLens scene manifest (entries with `camera`: K and cam_to_frame, the manifest's
    frame taken as the world, metres), in manifest order, named by the entry names."""
    from ..io import load
    from ..scene import CameraRig

    scene = load(p)
    cams = []
    for rig in scene.of_type(CameraRig):
        for c in rig.cameras:
            if c.K is None or c.cam_to_frame is None or c.size is None:
                raise InputError(p, f"camera {c.name}: the manifest gives no K or cam_to_frame")
            c2w = np.asarray(c.cam_to_frame, float)
            R = c2w[:3, :3].T
            dist = np.zeros(5)
            if c.distortion is not None:
                d = np.asarray(c.distortion, float).ravel()[:5]
                dist[:len(d)] = d
            cams.append(Camera(c.name, tuple(int(v) for v in c.size), np.asarray(c.K, float), dist, R,
                               -R @ c2w[:3, 3]))
    if not cams:
        raise InputError(p, "the scene manifest has no cameras (entries with a 'camera' K and cam_to_frame)")
    return cams


def read_calibration(path: str | Path, binning: int = 1) -> list[Camera]:
    """Cameras of a Pose2Sim TOML, a Qualisys .qca.txt, an OpenCV YAML/XML, a CMU Panoptic calibration JSON
    or a SceneLens scene manifest (its cameras). `binning`: Qualisys only (pixels binned when recording)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "calibration file does not exist")
    suf = p.suffix.lower()
    if binning < 1:
        raise InputError(p, "the binning factor must be ≥ 1")
    if p.name.lower().endswith(".qca.txt"):
        cams = _qualisys_qca(p, binning)
    elif suf == ".toml":
        cams = _pose2sim_toml(p)
    elif suf in (".yml", ".yaml", ".xml"):
        cams = _opencv_yaml(p)
    elif suf == ".json":
        from ..io.manifest import KEY

        if KEY.encode() in p.read_bytes()[:65536]:
            cams = _manifest_cameras(p)
        else:
            from ..io.panoptic import read_calibration as panoptic

            cams = [Camera(c["name"], c["size"], c["K"], np.r_[c["dist"], np.zeros(5)][:5], c["R"], c["t"])
                    for c in panoptic(p)]
    else:
        raise InputError(p, "calibration must be a Pose2Sim .toml, a Qualisys .qca.txt, an OpenCV .yml/.yaml/.xml, "
                            "a Panoptic .json or a SceneLens scene manifest .json")
    if len(cams) < 2:
        raise InputError(p, f"{len(cams)} camera(s) found; triangulation needs at least 2")
    return cams


# ------------------------------------------------------------------------------------------ triangulation

def dlt(uv: np.ndarray, w: np.ndarray, Ps: np.ndarray) -> np.ndarray:
    """Weighted DLT: uv (C×2 pinhole pixels), w (C), Ps (C×3×4) → X (3)."""
    A = np.concatenate([w[:, None] * (uv[:, 0:1] * Ps[:, 2] - Ps[:, 0]),
                        w[:, None] * (uv[:, 1:2] * Ps[:, 2] - Ps[:, 1])])
    _, _, vt = np.linalg.svd(A)
    X = vt[-1]
    return X[:3] / X[3] if abs(X[3]) > 1e-12 else np.full(3, np.nan)


def _reproj(X: np.ndarray, uv: np.ndarray, Ps: np.ndarray) -> np.ndarray:
    h = Ps @ np.r_[X, 1.0]
    with np.errstate(divide="ignore", invalid="ignore"):
        pr = h[:, :2] / h[:, 2:3]
    e = np.linalg.norm(pr - uv, axis=1)
    e[h[:, 2] <= 0] = np.inf  # behind the camera
    return e


def triangulate(kps: np.ndarray, conf: np.ndarray, cams: list[Camera], threshold_px: float = 15.0,
                min_cameras: int = 2, min_conf: float = 0.3, undistorted: bool = False):
    """One person seen in C views: kps (C×J×2, NaN where unseen), conf (C×J) → X (J×3, NaN when fewer than
    `min_cameras` views remain), reprojection error (J, px, mean over the kept views), used (C×J)."""
    C, J = conf.shape
    uv = np.stack([kps[c] if undistorted else cams[c].undistort(np.nan_to_num(kps[c])) for c in range(C)])
    Ps = np.stack([c.P for c in cams])
    X = np.full((J, 3), np.nan)
    err = np.full(J, np.nan)
    used = np.zeros((C, J), bool)
    for j in range(J):
        keep = [c for c in range(C) if conf[c, j] >= min_conf and np.isfinite(kps[c, j]).all()]
        # Pose2Sim: all views first; while the mean reprojection error is above the threshold, drop one more
        # view, trying every subset of that size and keeping the one that reprojects best
        for n in range(len(keep), min_cameras - 1, -1):
            best = None
            for sub in itertools.combinations(keep, n):
                sub = list(sub)
                x = dlt(uv[sub, j], conf[sub, j], Ps[sub])
                if not np.isfinite(x).all():
                    continue
                e = float(_reproj(x, uv[sub, j], Ps[sub]).mean())
                if best is None or e < best[0]:
                    best = (e, x, sub)
            if best is not None and best[0] <= threshold_px:
                X[j], err[j] = best[1], best[0]
                used[best[2], j] = True
                break
    return X, err, used


TORSO = [5, 6, 11, 12]  # COCO-17 shoulders and hips


def associate(views: list[list[tuple[np.ndarray, np.ndarray]]], cams: list[Camera], assoc_px: float = 30.0,
              min_cameras: int = 2, max_combinations: int = 20000) -> list[list[int | None]]:
    """Group per-view people (COCO-17 keypoints, confidences) into persons: a list of one index per view
    (None = not seen there), best-reprojecting combinations first."""
    C = len(views)
    und = [[(cams[c].undistort(k), s) for k, s in views[c]] for c in range(C)]
    Ps = np.stack([c.P for c in cams])
    left = [set(range(len(v))) for v in views]
    groups: list[list[int | None]] = []
    while sum(len(s) >= 1 for s in left) >= min_cameras:
        options = [sorted(s) + [None] for s in left]
        n = int(np.prod([len(o) for o in options]))
        if n > max_combinations:
            raise InputError(None, f"{n} person combinations across {C} views; too many to associate")
        best, best_e = None, np.inf
        for combo in itertools.product(*options):
            seen = [c for c in range(C) if combo[c] is not None]
            if len(seen) < min_cameras:
                continue
            errs = []
            for j in TORSO:
                cs = [c for c in seen if und[c][combo[c]][1][j] >= 0.3]
                if len(cs) < 2:
                    continue
                uv = np.stack([und[c][combo[c]][0][j] for c in cs])
                w = np.array([und[c][combo[c]][1][j] for c in cs])
                x = dlt(uv, w, Ps[cs])
                if np.isfinite(x).all():
                    errs.append(_reproj(x, uv, Ps[cs]).mean())
            if len(errs) < 2:
                continue
            # prefer more views at equal error: a small bonus per extra view
            e = float(np.mean(errs)) - 0.5 * len(seen)
            if e < best_e:
                best, best_e = combo, e
        if best is None or best_e + 0.5 * sum(b is not None for b in best) > assoc_px:
            break
        groups.append(list(best))
        for c, i in enumerate(best):
            if i is not None:
                left[c].discard(i)
    return groups


def _centre(X: np.ndarray) -> np.ndarray:
    ok = np.isfinite(X).all(1)
    return np.median(X[ok], axis=0) if ok.any() else np.full(3, np.nan)


def track_people(frames: list[list[np.ndarray]], max_move_m: float = 0.5, max_gap: int = 30,
                 damping: float = 0.9, velocity_smoothing: float = 0.5) -> list[list[int]]:
    """Track ID for each 3-D person (J×3) of each frame: Hungarian assignment on the median joint distance to
    each track's predicted position, gated at `max_move_m` times the frames since last seen (up to `max_gap`).

    The prediction moves the last position by the track's velocity (of its median joint, from its sightings,
    smoothed; geometrically damped over a gap as in the 2-D tracker), so a person hidden while two people cross
    is looked for where they walked to, not where they vanished — without it the one still seen, passing the
    hidden one's last position, took the hidden one's ID. The median over joints, not the mean, keeps a few
    joints with bad depth (overlapping people, a short baseline) from breaking a track."""
    from scipy.optimize import linear_sum_assignment

    tracks: list[dict] = []
    next_id = 1
    out = []
    for t, people in enumerate(frames):
        live = [tr for tr in tracks if t - tr["last"] <= max_gap]
        ids = [0] * len(people)
        if live and people:
            D = np.full((len(live), len(people)), np.inf)
            for a, tr in enumerate(live):
                gap = t - tr["last"]
                steps = sum(damping ** k for k in range(gap))
                pred = tr["X"] + tr["vel"] * steps
                for b, X in enumerate(people):
                    ok = np.isfinite(X).all(1) & np.isfinite(pred).all(1)
                    if ok.sum() >= 3:
                        D[a, b] = float(np.median(np.linalg.norm(X[ok] - pred[ok], axis=1)))
            big = 1e6
            r, c = linear_sum_assignment(np.where(np.isfinite(D), D, big))
            for a, b in zip(r, c):
                tr = live[a]
                gap = t - tr["last"]
                if D[a, b] <= max_move_m * gap:
                    ids[b] = tr["id"]
                    v = (_centre(people[b]) - _centre(tr["X"])) / gap
                    if np.isfinite(v).all():
                        k = velocity_smoothing
                        tr["vel"] = k * tr["vel"] + (1 - k) * v if tr["hits"] > 1 else v
                    tr["X"] = np.where(np.isfinite(people[b]), people[b], tr["X"])
                    tr["last"] = t
                    tr["hits"] += 1
        for b, X in enumerate(people):
            if not ids[b]:
                tracks.append({"id": next_id, "X": X.copy(), "last": t, "vel": np.zeros(3), "hits": 1})
                ids[b] = next_id
                next_id += 1
        out.append(ids)
    return out


def write_trc(path: str | Path, joints: np.ndarray, names: list[str], fps: float) -> None:
    """OpenSim TRC marker file: joints (T×J×3, metres; NaN = missing, written empty)."""
    from ..atomic import write_text

    T, J, _ = joints.shape
    p = Path(path)
    head = [f"PathFileType\t4\t(X/Y/Z)\t{p.name}",
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
            f"{fps:g}\t{fps:g}\t{T}\t{J}\tm\t{fps:g}\t1\t{T}",
            "Frame#\tTime\t" + "\t\t\t".join(names) + "\t\t",
            "\t\t" + "\t".join(f"X{k + 1}\tY{k + 1}\tZ{k + 1}" for k in range(J)), ""]
    rows = []
    for t in range(T):
        vals = "\t".join("" if not np.isfinite(v) else f"{v:.6f}" for v in joints[t].ravel())
        rows.append(f"{t + 1}\t{t / fps if fps else 0:.6f}\t{vals}")
    write_text(p, "\n".join(head) + "\n".join(rows) + "\n")
