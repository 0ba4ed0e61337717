"""Nearest-neighbour matching in descriptor space, by chunked matrix products rather than a KD-tree.

33-d descriptors defeat KD-trees, and a chunked `F_s @ F_tᵀ` + top-2 is exact, deterministic on CPU and
CUDA alike, and never holds more than chunk × N_t similarities. Descriptors are L2-normalised first (as the
SC²-PCR/PointDSC loaders do), so the distance is sqrt(2 − 2 cos).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def l2_normalise(F: torch.Tensor) -> torch.Tensor:
    n = F.norm(dim=1, keepdim=True)
    return F / torch.where(n > 0, n, torch.ones_like(n))


def _dist(sim: torch.Tensor) -> torch.Tensor:
    return torch.sqrt((2.0 - 2.0 * sim).clamp_min(0))


def nearest2(Fa: torch.Tensor, Fb: torch.Tensor, chunk: int = 1024,
             back: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """For each row of Fa (unit norm): index of the most similar row of Fb, its feature distance, the distance
    to the second most similar row (+inf when Fb has one row) and, with `back`, the Fb→Fa nearest neighbours
    from the same similarity blocks (so a mutual check costs no second product)."""
    n = len(Fa)
    idx = torch.empty(n, dtype=torch.int64, device=Fa.device)
    sim = torch.empty(n, dtype=Fa.dtype, device=Fa.device)
    sim2 = torch.full((n,), -math.inf, dtype=Fa.dtype, device=Fa.device)
    best_b = torch.full((len(Fb),), -math.inf, dtype=Fa.dtype, device=Fa.device) if back else None
    arg_b = torch.zeros(len(Fb), dtype=torch.int64, device=Fa.device) if back else None
    FbT = Fb.T.contiguous()
    k = min(2, len(Fb))
    for s in range(0, n, chunk):
        S = Fa[s:s + chunk] @ FbT
        v, i = torch.topk(S, k, dim=1)
        idx[s:s + chunk], sim[s:s + chunk] = i[:, 0], v[:, 0]
        if k > 1:
            sim2[s:s + chunk] = v[:, 1]
        if back:
            bv, bi = S.max(0)  # first maximum within the block; blocks in order, strict ">" keeps the first
            better = bv > best_b
            best_b = torch.where(better, bv, best_b)
            arg_b = torch.where(better, bi + s, arg_b)
    return idx, _dist(sim), _dist(sim2), arg_b


def nearest(Fa: torch.Tensor, Fb: torch.Tensor, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of Fa (unit norm), the index of the most similar row of Fb and the feature distance."""
    idx, dist, _, _ = nearest2(Fa, Fb, chunk)
    return idx, dist


@dataclass
class Matches:
    src_idx: torch.Tensor  # (N,) indices into the source keypoints
    tgt_idx: torch.Tensor  # (N,) indices into the target keypoints
    feat_dist: torch.Tensor  # (N,) descriptor distance of each match
    ratio: torch.Tensor | None = None  # (N,) Lowe ratio: distance to the best / to the second-best target


def match_features(F_src: torch.Tensor, F_tgt: torch.Tensor, mutual: bool = False, chunk: int = 1024) -> Matches:
    """Source→target nearest neighbours (N = N_src); with `mutual` only pairs that are each other's NN.
    The second neighbour comes from the same top-k, so the ratio (used to rank correspondences when SC² caps
    N) is free."""
    Fs = l2_normalise(F_src.to(torch.float32))
    Ft = l2_normalise(F_tgt.to(torch.float32))
    fwd, dist, dist2, back = nearest2(Fs, Ft, chunk, back=mutual)
    # equal best and second-best distances (duplicate descriptors) are maximally ambiguous: ratio 1
    ratio = torch.where(dist2 > 0, dist / torch.where(dist2 > 0, dist2, torch.ones_like(dist2)),
                        torch.ones_like(dist))
    src = torch.arange(len(Fs), device=Fs.device)
    if mutual and len(Fs):
        keep = back[fwd] == src
        src, fwd, dist, ratio = src[keep], fwd[keep], dist[keep], ratio[keep]
    return Matches(src, fwd, dist, ratio)

