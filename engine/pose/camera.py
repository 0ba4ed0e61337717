"""Where the camera that saw a 3-D pose stood, for drawing its frustum next to the skeleton.

MediaPipe's world landmarks are camera-aligned (x right, y down, z away) but centred on the hips, so
the camera's distance is lost. With a pinhole of assumed focal length (default: the image width, about a
53° horizontal field of view, unless K is known) the hip-centre-to-camera translation t is the linear
least-squares solution of u·(Z+tz) = f·(X+tx) + cx·(Z+tz) (and the same for v) over confident joints.
"""
from __future__ import annotations

import numpy as np


def default_K(size: tuple[int, int], focal: float | None = None) -> np.ndarray:
    w, h = size
    f = float(focal or max(w, h))
    return np.array([[f, 0, w / 2.0], [0, f, h / 2.0], [0, 0, 1.0]])


def solve_translation(world: np.ndarray, kp2d: np.ndarray, K: np.ndarray,
                      conf: np.ndarray | None = None, min_conf: float = 0.5) -> np.ndarray | None:
    """t (3,) such that K (world + t) projects onto kp2d; None when fewer than 3 confident joints."""
    w = np.asarray(world, float)
    uv = np.asarray(kp2d, float)[:, :2]
    sel = np.ones(len(w), bool) if conf is None else np.asarray(conf) >= min_conf
    if sel.sum() < 3:
        return None
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    X, Y, Z = w[sel].T
    u, v = uv[sel].T
    a = np.zeros((2 * len(X), 3))
    b = np.zeros(2 * len(X))
    a[0::2, 0], a[0::2, 2], b[0::2] = fx, -(u - cx), (u - cx) * Z - fx * X
    a[1::2, 1], a[1::2, 2], b[1::2] = fy, -(v - cy), (v - cy) * Z - fy * Y
    t, *_ = np.linalg.lstsq(a, b, rcond=None)
    return t


def camera_for_pose(world: np.ndarray, kp2d: np.ndarray, size: tuple[int, int], conf=None,
                    K: np.ndarray | None = None) -> dict | None:
    """{'K', 'cam_to_world' (4×4 in the pose's frame), 'size'} or None."""
    K = default_K(size) if K is None else np.asarray(K, float)
    t = solve_translation(world, kp2d, K, conf)
    if t is None or t[2] <= 0:
        return None
    c2w = np.eye(4)
    c2w[:3, 3] = -t  # camera axes are the world axes; its centre sits at -t
    return {"K": K, "cam_to_world": c2w, "size": tuple(int(v) for v in size)}
