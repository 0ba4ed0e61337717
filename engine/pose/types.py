"""What every pose adapter returns per detected person, so the run loop, the CLI writer and the views
share one shape regardless of the model (MediaPipe, a user's heatmap or coordinate network)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .joints import convert


@dataclass
class Person:
    keypoints: np.ndarray                 # J×2 image pixels in the model's joint set
    scores: np.ndarray                    # J confidences in [0, 1]
    joint_set: str
    world: np.ndarray | None = None       # J'×3 metres (model-defined frame), optional
    world_joint_set: str | None = None
    coco: np.ndarray | None = None        # 17×2 pixels
    coco_scores: np.ndarray | None = None
    box_hint: np.ndarray | None = None    # the detection box the person came from, if any
    detection_score: float | None = None  # the person detector's score, when a detector found them
    presence: float | None = None         # the landmark model's person-presence score
    track_id: int | None = None           # identity across video frames (engine.pose.tracking)

    def with_coco(self) -> "Person":
        """Fill the COCO-17 view (mapped from the model's joint set)."""
        if self.joint_set == "coco17":
            self.coco, self.coco_scores = self.keypoints.copy(), self.scores.copy()
        else:
            self.coco, self.coco_scores = convert(self.keypoints, self.joint_set, "coco17", self.scores)
        return self

    @property
    def score(self) -> float:
        s = self.coco_scores if self.coco_scores is not None else self.scores
        return float(np.mean(s)) if len(s) else 0.0

    def bbox(self, min_score: float = 0.0) -> np.ndarray:
        """x, y, w, h around the COCO keypoints above `min_score` (all when none are)."""
        kp = self.coco if self.coco is not None else self.keypoints
        sc = self.coco_scores if self.coco_scores is not None else self.scores
        sel = sc >= min_score
        pts = kp[sel] if sel.any() else kp
        lo, hi = pts.min(0), pts.max(0)
        return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


class PerImagePredictor:
    """The adapter protocol's `predict` for pose models that work one image at a time: a subclass provides
    `predict_image(rgb) -> list[Person]`; this loops over a batch with progress and cancel."""

    def predict(self, inputs, progress=None, cancel=None) -> list[list[Person]]:
        from ..errors import JobCancelled

        imgs = list(inputs) if not isinstance(inputs, np.ndarray) or inputs.ndim == 4 else [inputs]
        out = []
        for i, img in enumerate(imgs):
            if cancel is not None and cancel.is_set():
                raise JobCancelled("cancelled")
            out.append(self.predict_image(img))
            if progress:
                progress((i + 1) / len(imgs), f"image {i + 1}/{len(imgs)}")
        return out
