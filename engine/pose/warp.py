"""OpenCV 4's rotated-rectangle crop, bit for bit, whatever OpenCV is installed: `box_points`
(RotatedRect::points), `perspective_transform` (getPerspectiveTransform) and `warp_perspective`
(warpPerspective, INTER_LINEAR, uint8, BORDER_REPLICATE or BORDER_CONSTANT).

Why not cv2 itself: MediaPipe's CPU graphs crop with the OpenCV 4 they link statically, and the torch
pipeline is tested against MediaPipe's output to ≤ 1 px. OpenCV 5.x changed these kernels (box corners
move by ~1e-4 px, warped pixels by up to 4 grey levels in ~8 % of pixels), which is enough to move
BlazePose landmarks by 1–20 px on the sample images (measured with opencv-python-headless 5.1.0 against
4.10.0). Re-implementing the three steps removes the dependence on whichever OpenCV is installed:

* the inverse map is evaluated in double per output pixel, scaled by INTER_TAB_SIZE (32), rounded half to
  even (cvRound) and split into an integer source pixel and a 5-bit sub-pixel index;
* those maps go to cv2.remap (CV_16SC2 + CV_16UC1 maps), whose fixed-point bilinear table (weights ×
  2^15, + 2^14 >> 15) and border rules are the same in OpenCV 4.10 and 5.1 — the part of the old warp
  that 5.x did not change, and the fast one to keep in C++.

Tested equal to OpenCV 4.10's cv2 functions on random crops (tests/pose/data/opencv4_warps.npz, recorded
with 4.10) and the ≤ 1 px match to the recorded MediaPipe reference (tests/pose/test_torch_pipeline.py).
"""
from __future__ import annotations

import numpy as np

INTER_BITS = 5
INTER_TAB_SIZE = 1 << INTER_BITS
COEF_BITS = 15


def box_points(center, size, angle_deg: float) -> np.ndarray:
    """Corners of a rotated rectangle (4×2 float32: bottom-left, top-left, top-right, bottom-right for
    angle 0), computed in float32 exactly as OpenCV 4's RotatedRect::points."""
    f = np.float32
    cx, cy = f(center[0]), f(center[1])
    w, h = f(size[0]), f(size[1])
    ang = float(f(angle_deg)) * np.pi / 180.0
    b = f(np.cos(ang)) * f(0.5)
    a = f(np.sin(ang)) * f(0.5)
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    p2 = (f(2) * cx - p0[0], f(2) * cy - p0[1])
    p3 = (f(2) * cx - p1[0], f(2) * cy - p1[1])
    return np.array([p0, p1, p2, p3], np.float32)


def perspective_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3×3 homography taking the 4 `src` points to `dst` (float32 points, solved in double)."""
    src = np.asarray(src, np.float32).astype(np.float64)
    dst = np.asarray(dst, np.float32).astype(np.float64)
    A = np.zeros((8, 8))
    b = np.zeros(8)
    for i in range(4):
        (x, y), (u, v) = src[i], dst[i]
        A[i] = [x, y, 1, 0, 0, 0, -x * u, -y * u]
        A[i + 4] = [0, 0, 0, x, y, 1, -x * v, -y * v]
        b[i], b[i + 4] = u, v
    return np.append(np.linalg.solve(A, b), 1.0).reshape(3, 3)


def warp_maps(M: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV 4's fixed-point sampling maps for warpPerspective(M) (source → output): per output pixel the
    integer source pixel (H×W×2 int16) and the 5-bit × 5-bit sub-pixel index (H×W uint16)."""
    ow, oh = int(size[0]), int(size[1])
    Mi = np.linalg.inv(np.asarray(M, np.float64)).ravel()
    x = np.arange(ow, dtype=np.float64)[None, :]
    y = np.arange(oh, dtype=np.float64)[:, None]
    W = Mi[6] * x + (Mi[7] * y + Mi[8])
    nz = W != 0
    np.divide(INTER_TAB_SIZE, W, out=W, where=nz)
    W[~nz] = 0.0
    lo, hi = float(np.iinfo(np.int32).min), float(np.iinfo(np.int32).max)
    X = Mi[0] * x + (Mi[1] * y + Mi[2])
    X *= W
    Y = Mi[3] * x + (Mi[4] * y + Mi[5])
    Y *= W
    X = np.rint(np.clip(X, lo, hi, out=X), out=X).astype(np.int32)  # cvRound: half to even
    Y = np.rint(np.clip(Y, lo, hi, out=Y), out=Y).astype(np.int32)
    xy = np.empty((oh, ow, 2), np.int16)
    xy[..., 0] = np.clip(X >> INTER_BITS, -32768, 32767)
    xy[..., 1] = np.clip(Y >> INTER_BITS, -32768, 32767)
    frac = ((Y & (INTER_TAB_SIZE - 1)) * INTER_TAB_SIZE + (X & (INTER_TAB_SIZE - 1))).astype(np.uint16)
    return xy, frac


def warp_perspective(src: np.ndarray, M: np.ndarray, size: tuple[int, int], border: str = "replicate",
                     value: int = 0) -> np.ndarray:
    """`src` (H×W or H×W×C uint8) warped by `M` (source → output) to size = (width, height), bilinear;
    border "replicate" or "constant" (`value`). The maps are computed here; the sampling is cv2.remap
    with fixed-point maps, whose bilinear table OpenCV 5 kept (equal in 4.10 and 5.1: tested)."""
    if border not in ("replicate", "constant"):
        raise ValueError(f"border {border!r}: 'replicate' or 'constant'")
    xy, frac = warp_maps(M, size)
    return remap_fixed(src, xy, frac, border, value)


def remap_fixed(src: np.ndarray, xy: np.ndarray, frac: np.ndarray, border: str = "replicate",
                value: int = 0) -> np.ndarray:
    """cv2.remap with the fixed-point maps of `warp_maps` (maps computed once can be reused: the
    detector's letterbox depends only on the image size)."""
    import cv2

    modes = {"replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
    if border not in modes:
        raise ValueError(f"border {border!r}: 'replicate' or 'constant'")
    cn = src.shape[2] if src.ndim == 3 else 1
    return cv2.remap(src, xy, frac, cv2.INTER_LINEAR, borderMode=modes[border], borderValue=(value,) * max(cn, 1))
