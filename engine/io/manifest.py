"""The scene manifest: a small JSON file that ties the files of one scene (and its frames) together.

```json
{
  "scenelens_scene": 1,
  "name": "SemanticKITTI 00 / 000000",
  "frame": "lidar",
  "layers": [
    {"path": "velodyne/000000.bin", "name": "LiDAR", "options": {"labels": "labels/000000.label"}},
    {"path": "image_2/000000.png", "name": "CAM2",
     "camera": {"K": [[...3x3...]], "cam_to_frame": [[...4x4...]]}}
  ],
  "frames": [ {"name": "000001", "layers": [ ...same entry form... ]} ]
}
```

Paths are relative to the manifest and may not leave its folder unless the user allows it
(`--allow-outside-paths`, `SCENELENS_ALLOW_OUTSIDE_PATHS=1`, or `engine.io.limits.allow_outside_paths`).
Fields are type-checked (pydantic) and a wrong one is named (`frames.0: ...`); a manifest that lists
itself, directly or through others, is refused as a cycle; a UTF-8 BOM is accepted. `options` go to the file's reader (label_set, labels, origin,
voxel_size, ...). Entries with `camera` become cameras of one `CameraRig` layer. `frames` make a
sequence: the static `layers` plus frame 0 are loaded, and `load_frame(scene, i)` swaps in frame i.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from ..errors import InputError
from ..scene import Camera, CameraRig, ImageLayer, Layer, Scene
from . import load_layers, register
from .limits import load_json, resolve_inside

KEY = "scenelens_scene"
MAX_NAME = 1024  # characters: longer names are garbage (and crash X11 when a window title gets them)
_loading: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("manifests_loading", default=())

_Name = Annotated[str, StringConstraints(max_length=MAX_NAME)]


class _Camera(BaseModel):
    model_config = ConfigDict(extra="allow")
    K: list[list[float]] | None = None
    cam_to_frame: list[list[float]] | None = None


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")
    path: Annotated[str, StringConstraints(min_length=1, max_length=4096)]
    name: _Name | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    meta: dict[str, Any] = Field(default_factory=dict)
    camera: _Camera | None = None


class _Frame(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: _Name | None = None
    layers: list[_Entry] = Field(default_factory=list)


class _Manifest(BaseModel):
    model_config = ConfigDict(extra="allow")
    scenelens_scene: int
    name: _Name | None = None
    frame: _Name = "world"
    layers: list[_Entry] = Field(default_factory=list)
    frames: list[_Frame] = Field(default_factory=list)


def _validation_message(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "manifest"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    msg = err["msg"]
    if err["type"] == "string_too_long":
        msg = f"is {len(err.get('input', '')):,} characters (limit {err['ctx']['max_length']:,})"
    return f"field {where}: {msg}{more}"


def validate_manifest(path: Path, d: Any) -> _Manifest:
    """The manifest's fields type-checked; the message names the first wrong field (e.g. `frames.0`)."""
    if not isinstance(d, dict) or KEY not in d:
        raise InputError(path, f"not a SceneLens manifest (missing '{KEY}')")
    try:
        return _Manifest.model_validate(d)
    except ValidationError as e:
        raise InputError(path, _validation_message(e)) from None


def _matrix(path: Path, entry: dict, key: str, shape: tuple[int, int], what: str) -> np.ndarray | None:
    if entry.get(key) is None:
        return None
    try:
        m = np.asarray(entry[key], float)
    except ValueError:
        raise InputError(path, f"{what}.{key} must be a {shape[0]}×{shape[1]} matrix") from None
    if m.shape != shape:
        raise InputError(path, f"{what}.{key} must be {shape[0]}×{shape[1]}, got shape {m.shape}")
    bad = int((~np.isfinite(m)).sum())
    if bad:
        raise InputError(path, f"{what}.{key} has {bad} non-finite value{'s' if bad != 1 else ''} (NaN or Inf)")
    return m


def _load_entries(manifest: Path, entries: list, where: str = "layers") -> list[Layer]:
    layers: list[Layer] = []
    cams: list[Camera] = []
    try:
        entries = [e if isinstance(e, _Entry) else _Entry.model_validate(e) for e in entries]
    except ValidationError as e:
        raise InputError(manifest, _validation_message(e)) from None
    for i, e in enumerate(entries):
        what = f"{where}.{i}"
        p = resolve_inside(manifest, e.path, f"{what}.path")
        opts = dict(e.options)
        for k in ("labels",):
            if k in opts:
                opts[k] = str(resolve_inside(manifest, opts[k], f"{what}.options.{k}"))
        new = load_layers(p, **opts)
        if e.camera is not None:
            c = e.camera.model_dump()
            img = next((lay for lay in new if isinstance(lay, ImageLayer)), None)
            if img is None:
                raise InputError(manifest, f"{what}: camera {e.path} is not an image")
            h, w = img.image.shape[:2]
            K = _matrix(manifest, c, "K", (3, 3), f"{what}.camera")
            if K is not None and (K[0, 0] <= 0 or K[1, 1] <= 0):
                raise InputError(manifest, f"{what}.camera.K has focal lengths {K[0, 0]:g}, {K[1, 1]:g}; "
                                           "they must be positive")
            cams.append(Camera(name=e.name or p.stem, K=K,
                               cam_to_frame=_matrix(manifest, c, "cam_to_frame", (4, 4), f"{what}.camera"),
                               image=img.image, image_path=str(p), size=(w, h)))
            continue
        for lay in new:
            if e.name is not None and len(new) == 1:
                lay.name = e.name
            lay.meta.update(e.meta)
        layers.extend(new)
    if cams:
        layers.append(CameraRig(name="cameras", source=str(manifest), cameras=cams))
    return layers


@contextlib.contextmanager
def _guard(path: Path):
    """Refuse a manifest that (through others) lists itself: a cycle would recurse forever."""
    key = os.path.realpath(path)
    stack = _loading.get()
    if key in stack:
        chain = " → ".join(Path(s).name for s in (*stack[stack.index(key):], key))
        raise InputError(path, f"manifests form a cycle ({chain})")
    tok = _loading.set((*stack, key))
    try:
        yield
    finally:
        _loading.reset(tok)


@register("manifest", "SceneLens scene manifest (JSON)")
def load_manifest(path: Path, **opts) -> Scene:
    d = load_json(path, what="manifest JSON")
    m = validate_manifest(path, d)
    with _guard(path):
        scene = Scene(name=m.name or path.stem, path=str(path))
        scene.meta.update({"format": "manifest", "frame": m.frame, "manifest": d})
        scene.layers.extend(_load_entries(path, m.layers))
        frames = [f.model_dump() for f in m.frames]
        scene.meta["frames"] = frames
        if frames:
            scene.meta["frame_index"] = 0
            for lay in _load_entries(path, m.frames[0].layers, "frames.0.layers"):
                lay.meta["per_frame"] = True
                scene.add(lay)
    return scene


@load_manifest.sniffer
def _sniff_manifest(p: Path, head: bytes) -> int:
    h = head[3:] if head.startswith(b"\xef\xbb\xbf") else head  # a UTF-8 BOM is fine
    return 100 if h.lstrip().startswith(b"{") and KEY.encode() in h else 0


def load_frame(scene: Scene, index: int) -> Scene:
    """Replace the per-frame layers of a manifest sequence with those of frame `index` (in place)."""
    frames = scene.meta.get("frames") or []
    if not 0 <= index < len(frames):
        raise InputError(scene.path, f"frame {index} out of range (0..{len(frames) - 1})")
    keep = [lay for lay in scene.layers if not lay.meta.get("per_frame")]
    with _guard(Path(scene.path)):
        new = _load_entries(Path(scene.path), frames[index].get("layers", []), f"frames.{index}.layers")
    for lay in new:
        lay.meta["per_frame"] = True
    scene.layers = keep + new
    scene.meta["frame_index"] = index
    return scene


def write_manifest(path: str | Path, name: str, layers: list[dict], frames: list[dict] | None = None,
                   frame: str = "world") -> None:
    from ..atomic import write_text

    d: dict[str, Any] = {KEY: 1, "name": name, "frame": frame, "layers": layers}
    if frames:
        d["frames"] = frames
    write_text(path, json.dumps(d, indent=1))


MANIFEST_NAMES = ("scene.json", "scene.slscene.json")


def manifest_in_folder(folder: Path) -> Path | None:
    """The scene manifest a folder holds (`scene.json`), so a scene folder opens like its manifest."""
    for name in MANIFEST_NAMES:
        p = Path(folder) / name
        try:
            if p.is_file() and KEY.encode() in p.read_bytes()[:4096]:
                return p
        except OSError:
            return None
    return None


@register("manifest folder", "folder holding a SceneLens scene manifest (scene.json)", folder=True)
def load_manifest_folder(path: Path, **opts) -> Scene:
    m = manifest_in_folder(path)
    if m is None:
        raise InputError(path, "folder holds no scene.json manifest")
    return load_manifest(m, **opts)


@load_manifest_folder.sniffer
def _sniff_manifest_folder(p: Path, head: bytes) -> int:
    return 100 if manifest_in_folder(p) is not None else 0
