"""Deletion and insertion curves (RISE protocol) — does removing what the map calls important hurt?

A map is only useful if it is faithful to the model. Following RISE (Petsiuk et al.): rank pixels by
saliency; deletion replaces the top pixels with zeros step by step, insertion copies them back onto a
blurred copy (kernel 11, σ 5); after each step the class probability is recorded (n + 1 points,
n = ceil(HW / step)) and AUC = (Σ s_i − s_0/2 − s_n/2) / n. A random ranking of the same pixels gives the
floor a map must beat. Images along the curve are scored in batches (one model call per batch).
For pose models the same code runs with the PoseIG target exp(−0.3·EPE) as the score (an adaptation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .common import Progress, check_cancel, gaussian_blur, no_progress


@dataclass
class Curve:
    mode: str
    scores: np.ndarray  # n + 1 values
    auc: float
    step: int  # pixels per step

    @property
    def fractions(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, len(self.scores))

    def to_dict(self) -> dict:
        return {"mode": self.mode, "auc": self.auc, "step": self.step, "scores": [float(s) for s in self.scores]}


@dataclass
class Faithfulness:
    deletion: Curve
    insertion: Curve
    deletion_random: Curve | None = None
    insertion_random: Curve | None = None
    extra: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        m = {"deletion_auc": self.deletion.auc, "insertion_auc": self.insertion.auc}
        if self.deletion_random is not None:
            m["deletion_auc_random"] = self.deletion_random.auc
        if self.insertion_random is not None:
            m["insertion_auc_random"] = self.insertion_random.auc
        return m


def auc(scores) -> float:
    """Trapezoid area on [0, 1] of n + 1 equally spaced scores: (Σ s_i − s_0/2 − s_n/2) / n."""
    s = np.asarray(scores, dtype=np.float64)
    n = len(s) - 1
    if n < 1:
        raise ValueError("need at least two scores")
    return float((s.sum() - s[0] / 2 - s[-1] / 2) / n)


def rank_positions(saliency: np.ndarray) -> np.ndarray:
    """pos[pixel] = its rank by decreasing saliency (ties keep argsort order, as RISE does)."""
    flat = np.asarray(saliency, dtype=np.float64).reshape(-1)
    order = np.argsort(-flat, kind="stable")
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    return pos


def curve(score_fn: Callable, x, saliency: np.ndarray, mode: str = "deletion", step: int | None = None,
          batch_size: int = 16, substrate=None, progress: Progress = no_progress, cancel=None) -> Curve:
    """One deletion or insertion curve. `score_fn(N×C×H×W) -> N` scores; `x` 1×C×H×W; saliency H×W."""
    import torch

    H, W = x.shape[-2:]
    if saliency.shape != (H, W):
        raise ValueError(f"saliency {saliency.shape} does not match the input {(H, W)}")
    step = int(step or max(1, W))  # RISE: one row's worth of pixels per step
    n = math.ceil(H * W / step)
    if substrate is None:
        substrate = torch.zeros_like(x) if mode == "deletion" else gaussian_blur(x, 5.0, 11)
    pos = torch.from_numpy(rank_positions(saliency).reshape(H, W)).to(x.device)
    scores = np.zeros(n + 1)
    bs = max(1, int(batch_size))
    for s in range(0, n + 1, bs):
        check_cancel(cancel)
        ks = torch.arange(s, min(n + 1, s + bs), device=x.device)
        sel = (pos[None] < (ks * step).view(-1, 1, 1))[:, None].to(x.dtype)  # chosen pixels per step
        if mode == "deletion":
            batch = x * (1 - sel) + substrate * sel
        elif mode == "insertion":
            batch = substrate * (1 - sel) + x * sel
        else:
            raise ValueError(f"unknown mode {mode!r}")
        with torch.no_grad():
            out = score_fn(batch)
        scores[s:s + len(ks)] = np.asarray(out.detach().cpu() if torch.is_tensor(out) else out, np.float64).reshape(-1)
        progress(min(1.0, (s + len(ks)) / (n + 1)), f"{mode} {s + len(ks)}/{n + 1}")
    return Curve(mode, scores, auc(scores), step)


def deletion_insertion(score_fn: Callable, x, saliency: np.ndarray, step: int | None = None, batch_size: int = 16,
                       with_random: bool = True, seed: int = 0, progress: Progress = no_progress,
                       cancel=None) -> Faithfulness:
    """Deletion + insertion for the map, plus (optionally) both for a random ranking of the same pixels."""
    rnd = np.random.default_rng(seed).random(saliency.shape)
    runs = [("deletion", saliency), ("insertion", saliency)]
    if with_random:
        runs += [("deletion", rnd), ("insertion", rnd)]
    out = []
    for i, (mode, sal) in enumerate(runs):
        def sub(f, msg="", i=i):
            progress((i + f) / len(runs), msg)
        out.append(curve(score_fn, x, sal, mode, step, batch_size, progress=sub, cancel=cancel))
    return Faithfulness(out[0], out[1], *(out[2:4] if with_random else (None, None)))
