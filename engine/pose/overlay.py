"""Drawing keypoints onto frames and writing the overlay video, as an engine job (progress, cancel).

OpenCV's writer needs a file name, so the video goes to a temporary name in the target folder and is
renamed over the target only when complete: a cancelled or failed export never leaves a half video.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..jobs import Job, JobContext
from ..scene import Skeleton

SIDE_BGR = {"left": (255, 140, 60), "right": (40, 110, 255), "centre": (120, 220, 90)}


def draw_skeleton(bgr: np.ndarray, joints: np.ndarray, conf: np.ndarray, bones, sides: list[str],
                  min_conf: float = 0.3, thickness: int = 2) -> np.ndarray:
    """Draw one person's bones and joints in place (BGR image, J×2 pixel joints)."""
    import cv2

    for a, b in bones:
        if conf[a] >= min_conf and conf[b] >= min_conf:
            col = SIDE_BGR[sides[b] if sides[b] != "centre" else sides[a]]
            cv2.line(bgr, tuple(int(round(v)) for v in joints[a]), tuple(int(round(v)) for v in joints[b]), col,
                     thickness, cv2.LINE_AA)
    for j, (x, y) in enumerate(joints):
        if conf[j] >= min_conf:
            cv2.circle(bgr, (int(round(x)), int(round(y))), thickness + 2, SIDE_BGR[sides[j]], -1, cv2.LINE_AA)
    return bgr


def write_overlay_video(video: str | Path, sk: Skeleton, out: str | Path, ctx: JobContext,
                        min_conf: float = 0.3) -> Path:
    """Each frame of `video` with the skeleton's people of the matching frame drawn on it."""
    import cv2

    from ..io.image import VideoReader
    from .joints import JOINT_SETS

    out = Path(out)
    js = JOINT_SETS.get(sk.joint_set)
    sides = [js.side(j) for j in range(js.n)] if js else ["centre"] * sk.joints.shape[2]
    frames = list(sk.meta.get("frames") or range(sk.joints.shape[0]))
    by_frame = {int(f): i for i, f in enumerate(frames)}
    valid = sk.meta.get("valid")
    vr = VideoReader(video)
    n = vr.n_frames or len(frames)
    from ..io.video import AtomicVideoWriter

    writer = AtomicVideoWriter(out, vr.fps or 25.0)
    try:
        k = 0
        last = None
        while True:
            rgb = vr.read()
            if rgb is None:
                break
            bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
            i = by_frame.get(k, last)  # frames skipped by --every keep the last estimate
            if i is not None:
                last = i
                for p in range(sk.joints.shape[1]):
                    if valid is not None and not valid[i, p]:
                        continue
                    c = sk.confidence[i, p] if sk.confidence is not None else np.ones(sk.joints.shape[2])
                    draw_skeleton(bgr, sk.joints[i, p, :, :2], c, sk.bones, sides, min_conf)
            writer.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            k += 1
            ctx.progress(min(k / max(n, 1), 1.0), f"frame {k}/{n}")
        if not writer.frames:
            raise InputError(video, "video has no decodable frames")
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        vr.close()
    return out


def overlay_job(video, sk: Skeleton, out, min_conf: float = 0.3) -> Job:
    return Job(f"Overlay video → {Path(out).name}", lambda ctx: write_overlay_video(video, sk, out, ctx, min_conf))
