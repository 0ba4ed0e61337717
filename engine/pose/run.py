"""Pose estimation over an image, a folder or a video as one engine Job.

The same loop serves the CLI (`run pose`) and the GUI: each finished frame is streamed with
`ctx.emit(FrameResult)` so the views can draw it while later frames are still being computed, and every
frame is a progress/cancel point. The collected `PoseRun` converts to Skeleton layers (2-D COCO-17 per
image or one per video, plus the 3-D world joints) and to COCO results, so the GUI and the CLI export the
same bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext
from ..scene import Skeleton
from .joints import COCO17, JOINT_SETS
from .types import Person

IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass
class FrameResult:
    index: int                       # position in this run
    frame: int                       # video frame number, or image index in the folder
    image_id: int
    file_name: str
    image_size: tuple[int, int]      # (w, h)
    persons: list[Person]
    image: np.ndarray | None = None  # the RGB frame, for live display (dropped from the final result)
    seconds: float = 0.0             # model time for this frame


@dataclass
class PoseRun:
    source: str
    kind: str                        # 'images' | 'video'
    frames: list[FrameResult] = field(default_factory=list)
    fps: float = 0.0
    model: str = ""
    n_total: int = 0                 # frames that would be processed without cancel

    # ---------------------------------------------------------------- conversion
    def skeletons(self) -> list[Skeleton]:
        """2-D COCO-17 layers (one per image, or one for the video) and one 3-D world-joint layer."""
        if self.kind == "video":
            groups = [self.frames]
        else:
            groups = [[f] for f in self.frames]
        out = [self._layer2d(g) for g in groups]
        w = self._layer3d()
        if w is not None:
            out.append(w)
        return out

    def track_ids(self, frames: list[FrameResult] | None = None) -> list[int]:
        """The track IDs in these frames, in order of first appearance ([] when nothing was tracked)."""
        ids: list[int] = []
        for f in self.frames if frames is None else frames:
            for q in f.persons:
                if q.track_id is not None and q.track_id not in ids:
                    ids.append(q.track_id)
        return ids

    def _slots(self, frames: list[FrameResult]) -> tuple[int, list[list[int]], list[int]]:
        """Person slots: one per track when tracked (slot = the track's index), else frame order."""
        ids = self.track_ids(frames)
        if ids and all(q.track_id is not None for f in frames for q in f.persons):
            return len(ids), [[ids.index(q.track_id) for q in f.persons] for f in frames], ids
        p = max([len(f.persons) for f in frames] + [0])
        return p, [list(range(len(f.persons))) for f in frames], []

    def _layer2d(self, frames: list[FrameResult]) -> Skeleton:
        t = len(frames)
        p, slots, ids = self._slots(frames)
        joints = np.zeros((t, p, 17, 2))
        conf = np.zeros((t, p, 17))
        vis = np.zeros((t, p, 17), np.int8)
        valid = np.zeros((t, p), bool)
        bbox = np.zeros((t, p, 4))
        score = np.zeros((t, p))
        wj = next((q.world.shape[0] for f in frames for q in f.persons if q.world is not None), 0)
        world = np.zeros((t, p, wj, 3)) if wj else None
        wset = next((q.world_joint_set for f in frames for q in f.persons if q.world is not None), None)
        for i, f in enumerate(frames):
            w_img, h_img = f.image_size
            for q, j in zip(f.persons, slots[i]):
                if q.coco is None:
                    q.with_coco()
                joints[i, j], conf[i, j] = q.coco, q.coco_scores
                inside = ((q.coco[:, 0] >= 0) & (q.coco[:, 0] < w_img) & (q.coco[:, 1] >= 0) & (q.coco[:, 1] < h_img))
                # COCO visibility: 2 visible, 1 labelled but hidden, 0 not in the image
                vis[i, j] = np.where(~inside, 0, np.where(q.coco_scores >= 0.5, 2, 1))
                valid[i, j] = True
                bbox[i, j] = q.bbox(0.5)
                score[i, j] = q.score
                if world is not None and q.world is not None and q.world.shape[0] == wj:
                    world[i, j] = q.world
        name = Path(self.source).name if self.kind == "video" else frames[0].file_name
        sk = Skeleton(name=f"{name} predictions", source=f"model:{self.model} on {self.source}", joints=joints,
                      confidence=conf, joint_set="coco17", joint_names=list(COCO17.names), bones=list(COCO17.bones),
                      fps=self.fps, image_size=frames[0].image_size if frames else None)
        sk.meta.update({"format": "coco", "kind": "pred", "visibility": vis, "valid": valid, "bbox": bbox,
                        "score": score, "area": bbox[..., 2] * bbox[..., 3],
                        "image_ids": [f.image_id for f in frames], "file_names": [f.file_name for f in frames],
                        "image_sizes": [f.image_size for f in frames], "frames": [f.frame for f in frames],
                        "model": self.model})
        if self.kind == "video":
            sk.meta["video"] = self.source
        if ids:
            sk.meta["track_ids"] = list(ids)
        if world is not None:
            sk.meta["world"] = world
            sk.meta["world_joint_set"] = wset
        return sk

    def _layer3d(self) -> Skeleton | None:
        ref = next((q for f in self.frames for q in f.persons if q.world is not None), None)
        if ref is None:
            return None
        t = len(self.frames)
        p, slots, ids = self._slots(self.frames)
        j = ref.world.shape[0]
        joints = np.zeros((t, p, j, 3))
        conf = np.zeros((t, p, j))
        for i, f in enumerate(self.frames):
            for q, k in zip(f.persons, slots[i]):
                if q.world is not None and q.world.shape[0] == j:
                    joints[i, k] = q.world
                    conf[i, k] = q.scores if len(q.scores) == j else 1.0
        from .camera import camera_for_pose

        cams = []
        for f in self.frames:  # the camera that saw person 0, from its 2-D/3-D correspondence
            q = next((q for q in f.persons if q.world is not None and q.world.shape[0] == j
                      and q.keypoints.shape[0] == j), None)
            cams.append(camera_for_pose(q.world, q.keypoints, f.image_size, q.scores) if q is not None else None)
        js = JOINT_SETS.get(ref.world_joint_set or "")
        sk = Skeleton(name=f"{Path(self.source).name} 3D", source=f"model:{self.model} on {self.source}", joints=joints,
                      confidence=conf, joint_set=ref.world_joint_set or "unknown",
                      joint_names=list(js.names) if js else [], bones=list(js.bones) if js else [], fps=self.fps)
        # MediaPipe world frame: y points down; the 3-D view draws with this up axis
        sk.meta.update({"up_axis": "-y", "units": "m", "file_names": [f.file_name for f in self.frames],
                        "frames": [f.frame for f in self.frames], "model": self.model, "cameras": cams})
        if ids:
            sk.meta["track_ids"] = list(ids)
        return sk

    def results(self) -> list[dict]:
        from ..io.coco_keypoints import skeletons_to_results

        return skeletons_to_results([s for s in self.skeletons() if s.dims == 2])

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything numeric, for the sibling NPZ (world landmarks with their joint set named)."""
        t = len(self.frames)
        p, slots, ids = self._slots(self.frames)
        ref = next((q for f in self.frames for q in f.persons), None)
        jn = ref.keypoints.shape[0] if ref is not None else 0
        jw = ref.world.shape[0] if ref is not None and ref.world is not None else 0
        native = np.zeros((t, p, jn, 3))
        coco = np.zeros((t, p, 17, 3))
        world = np.zeros((t, p, jw, 3))
        valid = np.zeros((t, p), bool)
        for i, f in enumerate(self.frames):
            for q, k in zip(f.persons, slots[i]):
                valid[i, k] = True
                native[i, k, :, :2], native[i, k, :, 2] = q.keypoints, q.scores
                coco[i, k, :, :2], coco[i, k, :, 2] = q.coco, q.coco_scores
                if q.world is not None and jw:
                    world[i, k] = q.world
        return {"world": world, "world_joint_set": np.array(ref.world_joint_set if ref and ref.world_joint_set else ""),
                "keypoints": native, "joint_set": np.array(ref.joint_set if ref else ""), "keypoints_coco17": coco,
                "valid": valid, "image_ids": np.array([f.image_id for f in self.frames], np.int64),
                "frames": np.array([f.frame for f in self.frames], np.int64),
                "file_names": np.array([f.file_name for f in self.frames]), "units": np.array("m"),
                "track_ids": np.array(ids, np.int64)}


# ------------------------------------------------------------------------------------------ inputs

def image_id_for(path: Path, index: int) -> int:
    """COCO-style names (000000000785.jpg) keep their id so results match COCO ground truth."""
    m = re.fullmatch(r"0*(\d+)", path.stem)
    return int(m.group(1)) if m and len(path.stem) >= 6 else index + 1


def classify_input(path: str | Path) -> tuple[str, list[Path]]:
    """('images', [files]) or ('video', [file]); InputError naming the path otherwise."""
    from ..io import detect

    p = Path(path)
    if not p.exists():
        raise InputError(p, "no such file or folder")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXT)
        if not files:
            raise InputError(p, f"folder holds no images ({', '.join(sorted(IMAGE_EXT))})")
        return "images", files
    r = detect(p)
    if r.name == "image":
        return "images", [p]
    if r.name == "video":
        return "video", [p]
    raise InputError(p, f"pose needs an image, a folder of images or a video; this is {r.name}")


def load_boxes(path: str | Path, min_score: float = 0.3) -> dict[Any, np.ndarray]:
    """Person boxes from a COCO detection file: {image_id or file_name: N×4 x,y,w,h}."""
    from ..io.coco_keypoints import read_json

    d = read_json(Path(path))
    if isinstance(d, dict):
        d = d.get("annotations", [])
    if not isinstance(d, list):
        raise InputError(path, "expected a COCO detection list [{image_id, bbox, score}]")
    out: dict[Any, list] = {}
    for r in d:
        if not isinstance(r, dict) or "bbox" not in r or "image_id" not in r:
            raise InputError(path, "detection entries need 'image_id' and 'bbox'")
        if r.get("category_id", 1) != 1 or r.get("score", 1.0) < min_score:
            continue
        out.setdefault(r["image_id"], []).append(r["bbox"])
        if "file_name" in r:
            out.setdefault(r["file_name"], []).append(r["bbox"])
    return {k: np.asarray(v, float) for k, v in out.items()}


def estimate(source: str | Path, adapter, ctx: JobContext, every: int = 1,
             boxes: dict[Any, np.ndarray] | None = None, keep_images: bool = True, sink=None,
             track: bool = True) -> PoseRun:
    """Run `adapter.predict_image` over the input; streams each FrameResult through ctx.emit, or through
    `sink` (any callable, e.g. a queue's put) when given — the GUI uses a queue because PySide6 6.12
    corrupts reference counts when a signal is emitted from a worker thread. Video frames get track IDs
    (engine.pose.tracking) unless `track` is False."""
    import time

    emit = sink or ctx.emit

    from ..io.image import VideoReader, read_image

    if every < 1:
        raise InputError(None, "--every must be ≥ 1")
    kind, files = classify_input(source)
    run = PoseRun(str(source), kind, model=getattr(adapter, "adapter_name", type(adapter).__name__))
    if hasattr(adapter, "set_video_mode"):
        adapter.set_video_mode(kind == "video" and not boxes)
    if kind == "images":
        run.n_total = len(files)
        for i, f in enumerate(files):
            ctx.check_cancel()
            rgb = read_image(f)
            iid = image_id_for(f, i)
            b = None if boxes is None else boxes.get(iid, boxes.get(f.name, np.zeros((0, 4))))
            dt = 0.0
            if boxes is not None and len(b) == 0:
                persons = []
            else:
                with ctx.stage("model"):
                    t0 = time.perf_counter()
                    persons = adapter.predict_image(rgb, b)
                    dt = time.perf_counter() - t0
            fr = FrameResult(i, i, iid, f.name, (rgb.shape[1], rgb.shape[0]), persons,
                             rgb if keep_images else None, dt)
            run.frames.append(replace(fr, image=None))  # the streamed copy keeps the pixels
            emit(fr)
            ctx.progress((i + 1) / len(files), f"{f.name}: {len(persons)} person(s)")
        return run
    from .tracking import PoseTracker

    tracker = PoseTracker() if track else None
    vr = VideoReader(files[0])
    try:
        run.fps = vr.fps / every if vr.fps else 0.0
        n = vr.n_frames
        run.n_total = (n + every - 1) // every if n > 0 else 0
        idx = 0
        k = 0
        while True:
            ctx.check_cancel()
            with ctx.stage("decode"):
                rgb = vr.read()
            if rgb is None:
                break
            b = None if boxes is None else boxes.get(idx, np.zeros((0, 4)))
            with ctx.stage("model"):
                t0 = time.perf_counter()
                persons = adapter.predict_image(rgb, b) if b is None or len(b) else []
                dt = time.perf_counter() - t0
            if tracker is not None:
                with ctx.stage("track"):
                    tracker.update(idx, persons, rgb)
            fr = FrameResult(k, idx, idx, f"{files[0].name}#{idx}", (rgb.shape[1], rgb.shape[0]), persons,
                             rgb if keep_images else None, dt)
            run.frames.append(replace(fr, image=None))  # the streamed copy keeps the pixels
            emit(fr)
            k += 1
            ctx.progress(min(1.0, k / max(run.n_total, 1)), f"frame {idx + 1}/{n or '?'}")
            with ctx.stage("decode"):
                for _ in range(every - 1):  # skip without decoding to RGB
                    if not vr.cap.grab():
                        break
                    vr._next += 1
            idx += every
    finally:
        vr.close()
    if not run.frames:
        raise InputError(source, "video has no decodable frames")
    return run


def make_job(source: str | Path, adapter, every: int = 1, boxes=None, keep_images: bool = True, sink=None,
             track: bool = True) -> Job:
    return Job(f"Pose ({Path(source).name})",
               lambda ctx: estimate(source, adapter, ctx, every, boxes, keep_images, sink, track))
