"""Nearest-neighbour matching in descriptor space, by chunked matrix products rather than a KD-tree.

33-d descriptors defeat KD-trees, and a chunked `F_s @ F_tᵀ` + argmax is exact, deterministic on CPU and
CUDA alike, and never holds more than chunk × N_t similarities. Descriptors are L2-normalised first (as the
SC²-PCR/PointDSC loaders do), so the distance is sqrt(2 − 2 cos).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


def l2_normalise(F: torch.Tensor) -> torch.Tensor:
    n = F.norm(dim=1, keepdim=True)
    return F / torch.where(n > 0, n, torch.ones_like(n))


def nearest(Fa: torch.Tensor, Fb: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of Fa (unit norm), the index of the most similar row of Fb and the feature distance."""
    idx = torch.empty(len(Fa), dtype=torch.int64, device=Fa.device)
    sim = torch.empty(len(Fa), dtype=Fa.dtype, device=Fa.device)
    for s in range(0, len(Fa), chunk):
        S = Fa[s:s + chunk] @ Fb.T
        v, i = S.max(1)
        idx[s:s + chunk], sim[s:s + chunk] = i, v
    return idx, torch.sqrt((2.0 - 2.0 * sim).clamp_min(0))


@dataclass
class Matches:
    src_idx: torch.Tensor  # (N,) indices into the source keypoints
    tgt_idx: torch.Tensor  # (N,) indices into the target keypoints
    feat_dist: torch.Tensor  # (N,) descriptor distance of each match


def match_features(F_src: torch.Tensor, F_tgt: torch.Tensor, mutual: bool = False, chunk: int = 4096) -> Matches:
    """Source→target nearest neighbours (N = N_src); with `mutual` only pairs that are each other's NN."""
    Fs = l2_normalise(F_src.to(torch.float32))
    Ft = l2_normalise(F_tgt.to(torch.float32))
    fwd, dist = nearest(Fs, Ft, chunk)
    src = torch.arange(len(Fs), device=Fs.device)
    if mutual and len(Fs):
        back, _ = nearest(Ft, Fs, chunk)
        keep = back[fwd] == src
        src, fwd, dist = src[keep], fwd[keep], dist[keep]
    return Matches(src, fwd, dist)
