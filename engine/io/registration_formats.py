"""Registration ground-truth and transform files: 3DMatch `gt.log` / `gt.info`, KITTI odometry `poses.txt`
+ `calib.txt`, and single 4×4 transforms as text, NPY or JSON.

The direction conventions are where registration evaluations silently go wrong, so they live here once:
a `gt.log` block `i j n` holds M mapping fragment **j** into the frame of fragment **i** (spec §7), so the
source→target ground truth is M when source = j, target = i, and inv(M) for source = i, target = j (what
the SC²-PCR/PointDSC 3DMatch loaders use). For KITTI, the velodyne transform taking scan a (source) into
scan b (target) is inv(Tr)·inv(P_b)·P_a·Tr with Tr the velodyne→cam0 calibration.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..errors import InputError
from ..scene import Scene
from . import register

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


# --------------------------------------------------------------------------------------------- helpers

def _check_rigid(path, T: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape == (3, 4):
        T = np.vstack([T, [0, 0, 0, 1]])
    if T.shape != (4, 4):
        raise InputError(path, f"expected a 4×4 (or 3×4) transform, got shape {T.shape}")
    if not np.isfinite(T).all():
        raise InputError(path, "transform contains NaN or infinite values")
    R = T[:3, :3]
    if not np.allclose(R.T @ R, np.eye(3), atol=tol) or np.linalg.det(R) < 0:
        raise InputError(path, "the 3×3 block is not a rotation (RᵀR ≠ I or det < 0)")
    if not np.allclose(T[3], [0, 0, 0, 1], atol=1e-9):
        raise InputError(path, f"last row must be 0 0 0 1, got {T[3].tolist()}")
    return T


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read as text ({e})") from None


# --------------------------------------------------------------------------------------------- 4×4 files

def read_transform(path) -> np.ndarray:
    """A single rigid transform from .txt (4×4, 3×4, or 16/12 numbers), .npy or .json
    (a 4×4 list, or an object with key `transform`/`T`/`pose`). A one-block gt.log is accepted too."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    suf = path.suffix.lower()
    if suf == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(path, f"not a NumPy array ({e})") from None
        return _check_rigid(path, arr)
    text = _read_text(path)
    if suf == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(path, f"invalid JSON ({e.msg} at line {e.lineno})") from None
        if isinstance(obj, dict):
            for k in ("transform", "T", "pose", "matrix"):
                if k in obj:
                    obj = obj[k]
                    break
            else:
                raise InputError(path, "JSON object has no 'transform' key")
        try:
            return _check_rigid(path, np.asarray(obj, dtype=np.float64))
        except (ValueError, TypeError):
            raise InputError(path, "JSON transform is not a numeric 4×4 array") from None
    rows = [ln.split("#")[0].strip() for ln in text.splitlines()]
    rows = [r for r in rows if r]
    blocks = _parse_blocks(path, rows, 4, strict=False)
    if blocks is not None and len(blocks) == 1:
        return _check_rigid(path, next(iter(blocks.values())))
    try:
        vals = np.array([float(v) for r in rows for v in r.replace(",", " ").split()])
    except ValueError:
        raise InputError(path, "expected numbers only (a 4×4 matrix)") from None
    if vals.size not in (12, 16):
        raise InputError(path, f"expected 16 (4×4) or 12 (3×4) numbers, found {vals.size}")
    return _check_rigid(path, vals.reshape(-1, 4))


def transform_text(T: np.ndarray) -> str:
    return "\n".join(" ".join(f"{v:.10g}" for v in row) for row in np.asarray(T, float)) + "\n"


def write_transform(path, T: np.ndarray, extra: dict | None = None) -> None:
    """Write a 4×4 transform as .txt, .npy or .json (JSON also carries `extra`, e.g. metrics), atomically."""
    path = Path(path)
    T = np.asarray(T, float)
    suf = path.suffix.lower()
    if suf == ".npy":
        from ..atomic import save_npy

        save_npy(path, T)
    elif suf == ".json":
        rest = {k: v for k, v in (extra or {}).items() if k != "transform"}  # the matrix written is always T
        write_text(path, json.dumps({"transform": T.tolist(), **rest}, indent=2, default=_json_default))
    else:
        write_text(path, transform_text(T))


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------------------------- 3DMatch

def _parse_blocks(path, rows: list[str], size: int, strict: bool = True):
    """Blocks of a header `i j n` followed by `size` rows of `size` numbers → {(i, j): matrix}."""
    if not rows or len(rows) % (size + 1):
        if strict:
            raise InputError(path, f"expected blocks of {size + 1} lines (header + {size}×{size} matrix), "
                                   f"got {len(rows)} non-empty lines")
        return None
    out: dict[tuple[int, int], np.ndarray] = {}
    for b in range(0, len(rows), size + 1):
        head = rows[b].split()
        line = b + 1
        if len(head) != 3 or not all(re.fullmatch(r"-?\d+", h) for h in head):
            if strict:
                raise InputError(path, f"line {line}: expected a header 'i j n_fragments', got {rows[b]!r}")
            return None
        try:
            mat = np.array([[float(v) for v in rows[b + 1 + r].split()] for r in range(size)])
        except ValueError:
            if strict:
                raise InputError(path, f"line {line + 1}: non-numeric matrix entry") from None
            return None
        if mat.shape != (size, size):
            if strict:
                raise InputError(path, f"line {line + 1}: expected {size} rows of {size} numbers")
            return None
        out[(int(head[0]), int(head[1]))] = mat
    return out


def read_gt_log(path) -> dict[tuple[int, int], np.ndarray]:
    """{(i, j): M} where M maps fragment j into the frame of fragment i."""
    path = Path(path)
    rows = [r.strip() for r in _read_text(path).splitlines() if r.strip()]
    blocks = _parse_blocks(path, rows, 4)
    return {k: _check_rigid(path, v) for k, v in blocks.items()}


def read_gt_info(path) -> dict[tuple[int, int], np.ndarray]:
    """{(i, j): 6×6 information matrix} (first 3 rows/cols translation, last 3 rotation)."""
    path = Path(path)
    rows = [r.strip() for r in _read_text(path).splitlines() if r.strip()]
    return _parse_blocks(path, rows, 6)


def gt_pair(entries: dict[tuple[int, int], np.ndarray], source: int, target: int) -> np.ndarray:
    """Source→target ground truth for fragments (source, target) from gt.log entries, either direction."""
    if (target, source) in entries:  # block "i=target j=source": M maps source (j) into target (i)
        return entries[(target, source)].copy()
    if (source, target) in entries:  # block "i=source j=target": M maps target into source
        return np.linalg.inv(entries[(source, target)])
    raise KeyError(f"no gt.log entry for fragments {source} and {target}")


def gt_log_text(entries: dict[tuple[int, int], np.ndarray], n_fragments: int | None = None) -> str:
    n = n_fragments if n_fragments is not None else (max(max(k) for k in entries) + 1 if entries else 0)
    out = []
    for (i, j), M in entries.items():
        out.append(f"{i}\t{j}\t{n}")
        out.extend("\t".join(f"{v:.8f}" for v in row) for row in np.asarray(M, float))
    return "\n".join(out) + "\n"


def write_gt_log(path, entries: dict[tuple[int, int], np.ndarray], n_fragments: int | None = None) -> None:
    write_text(path, gt_log_text(entries, n_fragments))


def log_entry_for(T_src_to_tgt: np.ndarray, source: int, target: int, n_fragments: int) -> str:
    """One 3DMatch `.log` block for an estimated source→target transform: header `target source n`, M = T."""
    return gt_log_text({(target, source): T_src_to_tgt}, n_fragments)


# --------------------------------------------------------------------------------------------- KITTI

def read_kitti_poses(path) -> np.ndarray:
    """poses/XX.txt: one line of 12 floats per frame (row-major 3×4 T_w_cam0) → (F, 4, 4)."""
    path = Path(path)
    out = []
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            vals = [float(v) for v in line.split()]
        except ValueError:
            raise InputError(path, f"line {n}: non-numeric value") from None
        if len(vals) != 12:
            raise InputError(path, f"line {n}: expected 12 numbers (a 3×4 pose), found {len(vals)}")
        out.append(np.vstack([np.asarray(vals).reshape(3, 4), [0, 0, 0, 1]]))
    if not out:
        raise InputError(path, "no poses in file")
    return np.stack(out)


def read_kitti_calib(path) -> dict[str, np.ndarray]:
    """calib.txt: `KEY: 12 floats` lines → {KEY: 3×4}; `Tr` (velodyne→cam0) is returned as 4×4."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    for n, line in enumerate(_read_text(path).splitlines(), 1):
        if ":" not in line:
            continue
        key, rest = line.split(":", 1)
        try:
            vals = np.array([float(v) for v in rest.split()])
        except ValueError:
            raise InputError(path, f"line {n}: non-numeric value for {key.strip()}") from None
        if vals.size == 12:
            out[key.strip()] = vals.reshape(3, 4)
    if "Tr" not in out and "Tr_velo_to_cam" in out:
        out["Tr"] = out["Tr_velo_to_cam"]
    if "Tr" not in out:
        raise InputError(path, "no 'Tr:' (velodyne→cam0) line")
    out["Tr"] = np.vstack([out["Tr"], [0, 0, 0, 1]])
    return out


def kitti_relative(poses: np.ndarray, Tr: np.ndarray, a: int, b: int) -> np.ndarray:
    """Velodyne transform mapping scan a (source) into scan b (target): inv(Tr)·inv(P_b)·P_a·Tr."""
    if not (0 <= a < len(poses) and 0 <= b < len(poses)):
        raise IndexError(f"frames {a}, {b} outside 0..{len(poses) - 1}")
    return np.linalg.inv(Tr) @ np.linalg.inv(poses[b]) @ poses[a] @ Tr


# --------------------------------------------------------------------------------------------- any GT file

class GroundTruthFile:
    """A ground-truth or transform file in any format the workbench reads or writes, behind one interface
    (CLI `--gt`, `eval registration --gt … --pair`, the GUI's Registration ▸ Load ground truth):

    * a single transform: `.txt` (4×4, 3×4, 16 or 12 numbers), `.json` (what Export transform writes),
      `.npy` — `needs_pair` is False, `get()` returns it;
    * a 3DMatch gt.log — `get(source, target)` applies the i/j direction (a one-block log also gives its
      matrix as written without a pair);
    * KITTI odometry poses (`poses/XX.txt`, one 3×4 per line) — `get(a, b)` is the velodyne transform
      mapping scan a into scan b, with the calibration's Tr when a `calib.txt` is given or found beside the
      file (`../sequences/XX/calib.txt` or the same folder), else the poses are taken as the clouds' frames.
    """

    def __init__(self, path, calib=None):
        self.path = Path(path)
        self.kind = "transform"
        self.T: np.ndarray | None = None
        self.entries: dict[tuple[int, int], np.ndarray] | None = None
        self.poses: np.ndarray | None = None
        self.Tr: np.ndarray | None = None
        self.calib_path: Path | None = None
        p = self.path
        if not p.exists():
            raise InputError(p, "no such file")
        if p.suffix.lower() in (".npy", ".json"):
            self.T = read_transform(p)
            return
        text = _read_text(p)
        rows = [ln.split("#")[0].strip() for ln in text.splitlines()]
        rows = [r for r in rows if r]
        if text.lstrip().startswith(("{", "[")):
            self.T = read_transform(p)
            return
        blocks = _parse_blocks(p, rows, 4, strict=False)
        if blocks is not None:
            self.kind, self.entries = "gt-log", {k: _check_rigid(p, v) for k, v in blocks.items()}
            return
        counts = {len(r.replace(",", " ").split()) for r in rows}
        if counts == {12} and len(rows) >= 2:
            self.kind, self.poses = "kitti-poses", read_kitti_poses(p)
            cal = Path(calib) if calib else self._find_calib()
            if cal is not None:
                self.Tr, self.calib_path = read_kitti_calib(cal)["Tr"], cal
            return
        self.T = read_transform(p)

    def _find_calib(self) -> Path | None:
        p = self.path
        for c in (p.parent.parent / "sequences" / p.stem / "calib.txt", p.parent / "calib.txt"):
            if c.exists():
                return c
        return None

    @property
    def needs_pair(self) -> bool:
        """True unless the file holds one transform (a one-block gt.log also serves without a pair)."""
        return not (self.kind == "transform" or (self.entries is not None and len(self.entries) == 1))

    def pairs(self) -> list[tuple[int, int]]:
        """(source, target) pairs the file defines (gt.log), or consecutive frames for poses."""
        if self.entries is not None:
            return [(j, i) for i, j in self.entries]  # block "i j": M maps fragment j (source) into i (target)
        if self.poses is not None:
            return [(k, k + 1) for k in range(len(self.poses) - 1)]
        return []

    def get(self, source: int | None = None, target: int | None = None) -> np.ndarray:
        """The source→target 4×4 ground truth (source/target: fragment or frame indices where needed)."""
        if self.kind == "transform":
            return self.T.copy()
        if (source is None or target is None) and not self.needs_pair:
            return next(iter(self.entries.values())).copy()
        if source is None or target is None:
            n = len(self.entries) if self.entries is not None else len(self.poses)
            what = "pairs" if self.kind == "gt-log" else "poses"
            raise InputError(self.path, f"holds {n} {what}: give the pair (--pair SOURCE TARGET)")
        if self.entries is not None:
            try:
                return gt_pair(self.entries, int(source), int(target))
            except KeyError as e:
                raise InputError(self.path, str(e.args[0])) from None
        try:
            return kitti_relative(self.poses, np.eye(4) if self.Tr is None else self.Tr, int(source), int(target))
        except IndexError as e:
            raise InputError(self.path, str(e)) from None

    def describe(self) -> str:
        if self.kind == "kitti-poses":
            return (f"KITTI poses ({len(self.poses)} frames), "
                    + (f"velodyne frame via Tr of {self.calib_path}" if self.Tr is not None else
                       "no calib.txt found: poses taken as the clouds' frames"))
        if self.kind == "gt-log":
            return f"3DMatch gt.log ({len(self.entries)} pairs)"
        return "4×4 transform"


def load_ground_truth(path, pair: tuple[int, int] | None = None, calib=None) -> np.ndarray:
    """One source→target 4×4 ground truth from any supported file (see GroundTruthFile)."""
    g = GroundTruthFile(path, calib)
    return g.get(*pair) if pair is not None else g.get()


# --------------------------------------------------------------------------------------------- readers

def _looks_like_gt_log(head: bytes, size: int) -> bool:
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        return False
    rows = [r.strip() for r in text.splitlines() if r.strip()][:size + 1]
    if len(rows) < size + 1:
        return False
    return _parse_blocks(None, rows, size, strict=False) is not None


@register("3dmatch-gt-log", "3DMatch gt.log (pairwise ground-truth transforms)")
def load_gt_log(path: Path, **opts) -> Scene:
    entries = read_gt_log(path)
    scene = Scene(name=path.name, path=str(path))
    scene.meta["format"] = "3dmatch-gt-log"
    scene.meta["registration_pairs"] = {f"{i} {j}": M for (i, j), M in entries.items()}
    scene.meta["registration_pairs_note"] = "M maps fragment j into the frame of fragment i"
    return scene


@load_gt_log.sniffer
def _sniff_gt_log(p: Path, head: bytes) -> int:
    return 60 if _looks_like_gt_log(head, 4) else 0


@register("3dmatch-gt-info", "3DMatch gt.info (6×6 information matrices per pair)")
def load_gt_info(path: Path, **opts) -> Scene:
    scene = Scene(name=path.name, path=str(path))
    scene.meta["format"] = "3dmatch-gt-info"
    scene.meta["registration_info"] = {f"{i} {j}": M for (i, j), M in read_gt_info(path).items()}
    return scene


@load_gt_info.sniffer
def _sniff_gt_info(p: Path, head: bytes) -> int:
    return 60 if _looks_like_gt_log(head, 6) else 0

# KITTI poses files are registered as a Trajectory by engine/io/trajectory.py; read_kitti_poses above is
# the strict reader used to derive relative transforms.


# --------------------------------------------------------------------------------------------- sequences

class LidarFrame:
    """One LiDAR sweep of a sequence: its file, the sensor→world pose (lidar→ego→global) and its scene."""

    __slots__ = ("key", "path", "pose", "scene", "timestamp", "columns")

    def __init__(self, key: str, path: Path, pose: np.ndarray, scene: str, timestamp: float, columns: int | None):
        self.key, self.path, self.pose, self.scene = key, path, pose, scene
        self.timestamp, self.columns = timestamp, columns


def _pose_from(owner, trans, quat_wxyz, what: str) -> np.ndarray:
    from ..rotations import quat_wxyz_to_matrix

    try:
        t = np.asarray(trans, float).reshape(3)
        q = np.asarray(quat_wxyz, float).reshape(4)
    except (TypeError, ValueError):
        raise InputError(owner, f"{what}: expected a translation of 3 and a rotation quaternion of 4 numbers") from None
    if not (np.isfinite(t).all() and np.isfinite(q).all()) or np.linalg.norm(q) < 1e-6:
        raise InputError(owner, f"{what}: non-finite or zero pose")
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = quat_wxyz_to_matrix(q / np.linalg.norm(q)), t
    return T


def _matrix4(owner, v, what: str) -> np.ndarray:
    try:
        m = np.asarray(v, float)
    except (TypeError, ValueError):
        raise InputError(owner, f"{what} must be a 4×4 matrix of numbers") from None
    if m.shape != (4, 4):
        raise InputError(owner, f"{what} must be 4×4, got shape {m.shape}")
    return _check_rigid(owner, m)


def _nuscenes_tables(root: Path) -> list[LidarFrame]:
    """Keyframe LIDAR_TOP sweeps of a nuScenes devkit folder (`v1.0-*/sample_data.json`, `ego_pose.json`,
    `calibrated_sensor.json`, `sensor.json`, `sample.json`; sweeps under `samples/LIDAR_TOP/`)."""
    from .limits import load_json, resolve_inside

    tables = sorted(p.parent for p in root.glob("*/sample_data.json"))
    if not tables:
        raise InputError(root, "no nuScenes tables (v1.0-*/sample_data.json)")
    tdir = tables[0]

    def table(name: str) -> dict:
        p = tdir / f"{name}.json"
        if not p.exists():
            raise InputError(p, "missing nuScenes table")
        rows = load_json(p, what=f"nuScenes {name} table")
        if not isinstance(rows, list) or not all(isinstance(r, dict) and "token" in r for r in rows):
            raise InputError(p, "expected a list of records with a 'token'")
        return {r["token"]: r for r in rows}

    sensor = table("sensor")
    calib = table("calibrated_sensor")
    ego = table("ego_pose")
    sample = table("sample")
    frames = []
    for tok, sd in table("sample_data").items():
        try:
            cs = calib[sd["calibrated_sensor_token"]]
            if sensor[cs["sensor_token"]].get("channel") != "LIDAR_TOP" or not sd.get("is_key_frame", True):
                continue
            ep = ego[sd["ego_pose_token"]]
            scene = sample[sd["sample_token"]].get("scene_token", "") if sd.get("sample_token") in sample else ""
        except KeyError as e:
            raise InputError(tdir / "sample_data.json", f"record {tok}: unknown token {e.args[0]!r}") from None
        lidar2ego = _pose_from(tdir / "calibrated_sensor.json", cs.get("translation"), cs.get("rotation"),
                               f"calibrated_sensor {cs['token']}")
        ego2global = _pose_from(tdir / "ego_pose.json", ep.get("translation"), ep.get("rotation"),
                                f"ego_pose {ep['token']}")
        path = resolve_inside(root, sd.get("filename"), f"sample_data {tok} filename", must_exist=False)
        frames.append(LidarFrame(tok, path, ego2global @ lidar2ego, str(scene), float(sd.get("timestamp", 0)), 5))
    if not frames:
        raise InputError(tdir / "sample_data.json", "no LIDAR_TOP keyframes")
    return frames


def _nuscenes_info(path: Path) -> list[LidarFrame]:
    """LiDAR keyframes of an mmdetection3d info `.pkl` (v1.1 `data_list`: lidar_points.lidar_path/lidar2ego,
    ego2global; or the older `infos` list: lidar_path, lidar2ego_*/ego2global_* translation + quaternion),
    read with the restricted unpickler (engine.io.nuscenes)."""
    from .limits import resolve_inside
    from .nuscenes import safe_load_pickle

    d = safe_load_pickle(path)
    if isinstance(d, dict) and "data_list" in d:
        rows, new = d["data_list"], True
    elif isinstance(d, dict) and "infos" in d:
        rows, new = d["infos"], False
    else:
        raise InputError(path, "not an mmdetection3d info file (no 'data_list' or 'infos')")
    if not isinstance(rows, list) or not rows:
        raise InputError(path, "info file holds no samples")
    frames = []
    by_name = None
    for k, s in enumerate(rows):
        if not isinstance(s, dict):
            raise InputError(path, f"sample {k} is not a record")
        try:
            if new:
                lp = s["lidar_points"]
                rel = lp["lidar_path"]
                pose = _matrix4(path, s["ego2global"], f"sample {k} ego2global") @ _matrix4(
                    path, lp["lidar2ego"], f"sample {k} lidar_points.lidar2ego")
                cols = int(lp.get("num_pts_feats", 5)) if lp.get("num_pts_feats") in (4, 5) else 5
            else:
                rel = s["lidar_path"]
                pose = _pose_from(path, s["ego2global_translation"], s["ego2global_rotation"], f"sample {k} ego2global") \
                    @ _pose_from(path, s["lidar2ego_translation"], s["lidar2ego_rotation"], f"sample {k} lidar2ego")
                cols = 5
        except KeyError as e:
            raise InputError(path, f"sample {k} has no {e.args[0]!r}") from None
        if not isinstance(rel, str):
            raise InputError(path, f"sample {k}: lidar_path must be a path string")
        p = resolve_inside(path, rel, f"sample {k} lidar_path", must_exist=False)
        if not p.exists():  # as mmdet3d writes them: relative to a data root; look for the file by name
            if by_name is None:
                by_name = {}
                for q in sorted(path.parent.rglob("*.bin")):
                    by_name.setdefault(q.name, q)
            p = by_name.get(Path(rel).name, p)
        frames.append(LidarFrame(str(s.get("token", k)), p, pose, str(s.get("scene_token", "")),
                                 float(s.get("timestamp", k)), cols))
    return frames


def read_lidar_sequence(path) -> list[LidarFrame]:
    """nuScenes-style LiDAR keyframes with sensor→global poses: a devkit folder (v1.0-*/ tables) or an
    mmdetection3d info .pkl (or a folder holding exactly one). Ordered by scene, then timestamp."""
    path = Path(path)
    if path.is_dir():
        if any(path.glob("*/sample_data.json")):
            frames = _nuscenes_tables(path)
        else:
            pkls = sorted(path.glob("*.pkl"))
            if len(pkls) != 1:
                raise InputError(path, "no nuScenes tables (v1.0-*/sample_data.json) and not exactly one info .pkl")
            frames = _nuscenes_info(pkls[0])
    else:
        frames = _nuscenes_info(path)
    order = {}
    for f in frames:
        order.setdefault(f.scene, len(order))
    frames.sort(key=lambda f: (order[f.scene], f.timestamp))
    return frames


# --------------------------------------------------------------------------------------------- pair lists

def read_pair_list(path) -> list[dict]:
    """A 3DMatch/3DLoMatch pair list as Predator (`{'src', 'tgt', 'rot', 'trans', 'overlap'}`: parallel lists,
    rot·src + trans maps src into tgt) or GeoTransformer (a list of `{'pcd0', 'pcd1', 'rotation', 'translation',
    'overlap', 'scene_name', 'frag_id0', 'frag_id1'}`: the transform maps pcd1 (source) into pcd0 (reference))
    write it, read with the restricted unpickler → [{source, target, gt (4×4 source→target), overlap, scene}]."""
    from .nuscenes import safe_load_pickle

    path = Path(path)
    d = safe_load_pickle(path)
    out = []

    def gt_of(k, R, t):
        try:
            R = np.asarray(R, float).reshape(3, 3)
            t = np.asarray(t, float).reshape(3)
        except (TypeError, ValueError):
            raise InputError(path, f"pair {k}: rotation must be 3×3 and translation 3 numbers") from None
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, t
        return _check_rigid(path, T)

    def text(k, v, what):
        if not isinstance(v, str) or not v:
            raise InputError(path, f"pair {k}: {what} must be a path string")
        return v

    if isinstance(d, dict) and {"src", "tgt", "rot", "trans"} <= set(d):
        n = len(d["src"])
        for key in ("tgt", "rot", "trans"):
            if len(d[key]) != n:
                raise InputError(path, f"'{key}' has {len(d[key])} entries, 'src' has {n}")
        ov = d.get("overlap")
        for k in range(n):
            src = text(k, d["src"][k], "src")
            out.append({"source": src, "target": text(k, d["tgt"][k], "tgt"), "gt": gt_of(k, d["rot"][k], d["trans"][k]),
                        "overlap": None if ov is None else float(np.asarray(ov[k]).ravel()[0]),
                        "scene": Path(src).parent.name})
    elif isinstance(d, list) and d and all(isinstance(r, dict) for r in d):
        for k, r in enumerate(d):
            try:
                out.append({"source": text(k, r["pcd1"], "pcd1"), "target": text(k, r["pcd0"], "pcd0"),
                            "gt": gt_of(k, r["rotation"], r["translation"]),
                            "overlap": None if r.get("overlap") is None else float(r["overlap"]),
                            "scene": str(r.get("scene_name") or Path(r["pcd1"]).parent.name)})
            except KeyError as e:
                raise InputError(path, f"pair {k} has no {e.args[0]!r}") from None
    else:
        raise InputError(path, "not a pair list (Predator: a dict with src/tgt/rot/trans; GeoTransformer: a list of "
                               "records with pcd0/pcd1/rotation/translation)")
    if not out:
        raise InputError(path, "pair list is empty")
    return out


def read_pth_points(path) -> np.ndarray:
    """An N×3 point array from a `.pth` fragment as Predator/GeoTransformer store 3DMatch (torch.save of a numpy
    array or tensor), through torch's weights-only unpickler with numpy's array reconstructors allowed."""
    import torch

    path = Path(path)
    allowed = [np.ndarray, np.dtype]
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        try:
            allowed.append(getattr(__import__(mod, fromlist=["_reconstruct"]), "_reconstruct"))
        except (ImportError, AttributeError):
            pass
    allowed += [type(np.dtype(c)) for c in "fdil"]  # numpy ≥ 1.25 pickles dtypes by their classes
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except Exception as e:  # noqa: BLE001 — torch raises UnpicklingError/RuntimeError/ValueError for bad files
        raise InputError(path, f"not a weights-only torch file of points ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200]})") from None
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, dict):  # some exports keep {'points': …}
        obj = next((obj[k] for k in ("points", "pcd", "xyz", "coord") if k in obj), obj)
    try:
        pts = np.asarray(obj, np.float64)
    except (TypeError, ValueError):
        raise InputError(path, f"holds a {type(obj).__name__}, not a point array") from None
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise InputError(path, f"expected an N×3 point array, got shape {pts.shape}")
    return pts[:, :3]
