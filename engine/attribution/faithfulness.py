"""Deletion and insertion curves (RISE protocol) — does removing what the map calls important hurt?

A map is only useful if it is faithful to the model. Following RISE (Petsiuk et al.): rank pixels by
saliency; deletion replaces the top pixels with zeros step by step, insertion copies them back onto a
blurred copy (kernel 11, σ 5); after each step the class probability is recorded (n + 1 points,
n = ceil(HW / step)) and AUC = (Σ s_i − s_0/2 − s_n/2) / n. A random ranking of the same pixels gives the
floor a map must beat. Images along the curve are scored in batches (one model call per batch).
For pose models the same code runs with the PoseIG target exp(−0.3·EPE) as the score (an adaptation).

Substrates (what "removed" means, `SUBSTRATES`): ``rise`` = RISE's own pair (zeros for deletion, the
blurred image for insertion); ``blur`` (Gaussian, kernel 11, σ 5), ``mean`` (the image's per-channel
mean) and ``zero`` use that one substrate for both curves, as the later papers that compare them do.

Random floors: a per-pixel random ranking is white noise, so a smooth map (Grad-CAM's 7×7 grid, occlusion's
stride grid) deletes spatially coherent blobs while the floor deletes scattered pixels — a model is far
more sensitive to blobs, so the smooth map "loses" to random pixels for reasons unrelated to faithfulness.
The granularity-matched floor keeps the map's own values and smoothness and only moves them: the map's
cells (cell × cell blocks, e.g. the occlusion stride) are permuted, or the CAM's low-resolution grid cells
are permuted and upsampled exactly as the CAM is (`cell_shuffled`). Quantus-style scalar metrics (faithfulness
correlation, MoRF/LeRF AOPC, the model-randomisation check) live in `faithmetrics.py`.
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


SUBSTRATES = ("rise", "blur", "mean", "zero")


@dataclass
class Faithfulness:
    deletion: Curve
    insertion: Curve
    deletion_random: Curve | None = None
    insertion_random: Curve | None = None
    extra: dict = field(default_factory=dict)  # name -> Curve: granularity-matched floors ("…_random_cells")
    substrate: str = "rise"
    cell: int | None = None  # cell size (model-input pixels) of the granularity-matched floor

    def curves(self) -> dict:
        c = {"deletion": self.deletion, "insertion": self.insertion}
        if self.deletion_random is not None:
            c.update(deletion_random=self.deletion_random, insertion_random=self.insertion_random)
        c.update(self.extra)
        return c

    def metrics(self) -> dict:
        m = {"deletion_auc": self.deletion.auc, "insertion_auc": self.insertion.auc, "substrate": self.substrate}
        if self.deletion_random is not None:
            m["deletion_auc_random"] = self.deletion_random.auc
        if self.insertion_random is not None:
            m["insertion_auc_random"] = self.insertion_random.auc
        for k, c in self.extra.items():
            m[f"{k.split('_')[0]}_auc_{'_'.join(k.split('_')[1:])}"] = c.auc
        if self.cell is not None and self.extra:
            m["random_cell"] = int(self.cell)
        return m


def make_substrate(x, kind: str, mode: str = "deletion"):
    """The image a removed pixel takes its value from (see the module docstring); x is N×C×H×W."""
    import torch

    if torch.is_tensor(kind):
        return kind.to(x.dtype).expand_as(x)
    if kind == "rise":
        kind = "zero" if mode == "deletion" else "blur"
    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
    if kind == "blur":
        return gaussian_blur(x, 5.0, 11)
    raise ValueError(f"unknown substrate {kind!r} (use {', '.join(SUBSTRATES)})")


def cell_shuffled(saliency: np.ndarray, cell: int, rng, lowres: np.ndarray | None = None) -> np.ndarray:
    """A random map at the map's own granularity: its cell × cell blocks permuted (edges padded by
    replication, then cropped), or — given the low-resolution map it was upsampled from (Grad-CAM's grid) —
    that grid's cells permuted and upsampled bilinearly to the map's size as the CAM itself is."""
    H, W = saliency.shape
    if lowres is not None:
        import torch
        import torch.nn.functional as F

        lo = np.asarray(lowres, np.float64)
        perm = rng.permutation(lo.size)
        sh = lo.reshape(-1)[perm].reshape(lo.shape)
        t = torch.from_numpy(sh)[None, None]
        return F.interpolate(t, size=(H, W), mode="bilinear", align_corners=False)[0, 0].numpy()
    c = max(1, int(cell))
    if c == 1:
        return np.asarray(saliency, np.float64).reshape(-1)[rng.permutation(H * W)].reshape(H, W)
    gh, gw = -(-H // c), -(-W // c)
    pad = np.pad(np.asarray(saliency, np.float64), ((0, gh * c - H), (0, gw * c - W)), mode="edge")
    blocks = pad.reshape(gh, c, gw, c).transpose(0, 2, 1, 3).reshape(gh * gw, c, c)
    blocks = blocks[rng.permutation(gh * gw)]
    return blocks.reshape(gh, gw, c, c).transpose(0, 2, 1, 3).reshape(gh * c, gw * c)[:H, :W]


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
    substrate = make_substrate(x, "rise" if substrate is None else substrate, mode)
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
                       cancel=None, substrate: str = "rise", cell: int | None = None,
                       lowres: np.ndarray | None = None) -> Faithfulness:
    """Deletion + insertion for the map; with `with_random` also both for a per-pixel random ranking and,
    when `cell` > 1 or `lowres` is given, for the granularity-matched random map (`cell_shuffled`)."""
    if substrate not in SUBSTRATES:
        raise ValueError(f"unknown substrate {substrate!r} (use {', '.join(SUBSTRATES)})")
    rng = np.random.default_rng(seed)
    rnd = rng.random(saliency.shape)
    runs = [("deletion", saliency), ("insertion", saliency)]
    cells = with_random and (lowres is not None or (cell is not None and int(cell) > 1))
    if with_random:
        runs += [("deletion", rnd), ("insertion", rnd)]
    if cells:
        sh = cell_shuffled(saliency, cell or 1, rng, lowres)
        runs += [("deletion", sh), ("insertion", sh)]
    out = []
    for i, (mode, sal) in enumerate(runs):
        def sub(f, msg="", i=i):
            progress((i + f) / len(runs), msg)
        out.append(curve(score_fn, x, sal, mode, step, batch_size, substrate=substrate, progress=sub, cancel=cancel))
    extra = {"deletion_random_cells": out[4], "insertion_random_cells": out[5]} if cells else {}
    if lowres is not None and cells:
        cell = int(round(saliency.shape[0] / np.asarray(lowres).shape[0]))
    return Faithfulness(out[0], out[1], *(out[2:4] if with_random else (None, None)), extra=extra,
                        substrate=substrate, cell=int(cell) if cells else None)
