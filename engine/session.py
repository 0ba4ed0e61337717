"""The session model: the one state the window, the CLI and the `scenelens` Python API share.

A `Session` owns the scene and its layers (each with transform, style and provenance), the selection (a typed
`Pick`), the active tool, the workspace and the edit commands. Views follow it through change events
(`session.on(event, fn)`), never by polling, and never compute anything themselves. It runs and is tested
without Qt: the GUI only plugs in an undo backend (a QUndoStack) and listens.

Events: `scene` (a new scene), `layer_added`, `layer_removed`, `layer_changed` (payload: the layer),
`selection` (Pick or None), `tool` (name), `workspace` (name), `edited` (anything that should be autosaved).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import InputError
from .layer_io import dump_layer, fingerprint, load_layer
from .project import Project, load_project, save_project
from .scene import Layer, Scene
from .undo import Command, UndoStack

WORKSPACES = ("Viewer", "Occupancy", "Registration", "Pose", "Attribution")


@dataclass(frozen=True)
class Pick:
    """What a click hit: `layer` (uid), `kind` ('point', 'voxel', 'joint', 'pixel', 'correspondence'),
    `index` (point id, (i, j, k), (t, person, joint), (u, v)...), `position` (scene-frame xyz or image uv) and
    `value` (class id, label, score... whatever the layer holds there). Tools read the fields, never text."""

    layer: str
    kind: str
    index: Any
    position: tuple = ()
    value: Any = None
    details: dict = field(default_factory=dict, compare=False)


class Session:
    def __init__(self, scene: Scene | None = None, device: str = "cpu"):
        self.scene = scene or Scene()
        self.device = device
        self.selection: Pick | None = None
        self.active_tool: str | None = None
        self.workspace: str = "Viewer"
        self.project_path: str | None = None
        self.pair_paths: list[str] | None = None  # a registration pair opened from two files
        self.view: dict = {}
        self.annotations: dict[str, Any] = {}  # workbenches' own saved state (keyed by workbench)
        self.undo = UndoStack()
        self._pusher: Callable[[Command], None] | None = None
        self._listeners: dict[str, list[Callable]] = {}
        self._file_prints: dict[str, str] = {}  # uid -> fingerprint at load, for file-backed layers
        self._file_order: dict[str, int] = {}  # uid -> position among the scene file's layers
        self.dirty = False
        self._remember_file_layers()

    # ------------------------------------------------------------------------------------------ events
    def on(self, event: str, fn: Callable) -> None:
        self._listeners.setdefault(event, []).append(fn)

    def off(self, event: str, fn: Callable) -> None:
        if fn in self._listeners.get(event, []):
            self._listeners[event].remove(fn)

    def emit(self, event: str, payload: Any = None) -> None:
        for fn in list(self._listeners.get(event, [])):
            fn(payload)
        if event in ("layer_added", "layer_removed", "layer_changed", "edited"):
            self.dirty = True
            if event != "edited":
                for fn in list(self._listeners.get("edited", [])):
                    fn(payload)

    # ------------------------------------------------------------------------------------------ layers
    @property
    def layers(self) -> dict[str, Layer]:
        """Layers by name (the first of equal names wins; `scene.get(uid)` reaches any)."""
        out: dict[str, Layer] = {}
        for lay in self.scene.layers:
            out.setdefault(lay.name, lay)
        return out

    @staticmethod
    def precompute_prints(scene: Scene) -> Scene:
        """Hash the freshly read layers in the open job (a 50M-point cloud takes seconds to hash), so that
        `set_scene` on the GUI thread does not; the print is used once, by `set_scene`."""
        for lay in scene.layers:
            if "_print_at_load" not in lay.meta:  # hashed already (a job that read this scene)
                lay.meta["_print_at_load"] = fingerprint(lay)
        return scene

    def set_scene(self, scene: Scene) -> None:
        self.scene = scene
        self.selection = None
        self.undo = UndoStack()
        self.dirty = False
        self._remember_file_layers()
        self.emit("scene", scene)

    def _remember_file_layers(self) -> None:
        self._file_prints, self._file_order = {}, {}
        for i, lay in enumerate(self.scene.layers):
            if not lay.provenance:
                lay.provenance = {"kind": "file", "path": lay.source or self.scene.path}
            self._file_order[lay.uid] = i
            pre = lay.meta.pop("_print_at_load", None)  # hashed by the open job (precompute_prints)
            self._file_prints[lay.uid] = pre or fingerprint(lay)

    def add_layer(self, layer: Layer, replace: bool = True) -> Layer:
        """Add a layer (a job's result); a layer of the same name is replaced when `replace`."""
        old = next((lay for lay in self.scene.layers if lay.name == layer.name), None) if replace else None
        if old is not None:
            self.scene.layers[self.scene.layers.index(old)] = layer
            self._file_prints.pop(old.uid, None)
            self._file_order.pop(old.uid, None)
            self.emit("layer_removed", old)
        else:
            self.scene.add(layer)
        if not layer.provenance:
            layer.provenance = {"kind": "job"}
        self.emit("layer_added", layer)
        return layer

    def remove_layer(self, uid: str) -> None:
        lay = self.scene.get(uid)
        if lay is None:
            return
        self.scene.remove(lay.uid)
        self.emit("layer_removed", lay)

    def changed(self, layer: Layer) -> None:
        """Tell views and autosave that `layer`'s data, transform or style changed."""
        self.emit("layer_changed", layer)

    def set_transform(self, layer: Layer, T) -> None:
        layer.transform = np.asarray(T, float).reshape(4, 4).copy()
        self.changed(layer)

    # ------------------------------------------------------------------------------------------ selection, tools
    def select(self, pick: Pick | None) -> None:
        self.selection = pick
        self.emit("selection", pick)

    def set_tool(self, name: str | None) -> None:
        self.active_tool = name
        self.emit("tool", name)

    def set_workspace(self, name: str) -> None:
        if name not in WORKSPACES:
            raise InputError(None, f"unknown workspace {name!r} (use {', '.join(WORKSPACES)})")
        self.workspace = name
        self.emit("workspace", name)

    # ------------------------------------------------------------------------------------------ edits
    def set_undo_backend(self, push: Callable[[Command], None] | None) -> None:
        """The GUI routes commands through its QUndoStack; headless sessions use `self.undo`."""
        self._pusher = push

    def push(self, cmd: Command) -> None:
        (self._pusher or self.undo.push)(cmd)
        self.emit("edited", cmd)

    # ------------------------------------------------------------------------------------------ running
    def run(self, task: str, progress: bool = True, **options) -> list[Layer]:
        """Run a task the way the GUI runs it (blocking, a tqdm bar) and add its layers to the session."""
        from .controllers import build
        from .jobs import JobContext

        plan = build(task, self, **options)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=1000, desc=plan.job.name, leave=False)

        def on_progress(f: float, msg: str) -> None:
            if bar is not None:
                bar.n = int(f * 1000)
                bar.set_postfix_str(msg[:60], refresh=False)
                bar.refresh()

        try:
            result = plan.job.run(JobContext(on_progress))
        finally:
            if bar is not None:
                bar.close()
        return [self.add_layer(lay) for lay in plan.to_layers(result)]

    # ------------------------------------------------------------------------------------------ projects
    def to_project(self) -> Project:
        """Everything needed to come back: scene path, job layers, edited file layers, per-layer state."""
        proj = Project(scene_path=self.scene.path, frame_index=int(self.scene.meta.get("frame_index", 0)),
                       visibility={lay.name: lay.visible for lay in self.scene.layers}, workspace=self.workspace,
                       view=dict(self.view), annotations=dict(self.annotations), scene_name=self.scene.name,
                       pair=list(self.pair_paths) if self.pair_paths else None)
        for i, lay in enumerate(self.scene.layers):
            entry: dict[str, Any] = {"name": lay.name, "uid": lay.uid, "visible": lay.visible,
                                     "transform": np.asarray(lay.transform, float).tolist(), "style": _jsonable(lay.style)}
            from_file = lay.uid in self._file_order
            edited = from_file and fingerprint(lay) != self._file_prints.get(lay.uid)
            if from_file:
                entry.update(role="file", file_index=self._file_order[lay.uid], edited=edited)
            else:
                entry["role"] = "job"
            if not from_file or edited:
                desc, arrays = dump_layer(lay, f"{i}", with_images=False)
                entry["layer"] = desc
                proj.layer_arrays.update(arrays)
            proj.layers.append(entry)
        return proj

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        if path.suffix != ".slproj":
            raise InputError(path, "a project file must end in .slproj")
        if not self.scene.path and not self.pair_paths and any(e.get("role") == "file" for e in self.to_project().layers):
            raise InputError(path, "the scene has no file to refer to; open it from a file first")
        save_project(path, self.to_project())
        self.project_path = str(path.resolve())
        self.dirty = False
        self.undo.set_clean()
        return path

    def apply_project(self, proj: Project, scene: Scene, layers: list[Layer] | None = None) -> None:
        """Install `scene` (freshly loaded from the project's scene path, its layers still the file's) and lay
        the project's layers over it. `layers`: `project_layers(proj, scene)` computed beforehand (the window's
        open job does, so the GUI thread rebuilds nothing); computed here when not given."""
        if layers is None:
            self.precompute_prints(scene)  # the file's prints: of the layers as read, before the project's transforms
            layers = project_layers(proj, scene)
        self.set_scene(scene)  # remembers the file's layers (order and prints) before the project's replace them
        scene.layers = layers
        self.workspace = proj.workspace if proj.workspace in WORKSPACES else self.workspace
        self.view = dict(proj.view or {})
        self.annotations = dict(proj.annotations)
        self.pair_paths = list(proj.pair) if proj.pair else None
        if proj.scene_name:
            scene.name = proj.scene_name
        self.emit("scene", scene)

    @classmethod
    def open(cls, path: str | os.PathLike, device: str = "cpu") -> "Session":
        """A session on a file, folder, scene manifest or `.slproj` project."""
        path = Path(path)
        s = cls(device=device)
        if path.suffix == ".slproj":
            proj = load_project(path)
            s.apply_project(proj, load_scene_of(proj, path))
            s.project_path = str(path.resolve())
            s.dirty = False
            return s
        from .io import load

        s.set_scene(load(path))
        return s


def _file_provenance(lay: Layer, scene: Scene) -> None:
    if not lay.provenance:
        lay.provenance = {"kind": "file", "path": lay.source or scene.path}


def project_layers(proj: Project, scene: Scene) -> list[Layer]:
    """The layers of `scene` once `proj` is laid over it (`scene.layers`: the scene file's layers as just read,
    left in place): saved job layers and edited file layers rebuilt from the project's arrays, every listed
    layer with its saved visibility, transform and style, references between layers following the new uids,
    then the file layers the project did not list. Version 1 projects: the file layers, visibility by name.
    Sets the file layers' provenance as `Session.set_scene` would (a rebuilt layer inherits it). No session
    state: it runs in the window's open job, off the GUI thread (`precompute_prints` first, so the file's
    prints are those of the layers as read)."""
    file_layers = list(scene.layers)
    for lay in file_layers:
        _file_provenance(lay, scene)
    if not proj.layers:  # version 1: visibility by name
        for lay in file_layers:
            if lay.name in proj.visibility:
                lay.visible = bool(proj.visibility[lay.name])
        return file_layers
    uid_map: dict[str, str] = {}
    out: list[Layer] = []
    for entry in proj.layers:
        lay: Layer | None = None
        if entry.get("role") == "file":
            i = int(entry.get("file_index", -1))
            if not 0 <= i < len(file_layers):
                continue
            lay = file_layers[i]
            if entry.get("layer"):
                new = load_layer(entry["layer"], proj.layer_arrays)
                new.uid = lay.uid
                new.provenance = lay.provenance
                if hasattr(lay, "cameras") and hasattr(new, "cameras"):
                    for c_new, c_old in zip(new.cameras, lay.cameras):
                        if c_new.image is None:
                            c_new.image = c_old.image
                lay = new
        elif entry.get("layer"):
            lay = load_layer(entry["layer"], proj.layer_arrays)
        if lay is None:
            continue
        uid_map[str(entry.get("uid"))] = lay.uid
        lay.visible = bool(entry.get("visible", True))
        if entry.get("transform") is not None:
            lay.transform = np.asarray(entry["transform"], float).reshape(4, 4)
        lay.style = dict(entry.get("style") or {})
        out.append(lay)
    kept = {lay.uid for lay in out}
    out += [lay for lay in file_layers if lay.uid not in kept]  # layers the project did not list
    for lay in out:  # references between layers (correspondences, attribution maps) follow the new uids
        for attr in ("source_layer", "target_layer", "on_layer"):
            v = getattr(lay, attr, None)
            if isinstance(v, str) and v in uid_map:
                setattr(lay, attr, uid_map[v])
    return out


def load_scene_of(proj: Project, path: str | os.PathLike | None = None) -> Scene:
    """The scene a project refers to: its scene file, its registration pair, or (job layers only) an empty one."""
    from .io import load, load_layers

    if proj.scene_path:
        return load(proj.scene_path)
    if proj.pair:
        layers = [lay for p in proj.pair for lay in load_layers(p)]
        return Scene(name=proj.scene_name or "pair", layers=layers)
    return Scene(name=proj.scene_name or Path(str(path or "project")).stem)


def _jsonable(d: dict) -> dict:
    from .layer_io import _meta

    return _meta(d)[0]


def suggest_workspace(scene: Scene) -> str:
    """The workspace that fits what was opened: a grid → Occupancy, two clouds → Registration, images, video
    or keypoints → Pose, anything else (one cloud, a camera rig) → Viewer."""
    from .scene import CameraRig, ImageLayer, PointCloud, Skeleton, Trajectory, VoxelGrid

    kinds = [type(lay) for lay in scene.layers]
    if VoxelGrid in kinds:
        return "Occupancy"
    if kinds.count(PointCloud) == 2 and CameraRig not in kinds:
        return "Registration"
    if Skeleton in kinds or Trajectory in kinds or (ImageLayer in kinds and PointCloud not in kinds):
        return "Pose"
    return "Viewer"
