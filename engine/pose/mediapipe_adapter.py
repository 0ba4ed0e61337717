"""MediaPipe's own legacy BlazePose solution (model_complexity=1), as the reference the built-in torch
pipeline (engine/pose/detector_torch.py, model "blazepose") is measured against.

Not a dependency: it loads only when the optional `mediapipe==0.10.21` package is installed (model name
"mediapipe-tflite"; bench/bench_pose.py and scripts/make_pose_reference.py use it). It is single-person:
for several people pass person boxes and each box crop is estimated separately (top-down).
"""
from __future__ import annotations

import threading

import numpy as np

from ..adapters import register_adapter
from ..errors import InputError
from .joints import convert
from .types import PerImagePredictor, Person


def mediapipe_available() -> bool:
    try:
        import mediapipe  # noqa: F401
    except Exception:
        return False
    return True


@register_adapter("pose", "mediapipe-tflite")
class MediaPipePose(PerImagePredictor):
    """`predict(images)` → per image a list of `Person` (MediaPipe-33 keypoints, COCO-17 view, world joints)."""

    joint_set = "mediapipe33"
    world_joint_set = "mediapipe33"
    # MediaPipe world landmarks: metres, origin between the hips, x to the image's right, y down, z away
    world_axes = "x-right y-down z-forward (camera-aligned, origin mid-hips)"

    def __init__(self, model_complexity: int = 1, min_detection_confidence: float = 0.5):
        self.model_complexity = model_complexity
        self.min_detection_confidence = min_detection_confidence
        self._pose = None
        self._video = False
        self._lock = threading.Lock()

    def load(self, spec: str | None = None, device: str = "cpu") -> None:
        try:
            import mediapipe as mp  # noqa: F401
        except Exception as e:
            raise InputError(None, "model 'mediapipe-tflite' needs the optional 'mediapipe' package (pip install "
                                   "mediapipe==0.10.21 --no-deps); the built-in 'blazepose' model does not: "
                                   f"{type(e).__name__}: {e}") from None
        self._mp = mp
        self._make(video=False)

    def _make(self, video: bool) -> None:
        if self._pose is not None:
            self._pose.close()
        self._pose = self._mp.solutions.pose.Pose(static_image_mode=not video, model_complexity=self.model_complexity,
                                                  min_detection_confidence=self.min_detection_confidence)
        self._video = video

    def set_video_mode(self, video: bool) -> None:
        """Tracking mode for consecutive video frames (faster, temporally smoother); static for images."""
        if video != self._video:
            self._make(video)

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def _process(self, rgb: np.ndarray) -> Person | None:
        h, w = rgb.shape[:2]
        with self._lock:
            res = self._pose.process(np.ascontiguousarray(rgb[..., :3]))
        if res.pose_landmarks is None:
            return None
        lm = res.pose_landmarks.landmark
        kp = np.array([[p.x * w, p.y * h] for p in lm], float)
        vis = np.clip(np.array([p.visibility for p in lm], float), 0.0, 1.0)
        world = None
        if res.pose_world_landmarks is not None:
            world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark], float)
        return Person(kp, vis, "mediapipe33", world=world, world_joint_set="mediapipe33")

    def predict_image(self, rgb: np.ndarray, boxes: np.ndarray | None = None, margin: float = 0.25) -> list[Person]:
        """People in one RGB image; with `boxes` (N×4 x,y,w,h) one crop per box, without them one person."""
        if self._pose is None:
            raise RuntimeError("adapter not loaded")
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        if boxes is None or len(boxes) == 0:
            p = self._process(rgb)
            return [] if p is None else [p.with_coco()]
        h, w = rgb.shape[:2]
        out = []
        if self._video:
            self.set_video_mode(False)  # crops of different people must not share a tracker
        for x, y, bw, bh in np.asarray(boxes, float):
            cx, cy, s = x + bw / 2, y + bh / 2, max(bw, bh) * (1 + 2 * margin)
            x0, y0 = int(max(0, np.floor(cx - s / 2))), int(max(0, np.floor(cy - s / 2)))
            x1, y1 = int(min(w, np.ceil(cx + s / 2))), int(min(h, np.ceil(cy + s / 2)))
            if x1 - x0 < 8 or y1 - y0 < 8:
                continue
            p = self._process(rgb[y0:y1, x0:x1])
            if p is None:
                continue
            p.keypoints += (x0, y0)
            p.box_hint = np.array([x, y, bw, bh])
            out.append(p.with_coco())
        return out


__all__ = ["MediaPipePose", "mediapipe_available", "convert"]
