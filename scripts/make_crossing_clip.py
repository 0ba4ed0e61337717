"""A synthetic two-person video built from the shared COCO sample images: two people (cut out with their
COCO segmentation masks) walk towards each other on a plain background and cross, the first passing in
front of the second. Used by tests/pose/test_tracking.py and bench/bench_pose.py; no downloads.

`make_crossing_clip(path, frames=40)` writes an MJPG AVI and returns the ground-truth COCO keypoints of
both people per frame (T×2×17×3, x, y, visibility; person 0 starts on the left and walks in front).
Run as a script to write one: .venv/bin/python scripts/make_crossing_clip.py OUT.avi
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "coco_keypoints"
# (image, annotation bbox x) of the two people used: a skier and a tennis player, both full-body
PEOPLE = (("000000000785.jpg", 280.79), ("000000196141.jpg", 247.76))


def cutout(file_name: str, bbox_x: float, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RGB patch, 0/1 mask and COCO keypoints (17×3, patch pixels) of one annotated person, scaled to
    `height` pixels."""
    import cv2
    from pycocotools import mask as mask_utils

    gt = json.loads((DATA / "test_coco.json").read_text())
    im = next(i for i in gt["images"] if i["file_name"] == file_name)
    ann = next(a for a in gt["annotations"] if a["image_id"] == im["id"] and abs(a["bbox"][0] - bbox_x) < 0.5)
    rgb = cv2.cvtColor(cv2.imread(str(DATA / file_name)), cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    m = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(ann["segmentation"], h, w)))
    x, y, bw, bh = [int(round(v)) for v in ann["bbox"]]
    x0, y0 = max(0, x - 4), max(0, y - 4)
    x1, y1 = min(w, x + bw + 4), min(h, y + bh + 4)
    patch, mask = rgb[y0:y1, x0:x1], m[y0:y1, x0:x1]
    s = height / patch.shape[0]
    size = (max(1, int(round(patch.shape[1] * s))), height)
    kp = np.asarray(ann["keypoints"], float).reshape(17, 3)
    kp[:, :2] = (kp[:, :2] - (x0, y0)) * s
    return (cv2.resize(patch, size, interpolation=cv2.INTER_AREA),
            cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST), kp)


def render_frames(frames: int = 40, size=(960, 540), height: int = 380):
    """Yield (RGB frame, centre x of both people (2), their COCO keypoints in the frame (2×17×3)) per frame."""
    W, H = size
    yy, xx = np.mgrid[0:H, 0:W]
    bg = np.stack([150 + 40 * yy / H, 160 + 20 * xx / W, 170 - 30 * yy / H], -1)
    rng = np.random.default_rng(0)
    bg = np.clip(bg + rng.normal(0, 4, bg.shape), 0, 255).astype(np.uint8)
    cuts = [cutout(f, x, height) for f, x in PEOPLE]
    x_start = [0.18 * W, 0.82 * W]
    x_end = [0.82 * W, 0.18 * W]
    for t in range(frames):
        a = t / max(frames - 1, 1)
        img = bg.copy()
        xs = []
        kps = np.zeros((2, 17, 3))
        for k in (1, 0):  # the second person first: the first walks in front
            patch, mask, kp = cuts[k]
            cx = x_start[k] + (x_end[k] - x_start[k]) * a
            xs.append(cx)
            ph, pw = mask.shape
            x0 = int(round(cx - pw / 2))
            y0 = H - ph - 20
            kps[k] = kp + (x0, y0, 0)
            xa, xb = max(0, x0), min(W, x0 + pw)
            if xb <= xa:
                continue
            m = mask[:, xa - x0:xb - x0, None].astype(bool)
            region = img[y0:y0 + ph, xa:xb]
            img[y0:y0 + ph, xa:xb] = np.where(m, patch[:, xa - x0:xb - x0], region)
        yield img, np.array(xs[::-1]), kps


def make_crossing_clip(path: str | Path, frames: int = 40, fps: float = 25.0) -> np.ndarray:
    import cv2

    path = Path(path)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (960, 540))
    truth = []
    for img, _, kps in render_frames(frames):
        vw.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        truth.append(kps)
    vw.release()
    return np.asarray(truth)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "crossing.avi"
    print(make_crossing_clip(out).shape, "→", out)
