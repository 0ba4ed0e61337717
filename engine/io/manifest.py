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

Paths are relative to the manifest. `options` go to the file's reader (label_set, labels, origin,
voxel_size, ...). Entries with `camera` become cameras of one `CameraRig` layer. `frames` make a
sequence: the static `layers` plus frame 0 are loaded, and `load_frame(scene, i)` swaps in frame i.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..scene import Camera, CameraRig, ImageLayer, Layer, Scene
from . import load_layers, register

KEY = "scenelens_scene"


def _matrix(path: Path, entry: dict, key: str, shape: tuple[int, int]) -> np.ndarray | None:
    if key not in entry:
        return None
    m = np.asarray(entry[key], float)
    if m.shape != shape:
        raise InputError(path, f"{key} must be {shape[0]}×{shape[1]}, got shape {m.shape}")
    return m


def _load_entries(manifest: Path, entries: list[dict[str, Any]]) -> list[Layer]:
    base = manifest.parent
    layers: list[Layer] = []
    cams: list[Camera] = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or "path" not in e:
            raise InputError(manifest, f"layer entry {i} needs a 'path'")
        p = (base / e["path"]).resolve()
        if not p.exists():
            raise InputError(manifest, f"layer entry {i}: file {e['path']} does not exist")
        opts = dict(e.get("options", {}))
        for k in ("labels",):
            if k in opts:
                opts[k] = str((base / opts[k]).resolve())
        new = load_layers(p, **opts)
        if "camera" in e:
            c = e["camera"]
            img = next((lay for lay in new if isinstance(lay, ImageLayer)), None)
            if img is None:
                raise InputError(manifest, f"layer entry {i}: camera {e['path']} is not an image")
            h, w = img.image.shape[:2]
            cams.append(Camera(name=e.get("name", p.stem), K=_matrix(manifest, c, "K", (3, 3)),
                               cam_to_frame=_matrix(manifest, c, "cam_to_frame", (4, 4)),
                               image=img.image, image_path=str(p), size=(w, h)))
            continue
        for lay in new:
            if "name" in e and len(new) == 1:
                lay.name = e["name"]
            lay.meta.update(e.get("meta", {}))
        layers.extend(new)
    if cams:
        layers.append(CameraRig(name="cameras", source=str(manifest), cameras=cams))
    return layers


@register("manifest", "SceneLens scene manifest (JSON)")
def load_manifest(path: Path, **opts) -> Scene:
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(path, f"invalid JSON ({e})") from None
    if not isinstance(d, dict) or KEY not in d:
        raise InputError(path, f"not a SceneLens manifest (missing '{KEY}')")
    scene = Scene(name=d.get("name", path.stem), path=str(path))
    scene.meta.update({"format": "manifest", "frame": d.get("frame", "world"), "manifest": d})
    scene.layers.extend(_load_entries(path, d.get("layers", [])))
    frames = d.get("frames") or []
    scene.meta["frames"] = frames
    if frames:
        scene.meta["frame_index"] = 0
        for lay in _load_entries(path, frames[0].get("layers", [])):
            lay.meta["per_frame"] = True
            scene.add(lay)
    return scene


@load_manifest.sniffer
def _sniff_manifest(p: Path, head: bytes) -> int:
    return 100 if head.lstrip().startswith(b"{") and KEY.encode() in head else 0


def load_frame(scene: Scene, index: int) -> Scene:
    """Replace the per-frame layers of a manifest sequence with those of frame `index` (in place)."""
    frames = scene.meta.get("frames") or []
    if not 0 <= index < len(frames):
        raise InputError(scene.path, f"frame {index} out of range (0..{len(frames) - 1})")
    keep = [lay for lay in scene.layers if not lay.meta.get("per_frame")]
    new = _load_entries(Path(scene.path), frames[index].get("layers", []))
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
