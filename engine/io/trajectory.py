"""Camera trajectories in the text formats odometry tools exchange: KITTI (12 numbers per line, the
row-major 3×4 pose of each frame), TUM RGB-D (`timestamp tx ty tz qx qy qz qw`, seconds) and EuRoC MAV
CSV (`#timestamp [ns], p_RS_R_x, p_RS_R_y, p_RS_R_z, q_RS_w, q_RS_x, q_RS_y, q_RS_z, …`: nanoseconds,
quaternion w first, any further columns ignored — what evo's `euroc` reader takes).

They are headerless (or comment-headed) text, so the sniffer decides by the column count and separators of
the first data lines; the file name is never enough. Poses are returned as a `Trajectory` layer of 4×4
camera→world matrices; `meta["format"]` names the format read.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..scene import Trajectory
from . import register


def _rows(path: Path, text: str) -> list[list[float]]:
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        s = line.split("#", 1)[0].replace(",", " ").strip()
        if not s:
            continue
        try:
            rows.append([float(v) for v in s.split()])
        except ValueError:
            raise InputError(path, f"line {n}: non-numeric value in {line.strip()[:60]!r}") from None
    return rows


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(N×4 x, y, z, w) unit quaternions → N×3×3 rotations (TUM order is x y z w)."""
    from ..rotations import quat_xyzw_to_matrix

    return quat_xyzw_to_matrix(q)


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """N×3×3 rotations → N×4 (x, y, z, w) with w ≥ 0."""
    from ..rotations import matrix_to_quat_xyzw

    return matrix_to_quat_xyzw(r)


FORMATS = ("kitti", "tum", "euroc")


def _is_euroc(text: str, rows: list[list[float]]) -> bool:
    """Comma-separated, ≥ 8 columns, nanosecond stamps (or EuRoC's header)."""
    head = text[:4096]
    if "q_RS_w" in head or "p_RS_R_x" in head:
        return True
    body = [ln for ln in head.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return bool(body) and "," in body[0] and len(rows[0]) >= 8 and rows[0][0] > 1e12


def read_trajectory(path: str | Path, fmt: str | None = None) -> Trajectory:
    """A KITTI, TUM or EuRoC trajectory; `fmt` forces the format (default: decided from the content)."""
    path = Path(path)
    if fmt not in (None, "auto") and fmt not in FORMATS:
        raise InputError(path, f"unknown trajectory format {fmt!r} (kitti, tum, euroc)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(path, "not a text trajectory file") from None
    except OSError as e:
        raise InputError(path, f"cannot read: {e.strerror or e}") from None
    rows = _rows(path, text)
    if not rows:
        raise InputError(path, "trajectory file has no poses")
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InputError(path, f"lines have different numbers of values ({sorted(widths)})")
    w = widths.pop()
    a = np.asarray(rows, float)
    if fmt == "euroc" or (fmt in (None, "auto") and _is_euroc(text, rows)):
        if w < 8:
            raise InputError(path, f"EuRoC rows need at least 8 values (timestamp, position, quaternion wxyz), got {w}")
        q = a[:, [5, 6, 7, 4]]  # w x y z → x y z w
        norms = np.linalg.norm(q, axis=1)
        if np.any(np.abs(norms - 1) > 1e-2):
            bad = int(np.argmax(np.abs(norms - 1))) + 1
            raise InputError(path, f"pose {bad}: quaternion is not unit length (|q| = {norms[bad - 1]:.3f})")
        poses = np.tile(np.eye(4), (len(a), 1, 1))
        poses[:, :3, :3] = quat_to_matrix(q)
        poses[:, :3, 3] = a[:, 1:4]
        tr = Trajectory(name=path.name, source=str(path), poses=poses, timestamps=a[:, 0] / 1e9)
        tr.meta["format"] = "euroc"
        if not np.all(np.isfinite(poses)):
            raise InputError(path, "trajectory contains NaN or infinite values")
        return tr
    if fmt == "kitti" and w != 12:
        raise InputError(path, f"KITTI poses have 12 values per line, got {w}")
    if fmt == "tum" and w != 8:
        raise InputError(path, f"TUM trajectories have 8 values per line, got {w}")
    if w == 12:
        poses = np.tile(np.eye(4), (len(a), 1, 1))
        poses[:, :3, :] = a.reshape(-1, 3, 4)
        fmt, ts = "kitti", None
    elif w == 8:
        poses = np.tile(np.eye(4), (len(a), 1, 1))
        norms = np.linalg.norm(a[:, 4:8], axis=1)
        if np.any(np.abs(norms - 1) > 1e-2):
            bad = int(np.argmax(np.abs(norms - 1))) + 1
            raise InputError(path, f"pose {bad}: quaternion is not unit length (|q| = {norms[bad - 1]:.3f})")
        poses[:, :3, :3] = quat_to_matrix(a[:, 4:8])
        poses[:, :3, 3] = a[:, 1:4]
        fmt, ts = "tum", a[:, 0]
    else:
        raise InputError(path, f"{w} values per line; KITTI poses have 12, TUM trajectories 8, EuRoC CSV ≥ 8 "
                               "with nanosecond stamps")
    if not np.all(np.isfinite(poses)):
        raise InputError(path, "trajectory contains NaN or infinite values")
    tr = Trajectory(name=path.name, source=str(path), poses=poses, timestamps=ts)
    tr.meta["format"] = fmt
    return tr


def write_kitti(path: str | Path, poses: np.ndarray) -> None:
    from ..atomic import write_text

    p = np.asarray(poses, float)[:, :3, :].reshape(len(poses), 12)
    write_text(path, "".join(" ".join(f"{v:.9e}" for v in row) + "\n" for row in p))


def write_tum(path: str | Path, poses: np.ndarray, timestamps: np.ndarray | None = None) -> None:
    from ..atomic import write_text

    poses = np.asarray(poses, float)
    ts = np.arange(len(poses), dtype=float) if timestamps is None else np.asarray(timestamps, float)
    q = matrix_to_quat(poses[:, :3, :3])
    lines = [f"{t:.6f} " + " ".join(f"{v:.9f}" for v in (*p[:3, 3], *qq)) + "\n" for t, p, qq in zip(ts, poses, q)]
    write_text(path, "# timestamp tx ty tz qx qy qz qw\n" + "".join(lines))


def load_trajectories(paths, ctx=None) -> list[Trajectory]:
    """The trajectories of several files, in order, read as any file the user opens (`load_layers`: any format
    that holds one); a file without a trajectory is an InputError naming it. `ctx`: a job's context (progress)."""
    from . import load_layers

    out: list[Trajectory] = []
    for k, p in enumerate(paths):
        if ctx is not None:
            ctx.progress(k / len(paths), f"reading {Path(p).name}")
        found = [lay for lay in load_layers(p) if isinstance(lay, Trajectory)]
        if not found:
            raise InputError(p, "holds no trajectory")
        out += found
    return out


@register("trajectory", "Camera trajectory (KITTI odometry poses or TUM RGB-D)")
def load_trajectory(path: Path, **opts) -> list[Trajectory]:
    return [read_trajectory(path)]


@load_trajectory.sniffer
def _sniff_trajectory(p: Path, head: bytes) -> int:
    try:
        txt = head.decode("ascii")
    except UnicodeDecodeError:
        return 0
    lines = [ln.split("#", 1)[0].strip() for ln in txt.splitlines()[:-1] or txt.splitlines()]
    lines = [ln for ln in lines if ln][:5]
    if not lines:
        return 0
    try:
        widths = {len([float(v) for v in ln.replace(",", " ").split()]) for ln in lines}
    except ValueError:
        return 0
    if widths == {12}:
        return 60
    if widths == {8}:
        return 55
    if len(widths) == 1 and min(widths) >= 8 and ("p_RS_R_x" in txt or "," in lines[0]):
        return 50  # EuRoC CSV (17 columns for state_groundtruth_estimate0/data.csv)
    return 0
