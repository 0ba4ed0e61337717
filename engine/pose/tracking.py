"""Identities across video frames for multi-person pose: which detected person is which track.

Per frame, every live track predicts where its keypoints are now (constant velocity from its last two
sightings, extrapolated over the frames it has been missing), and is compared with every detection by
OKS (COCO's keypoint similarity, area = the predicted box's) and box IoU; when the frame is available a
colour histogram of the torso (hue/saturation) adds an appearance term, which is what tells two people
apart right after they cross. The assignment maximising the total similarity is scipy's
`linear_sum_assignment`; pairs below `min_similarity` stay unmatched. A track survives up to `max_gap`
frames unseen (occlusion, a missed detection) and is re-identified when a detection fits its prediction
and appearance; detections left over start new tracks. IDs are never reused.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .types import Person

# COCO keypoint sigmas (cocoeval), COCO-17 order
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0


def oks(pred: np.ndarray, det: np.ndarray, area: float, weight: np.ndarray | None = None) -> float:
    """Object keypoint similarity of two 17×2 keypoint sets (COCO's formula, `weight` = which joints count)."""
    d2 = ((pred - det) ** 2).sum(1)
    var = (2 * COCO_SIGMAS) ** 2
    e = d2 / (2 * max(area, 1.0) * var)
    w = np.ones(len(pred)) if weight is None else np.asarray(weight, float)
    return float((np.exp(-e) * w).sum() / w.sum()) if w.sum() > 0 else 0.0


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two x, y, w, h boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    u = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / u) if u > 0 else 0.0


def keypoint_box(kp: np.ndarray, conf: np.ndarray, min_conf: float = 0.3) -> np.ndarray:
    sel = conf >= min_conf
    pts = kp[sel] if sel.sum() >= 2 else kp
    lo, hi = pts.min(0), pts.max(0)
    return np.array([lo[0], lo[1], max(hi[0] - lo[0], 1.0), max(hi[1] - lo[1], 1.0)])


def torso_histogram(rgb: np.ndarray, kp: np.ndarray) -> np.ndarray | None:
    """Normalised hue × saturation histogram (16 × 4) inside the shoulder–hip quadrilateral."""
    import cv2

    quad = kp[[5, 6, 12, 11]].astype(np.float32)  # l-shoulder, r-shoulder, r-hip, l-hip
    h, w = rgb.shape[:2]
    if not np.isfinite(quad).all():
        return None
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(quad).astype(np.int32), 1)
    if mask.sum() < 30:
        return None
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], mask, [16, 4], [0, 180, 0, 256]).ravel()
    s = hist.sum()
    return hist / s if s > 0 else None


def histogram_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None:
        return None
    return float(np.sqrt(a * b).sum())  # Bhattacharyya coefficient, 1 = identical


@dataclass
class Track:
    id: int
    kp: np.ndarray          # 17×2 at the last sighting
    conf: np.ndarray        # 17
    last: int               # frame index of the last sighting
    vel: np.ndarray = field(default_factory=lambda: np.zeros((17, 2)))  # px per frame
    hist: np.ndarray | None = None
    hits: int = 1

    def predict(self, frame: int, damping: float = 0.9) -> np.ndarray:
        gap = frame - self.last
        # geometric damping of the velocity over long gaps (people stop, turn)
        steps = sum(damping ** k for k in range(gap)) if gap > 0 else 0.0
        return self.kp + self.vel * steps


class PoseTracker:
    """Assigns `Person.track_id` frame after frame (`update(frame, persons, rgb)`)."""

    def __init__(self, max_gap: int = 30, min_similarity: float = 0.15, appearance_weight: float = 0.5,
                 velocity_smoothing: float = 0.5):
        self.max_gap = max_gap
        self.min_similarity = min_similarity
        self.appearance_weight = appearance_weight
        self.velocity_smoothing = velocity_smoothing
        self.tracks: list[Track] = []
        self.next_id = 1

    def similarity(self, t: Track, frame: int, p: Person, hist) -> float:
        pred = t.predict(frame)
        conf = p.coco_scores
        box = keypoint_box(pred, t.conf)
        dbox = keypoint_box(p.coco, conf)
        w = ((conf >= 0.3) & (t.conf >= 0.3)).astype(float)
        if w.sum() < 3:
            w = np.ones(17)
        # OKS, not box IoU: two people side by side have overlapping boxes long before and after they cross
        motion = oks(pred, p.coco, box[2] * box[3], w) if w.sum() >= 3 else box_iou(box, dbox)
        app = histogram_similarity(t.hist, hist)
        if app is None:
            return motion
        if motion <= 0.0:
            return 0.0  # appearance alone never links people far from where the track is expected
        a = self.appearance_weight
        return (1 - a) * motion + a * app

    def update(self, frame: int, persons: list[Person], rgb: np.ndarray | None = None) -> list[Person]:
        from scipy.optimize import linear_sum_assignment

        for p in persons:
            if p.coco is None:
                p.with_coco()
        self.tracks = [t for t in self.tracks if frame - t.last <= self.max_gap]
        hists = [torso_histogram(rgb, p.coco) if rgb is not None else None for p in persons]
        matched: dict[int, int] = {}
        if self.tracks and persons:
            S = np.array([[self.similarity(t, frame, p, h) for p, h in zip(persons, hists)] for t in self.tracks])
            rows, cols = linear_sum_assignment(-S)
            for r, c in zip(rows, cols):
                if S[r, c] >= self.min_similarity:
                    matched[c] = r
        for c, p in enumerate(persons):
            if c in matched:
                t = self.tracks[matched[c]]
                gap = max(frame - t.last, 1)
                v = (p.coco - t.kp) / gap
                ok = (p.coco_scores >= 0.3) & (t.conf >= 0.3)
                v[~ok] = t.vel[~ok]
                k = self.velocity_smoothing
                t.vel = k * t.vel + (1 - k) * v if t.hits > 1 else v
                t.kp, t.conf, t.last = p.coco.copy(), p.coco_scores.copy(), frame
                t.hits += 1
                if hists[c] is not None:
                    t.hist = hists[c] if t.hist is None else 0.8 * t.hist + 0.2 * hists[c]
                p.track_id = t.id
            else:
                t = Track(self.next_id, p.coco.copy(), p.coco_scores.copy(), frame, hist=hists[c])
                self.next_id += 1
                self.tracks.append(t)
                p.track_id = t.id
        return persons


def dedupe(persons: list[Person], threshold: float = 0.6) -> list[Person]:
    """Drop people whose keypoints repeat an earlier (higher-ranked) person's (OKS above `threshold`)."""
    out: list[Person] = []
    for p in persons:
        if p.coco is None:
            p.with_coco()
        b = keypoint_box(p.coco, p.coco_scores)
        if all(oks(q.coco, p.coco, b[2] * b[3]) < threshold for q in out):
            out.append(p)
    return out
