"""Occlusion attribution for models that give no gradients (any callable, e.g. a TFLite/MediaPipe model).

A grey/black/blurred patch slides over the image; a pixel's attribution is the mean drop of the target
score over all patches that covered it. Patches are scored in batches because the model call dominates
(one call per batch, not per patch), and the loop reports progress and honours cancel between batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .common import Progress, check_cancel, gaussian_blur, no_progress


@dataclass
class OcclusionResult:
    attributions: np.ndarray  # H×W: mean score drop when the pixel is occluded
    base_score: float
    window: int
    stride: int
    n_evaluations: int


def occlusion(score_fn: Callable, x, window: int = 32, stride: int = 16, fill: str = "blur",
              batch_size: int = 16, progress: Progress = no_progress, cancel=None) -> OcclusionResult:
    """`score_fn(N×C×H×W tensor in [0,1]) -> N scores` (torch or numpy); `x` is 1×C×H×W.

    fill: `blur` (Gaussian σ = window/2, the least out-of-distribution), `black` or `mean` (image mean).
    """
    import torch

    H, W = x.shape[-2:]
    window = int(min(window, H, W))
    stride = max(1, int(stride))
    if fill == "blur":
        s = window / 2.0
        sub = gaussian_blur(x, s, int(2 * round(3 * s) + 1))
    elif fill == "black":
        sub = torch.zeros_like(x)
    elif fill == "mean":
        sub = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    else:
        raise ValueError(f"unknown fill {fill!r}")
    ys = list(range(0, max(H - window, 0) + 1, stride))
    xs = list(range(0, max(W - window, 0) + 1, stride))
    if ys[-1] + window < H:
        ys.append(H - window)
    if xs[-1] + window < W:
        xs.append(W - window)
    boxes = [(y, x0) for y in ys for x0 in xs]

    def score(batch):
        with torch.no_grad():
            s = score_fn(batch)
        return np.asarray(s.detach().cpu() if torch.is_tensor(s) else s, dtype=np.float64).reshape(-1)

    base = float(score(x)[0])
    acc = np.zeros((H, W), np.float64)
    cnt = np.zeros((H, W), np.float64)
    bs = max(1, int(batch_size))
    for b in range(0, len(boxes), bs):
        check_cancel(cancel)
        chunk = boxes[b:b + bs]
        batch = x.repeat(len(chunk), 1, 1, 1)
        for i, (y, x0) in enumerate(chunk):
            batch[i, :, y:y + window, x0:x0 + window] = sub[0, :, y:y + window, x0:x0 + window]
        drops = base - score(batch)
        for (y, x0), d in zip(chunk, drops):
            acc[y:y + window, x0:x0 + window] += d
            cnt[y:y + window, x0:x0 + window] += 1
        progress(min(1.0, (b + len(chunk)) / len(boxes)), f"occlusion {b + len(chunk)}/{len(boxes)}")
    attr = np.where(cnt > 0, acc / np.maximum(cnt, 1), 0.0).astype(np.float32)
    return OcclusionResult(attr, base, window, stride, len(boxes) + 1)
