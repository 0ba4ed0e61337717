"""Project files and crash recovery.

A project (`.slproj`) is a zip holding `project.json` (scene path, frame, view state, layer visibility,
JSON annotations) and `arrays.npz` (array-valued annotations such as edited label grids or keypoints).
It is written atomically, so a crash mid-save leaves the previous version intact. Autosave writes the same
structure to a recovery file in the user's state folder; the GUI offers it on the next start and deletes it
on a clean exit.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_open
from .errors import InputError

FORMAT = "scenelens-project"
VERSION = 1


@dataclass
class Project:
    scene_path: str | None = None
    frame_index: int = 0
    view: dict[str, Any] = field(default_factory=dict)
    visibility: dict[str, bool] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)  # JSON-able values or numpy arrays
    saved_at: str | None = None


def save_project(path: str | Path, project: Project) -> None:
    import datetime as _dt

    arrays = {k: v for k, v in project.annotations.items() if isinstance(v, np.ndarray)}
    plain = {k: v for k, v in project.annotations.items() if not isinstance(v, np.ndarray)}
    meta = {
        "format": FORMAT, "version": VERSION, "scene_path": project.scene_path, "frame_index": project.frame_index,
        "view": project.view, "visibility": project.visibility, "annotations": plain,
        "array_annotations": sorted(arrays), "saved_at": _dt.datetime.now().isoformat(timespec="seconds"),
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


def load_project(path: str | Path) -> Project:
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("project.json"))
            arrays = dict(np.load(io.BytesIO(z.read("arrays.npz")), allow_pickle=False))
    except FileNotFoundError:
        raise InputError(path, "no such project file") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, ValueError, OSError) as e:
        raise InputError(path, f"not a readable SceneLens project ({e})") from None
    if meta.get("format") != FORMAT:
        raise InputError(path, "not a SceneLens project file")
    if int(meta.get("version", 0)) > VERSION:
        raise InputError(path, f"project version {meta['version']} is newer than this SceneLens ({VERSION})")
    ann = dict(meta.get("annotations", {}))
    ann.update(arrays)
    return Project(scene_path=meta.get("scene_path"), frame_index=int(meta.get("frame_index", 0)),
                   view=meta.get("view", {}), visibility=meta.get("visibility", {}), annotations=ann,
                   saved_at=meta.get("saved_at"))


def recovery_path() -> Path:
    """Where autosave writes; overridable with SCENELENS_STATE_DIR (tests, portable installs)."""
    import os

    base = os.environ.get("SCENELENS_STATE_DIR")
    if not base:
        from platformdirs import user_state_dir

        base = user_state_dir("SceneLens", appauthor=False)
    return Path(base) / "recovery.slproj"


def has_recovery() -> bool:
    return recovery_path().exists()


def write_recovery(project: Project) -> Path:
    p = recovery_path()
    save_project(p, project)
    return p


def discard_recovery() -> None:
    p = recovery_path()
    if p.exists():
        p.unlink()
