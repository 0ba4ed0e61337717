"""The scene model: a named set of typed layers that loaders produce, tasks consume and views draw.

Layers are plain dataclasses over numpy arrays so that the engine, the CLI and the GUI share one
representation. Every layer records where it came from (`source`) so exports can say so. Geometry is
in metres, right-handed; `q = R p + t` maps source to target. Voxel grids always carry their origin,
voxel size and axis order explicitly.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

_ids = itertools.count(1)


def _new_id() -> str:
    return f"L{next(_ids)}"


@dataclass(eq=False)
class Layer:
    """Base class. `name` is what the scene browser shows; `source` says file, model or job in one line.

    `transform` (4×4) places the layer's own coordinates in the scene frame (identity unless moved, e.g. a
    registration source); `style` holds how views draw it (colour mode, point size, opacity...) so a project
    restores the look; `provenance` says where it came from in a machine-readable form
    (`{"kind": "file", "path": ...}` or `{"kind": "job", "task": ..., "job": ..., "params": {...}}`).
    """

    name: str
    source: str = ""
    visible: bool = True
    meta: dict[str, Any] = field(default_factory=dict)
    uid: str = field(default_factory=_new_id)
    transform: np.ndarray = field(default_factory=lambda: np.eye(4))
    style: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    kind = "layer"

    def summary(self) -> str:
        return self.kind


@dataclass(eq=False)
class PointCloud(Layer):
    """N×3 float64 points plus named per-point attributes (N or N×k arrays).

    Conventional attribute names: `intensity`, `label` (int class id), `instance`, `rgb` (N×3 uint8),
    `normal` (N×3), `ring`, `score`. `label_set` names the class table in assets/labels.
    """

    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    label_set: str | None = None
    frame: str = "sensor"

    kind = "points"

    def __post_init__(self):
        self.points = np.ascontiguousarray(np.asarray(self.points, dtype=np.float64).reshape(-1, 3))
        n = len(self.points)
        for k, v in self.attributes.items():
            if len(v) != n:
                raise ValueError(f"attribute {k!r} has {len(v)} rows for {n} points")

    @property
    def n(self) -> int:
        return len(self.points)

    def summary(self) -> str:
        attrs = ", ".join(sorted(self.attributes)) or "xyz"
        return f"{self.n:,} points ({attrs})"


@dataclass(eq=False)
class VoxelGrid(Layer):
    """Dense label grid with explicit geometry.

    `labels[i, j, k]` is the class id of the voxel whose minimum corner is `origin + voxel_size * (i,j,k)`
    when `axis_order == "xyz"`. `free_label` marks empty space (17 for Occ3D, 0 for SemanticKITTI);
    `ignore_label` (e.g. 255) marks unknown. `masks` holds named bool grids (mask_camera, mask_lidar,
    invalid...), `scores` optional per-voxel confidences.
    """

    labels: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.uint8))
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    voxel_size: tuple[float, float, float] = (1.0, 1.0, 1.0)
    axis_order: str = "xyz"
    label_set: str | None = None
    free_label: int | None = None
    ignore_label: int | None = 255
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    scores: np.ndarray | None = None
    frame: str = "ego"

    kind = "voxels"

    def __post_init__(self):
        self.origin = tuple(float(v) for v in np.broadcast_to(np.asarray(self.origin, float), 3))
        self.voxel_size = tuple(float(v) for v in np.broadcast_to(np.asarray(self.voxel_size, float), 3))
        if self.labels.ndim != 3:
            raise ValueError(f"voxel labels must be 3-D, got shape {self.labels.shape}")
        for k, m in self.masks.items():
            if m.shape != self.labels.shape:
                raise ValueError(f"mask {k!r} has shape {m.shape}, labels {self.labels.shape}")
            self.masks[k] = m.astype(bool, copy=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.labels.shape)  # type: ignore[return-value]

    def occupied(self) -> np.ndarray:
        occ = np.ones(self.labels.shape, bool)
        if self.free_label is not None:
            occ &= self.labels != self.free_label
        if self.ignore_label is not None:
            occ &= self.labels != self.ignore_label
        return occ

    def centers(self, idx: np.ndarray) -> np.ndarray:
        """Metric centres (float64) of integer voxel indices idx (M×3)."""
        return np.asarray(self.origin) + (np.asarray(idx, float) + 0.5) * np.asarray(self.voxel_size)

    def index_of(self, xyz: np.ndarray) -> np.ndarray:
        """Integer voxel index of metric points (floor); may fall outside the grid."""
        return np.floor((np.asarray(xyz, float) - self.origin) / np.asarray(self.voxel_size)).astype(np.int64)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.asarray(self.origin)
        return lo, lo + np.asarray(self.voxel_size) * np.asarray(self.shape)

    def summary(self) -> str:
        return f"{'×'.join(map(str, self.shape))} grid, {int(self.occupied().sum()):,} occupied"


@dataclass(eq=False)
class Camera:
    """One camera: image (H×W×3 RGB uint8) or a video path, intrinsics K (3×3), cam→frame extrinsic (4×4)."""

    name: str
    K: np.ndarray | None = None
    cam_to_frame: np.ndarray | None = None
    image: np.ndarray | None = None
    image_path: str | None = None
    video_path: str | None = None
    size: tuple[int, int] | None = None  # (width, height)
    distortion: np.ndarray | None = None


@dataclass(eq=False)
class CameraRig(Layer):
    """A set of calibrated cameras sharing one frame (e.g. the nuScenes ego frame)."""

    cameras: list[Camera] = field(default_factory=list)
    frame: str = "ego"

    kind = "cameras"

    def summary(self) -> str:
        return f"{len(self.cameras)} camera(s)"


@dataclass(eq=False)
class ImageLayer(Layer):
    """A single image (H×W×3 RGB uint8 or H×W) or a video (frames decoded on demand by engine.io.image)."""

    image: np.ndarray | None = None
    path: str | None = None
    n_frames: int = 1
    fps: float = 0.0

    kind = "image"

    def summary(self) -> str:
        if self.n_frames > 1:
            return f"video, {self.n_frames} frames @ {self.fps:.1f} fps"
        if self.image is not None:
            return f"image {self.image.shape[1]}×{self.image.shape[0]}"
        return "image"


@dataclass(eq=False)
class CorrespondenceSet(Layer):
    """Pairs of source/target point indices (M×2) into two point-cloud layers, with flags and scores."""

    source_layer: str = ""
    target_layer: str = ""
    pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    inlier: np.ndarray | None = None
    gt_inlier: np.ndarray | None = None
    scores: np.ndarray | None = None

    kind = "correspondences"

    def summary(self) -> str:
        s = f"{len(self.pairs):,} correspondences"
        if self.inlier is not None:
            s += f", {int(np.sum(self.inlier)):,} inliers"
        return s


@dataclass(eq=False)
class Skeleton(Layer):
    """Joints of one or more people over frames: joints (T×P×J×D) with D=2 or 3, confidence (T×P×J).

    `joint_set` names the joint order (coco17, h36m17, mediapipe33, bvh:<name>); `bones` lists index pairs.
    Multi-hypothesis results add a hypothesis axis via meta['hypotheses'] (H×T×P×J×D).
    """

    joints: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 3)))
    confidence: np.ndarray | None = None
    joint_set: str = "coco17"
    joint_names: list[str] = field(default_factory=list)
    bones: list[tuple[int, int]] = field(default_factory=list)
    fps: float = 0.0
    image_size: tuple[int, int] | None = None

    kind = "skeleton"

    @property
    def dims(self) -> int:
        return int(self.joints.shape[-1]) if self.joints.ndim == 4 else 0

    def summary(self) -> str:
        t, p, j = self.joints.shape[:3] if self.joints.ndim == 4 else (0, 0, 0)
        return f"{self.dims}-D {self.joint_set}: {p} person(s) × {t} frame(s), {j} joints"


@dataclass(eq=False)
class Trajectory(Layer):
    """Timestamped SE(3) poses (T×4×4, pose i maps frame-i coordinates to the world) of a sensor."""

    poses: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))
    timestamps: np.ndarray | None = None

    kind = "trajectory"

    def summary(self) -> str:
        return f"{len(self.poses)} poses"


@dataclass(eq=False)
class AttributionMap(Layer):
    """Attribution scores tied to a target: per pixel (H×W), per point (N) or per voxel (X×Y×Z).

    `target` says what was explained (class id/name, joint name, voxel index); `on_layer` is the uid of the
    layer the scores belong to (an image, a point cloud or a voxel grid).
    """

    scores: np.ndarray = field(default_factory=lambda: np.zeros((0,)))
    target: Any = None
    method: str = ""
    on_layer: str = ""

    kind = "attribution"

    def summary(self) -> str:
        return f"{self.method} → {self.target} {tuple(self.scores.shape)}"


@dataclass(eq=False)
class Scene:
    """A named, ordered set of layers plus metadata (frame, frames of a sequence, transforms)."""

    name: str = "untitled"
    layers: list[Layer] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def add(self, layer: Layer) -> Layer:
        self.layers.append(layer)
        return layer

    def replace(self, layer: Layer) -> Layer:
        """Add `layer`, replacing a layer of the same name (a re-run result replaces the old one)."""
        for i, old in enumerate(self.layers):
            if old.name == layer.name:
                self.layers[i] = layer
                return layer
        return self.add(layer)

    def remove(self, uid: str) -> None:
        self.layers = [lay for lay in self.layers if lay.uid != uid]

    def get(self, key: str) -> Layer | None:
        for lay in self.layers:
            if lay.uid == key or lay.name == key:
                return lay
        return None

    def of_type(self, cls: type) -> list:
        return [lay for lay in self.layers if isinstance(lay, cls)]

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)
