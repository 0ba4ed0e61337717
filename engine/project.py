"""Project files and crash recovery.

A project (`.slproj`) is a zip holding `project.json` and `arrays.npz` (never a pickle). Version 2 keeps the
whole session: the scene path *relative to the project file* (so a project reopens from any working
directory and after its folder is moved), every layer a job made (its arrays and provenance), every
file-backed layer the user changed (detected by fingerprint, so no edit path has to declare itself), layer
visibility/transform/style, the workspace, the view and the workbenches' own annotations. Version-1 files
(scene path plus annotations) still open. Writes are atomic, so a crash mid-save leaves the previous version.

Recovery is per running instance (`RecoveryStore`): each instance autosaves to its own file and holds an OS
lock on it while it lives, so a second instance never offers, restores or deletes a live instance's work.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_open
from .errors import InputError

FORMAT = "scenelens-project"
VERSION = 2


@dataclass
class Project:
    scene_path: str | None = None  # absolute when in memory; stored relative to the project file
    frame_index: int = 0
    view: dict[str, Any] = field(default_factory=dict)
    visibility: dict[str, bool] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)  # JSON-able values or numpy arrays
    saved_at: str | None = None
    workspace: str | None = None
    layers: list[dict] = field(default_factory=list)  # layer descriptions (engine.layer_io) + role
    layer_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    scene_name: str | None = None
    pair: list[str] | None = None  # a registration pair opened from two files (no single scene path)


def _rel(p: str | None, base: Path) -> str | None:
    if not p:
        return None
    try:
        return os.path.relpath(os.path.abspath(p), base)
    except ValueError:  # another drive (Windows)
        return os.path.abspath(p)


def resolve_scene_path(stored_rel: str | None, stored_abs: str | None, project_file: Path) -> str | None:
    """Where the project's scene is now: relative to the project file first (the folder may have moved),
    then the absolute path it had when saved."""
    for cand in ((project_file.parent / stored_rel) if stored_rel else None, stored_abs):
        if cand and Path(cand).exists():
            return str(Path(cand).resolve())
    return None


def save_project(path: str | Path, project: Project) -> None:
    import datetime as _dt

    path = Path(path)
    base = path.resolve().parent
    arrays = {f"ann/{k}": v for k, v in project.annotations.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in project.annotations.items() if not isinstance(v, np.ndarray)}
    arrays.update({f"layer/{k}": v for k, v in project.layer_arrays.items()})
    meta = {
        "format": FORMAT, "version": VERSION,
        "scene_path": _rel(project.scene_path, base),
        "scene_path_abs": os.path.abspath(project.scene_path) if project.scene_path else None,
        "pair": [_rel(p, base) for p in project.pair] if project.pair else None,
        "pair_abs": [os.path.abspath(p) for p in project.pair] if project.pair else None,
        "scene_name": project.scene_name, "frame_index": project.frame_index, "workspace": project.workspace,
        "view": project.view, "visibility": project.visibility, "annotations": plain, "layers": project.layers,
        "array_annotations": sorted(k[4:] for k in arrays if k.startswith("ann/")),
        "saved_at": _dt.datetime.now().isoformat(timespec="seconds"),
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    with atomic_open(path, "wb") as f:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("project.json", json.dumps(meta, indent=1, default=_json_default))
            z.writestr("arrays.npz", buf.getvalue())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


MAX_PROJECT_JSON = 64 << 20


def load_project(path: str | Path) -> Project:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such project file")
    from .io.limits import check_zip, read_member

    check_zip(path)  # declared sizes and the arrays' .npy headers judged before anything is inflated
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("project.json")
            if info.file_size > MAX_PROJECT_JSON:
                raise InputError(path, f"project.json declares {info.file_size:,} bytes (limit {MAX_PROJECT_JSON:,})")
            meta = json.loads(z.read("project.json"))
            npz = np.load(read_member(z, "arrays.npz"), allow_pickle=False)  # piecewise: few GIL stalls
            arrays = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise InputError(path, "no such project file") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, ValueError, OSError, RecursionError,
            MemoryError) as e:
        raise InputError(path, f"not a readable SceneLens project ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(path, "not a SceneLens project file")
    try:
        version = int(meta.get("version", 0))
    except (TypeError, ValueError):
        raise InputError(path, "project version is not a number") from None
    if version > VERSION:
        raise InputError(path, f"project version {meta['version']} is newer than this SceneLens ({VERSION})")
    ann = dict(meta.get("annotations") or {})
    if version >= 2:
        ann.update({k[4:]: v for k, v in arrays.items() if k.startswith("ann/")})
        layer_arrays = {k[6:]: v for k, v in arrays.items() if k.startswith("layer/")}
        scene_path = resolve_scene_path(meta.get("scene_path"), meta.get("scene_path_abs"), path)
        if meta.get("scene_path") and scene_path is None:
            raise InputError(path, f"the project's scene {meta.get('scene_path')} is missing (looked next to the "
                                   f"project and at {meta.get('scene_path_abs')})")
        pair = None
        if meta.get("pair"):
            pair = [resolve_scene_path(r, a, path) for r, a in zip(meta["pair"], meta.get("pair_abs") or meta["pair"])]
            if any(p is None for p in pair):
                raise InputError(path, f"the project's point-cloud pair {meta['pair']} is missing")
    else:
        ann.update(arrays)
        layer_arrays = {}
        scene_path = meta.get("scene_path")
        if scene_path and not Path(scene_path).is_absolute():
            scene_path = resolve_scene_path(scene_path, scene_path, path) or scene_path
        pair = None
    layers = meta.get("layers") or []
    if not isinstance(layers, list) or not all(isinstance(d, dict) for d in layers):
        raise InputError(path, "project 'layers' must be a list of objects")
    return Project(scene_path=scene_path, frame_index=int(meta.get("frame_index") or 0),
                   view=meta.get("view") or {}, visibility=meta.get("visibility") or {}, annotations=ann,
                   saved_at=meta.get("saved_at"), workspace=meta.get("workspace"), layers=layers,
                   layer_arrays=layer_arrays, scene_name=meta.get("scene_name"), pair=pair)


# ---------------------------------------------------------------------------------------------- recovery
def state_dir() -> Path:
    """The user's state folder; overridable with SCENELENS_STATE_DIR (tests, portable installs)."""
    base = os.environ.get("SCENELENS_STATE_DIR")
    if not base:
        from platformdirs import user_state_dir

        base = user_state_dir("SceneLens", appauthor=False)
    return Path(base)


class RecoveryStore:
    """This instance's recovery file (`recovery/<pid>-<n>.slproj`) and the orphans of instances that died.

    The instance holds an exclusive `flock` on `<file>.lock` for its whole life; a file whose lock can be
    taken belongs to nobody alive and may be offered. The lock goes with the process, even after kill -9.
    """

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder else state_dir() / "recovery"
        self._lock_fd: int | None = None
        self.path: Path | None = None

    def _acquire_own(self) -> Path:
        if self.path is not None:
            return self.path
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        n = 0
        while True:
            p = self.folder / f"{os.getpid()}-{n}.slproj"
            fd = os.open(str(p) + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                n += 1
                continue
            if p.exists():  # a stale file of a dead process that had our pid: not ours to overwrite
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                n += 1
                continue
            self._lock_fd, self.path = fd, p
            return p

    def write(self, project: Project) -> Path:
        p = self._acquire_own()
        save_project(p, project)
        return p

    def discard_own(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()

    def close(self) -> None:
        """Release the lock (the file, if any, stays for the next start to offer)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            lock = Path(str(self.path) + ".lock")
            if self.path is not None and not self.path.exists() and lock.exists():
                lock.unlink(missing_ok=True)
            self._lock_fd, self.path = None, None

    def orphans(self) -> list[Path]:
        """Recovery files of instances no longer running, newest first."""
        import fcntl

        out = []
        if not self.folder.is_dir():
            return out
        for p in self.folder.glob("*.slproj"):
            if p == self.path:
                continue
            fd = os.open(str(p) + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                out.append(p)
            except OSError:
                pass  # a live instance holds it
            finally:
                os.close(fd)
        return sorted(out, key=lambda p: p.stat().st_mtime, reverse=True)

    def discard(self, p: Path) -> bool:
        """Delete an orphan (never a live instance's file); True when deleted."""
        if p not in self.orphans():
            return False
        p.unlink(missing_ok=True)
        Path(str(p) + ".lock").unlink(missing_ok=True)
        return True
