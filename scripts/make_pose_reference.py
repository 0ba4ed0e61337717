"""Record what MediaPipe's own pose solution outputs on the shared COCO sample images, so the torch
pipeline (engine/pose/detector_torch.py) stays checked against it after the mediapipe package is gone.

Needs `mediapipe==0.10.21` (pip install --no-deps mediapipe==0.10.21). Writes
tests/pose/data/mediapipe_reference.npz with, per image (the 4 COCO samples, then each turned 90° clockwise
to exercise the rotated ROI): `names`, `keypoints` (N×33×2 px), `visibility` (N×33), `world` (N×33×3 m),
and the mediapipe version. Run: .venv/bin/python scripts/make_pose_reference.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "coco_keypoints"
OUT = ROOT / "tests" / "pose" / "data" / "mediapipe_reference.npz"


def reference_images() -> list[tuple[str, np.ndarray]]:
    """The sample images the reference covers (name, RGB uint8), in a fixed order."""
    import cv2

    out = []
    files = sorted(DATA.glob("*.jpg"))
    for f in files:
        out.append((f.name, cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)))
    for f in files:
        rgb = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
        out.append((f.name + "@rot90", np.ascontiguousarray(np.rot90(rgb, -1))))
    return out


def main() -> int:
    import mediapipe as mp

    names, kps, vis, world = [], [], [], []
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for name, rgb in reference_images():
            h, w = rgb.shape[:2]
            r = pose.process(rgb)
            if r.pose_landmarks is None:
                print(f"{name}: no person", file=sys.stderr)
                continue
            names.append(name)
            kps.append([[p.x * w, p.y * h] for p in r.pose_landmarks.landmark])
            vis.append([p.visibility for p in r.pose_landmarks.landmark])
            world.append([[p.x, p.y, p.z] for p in r.pose_world_landmarks.landmark])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, names=np.array(names), keypoints=np.asarray(kps, np.float32),
                        visibility=np.asarray(vis, np.float32), world=np.asarray(world, np.float32),
                        mediapipe_version=np.array(mp.__version__))
    print(f"{len(names)} image(s) → {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
