"""Fast Point Feature Histograms (33-d) in torch, vectorised over all point/neighbour pairs.

Why not Open3D: it is CPU-only and not a dependency of the app; this follows Open3D's
`ComputePairFeatures` / SPFH / FPFH exactly (11 bins per angle, SPFH increments of 100/(k−1), FPFH
neighbour weights 1/‖p−q‖² and per-sub-histogram normalisation to 100, hybrid radius/max_nn search) so
descriptors match the ones the SC²-PCR/PointDSC papers used. Neighbourhoods come from one kNN query with
max_nn neighbours, masked by the radius, so there is no per-point Python loop and memory is bounded by
processing points in chunks.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..geometry import knn

ProgressFn = Callable[[float, str], None]


def pair_features(p1: torch.Tensor, n1: torch.Tensor, p2: torch.Tensor, n2: torch.Tensor) -> torch.Tensor:
    """Open3D's ComputePairFeatures for broadcastable (…×3) inputs → (…×4): (θ, α, φ, distance).

    The source of the Darboux frame is whichever point's normal makes the smaller angle with the line
    joining them; degenerate pairs (coincident points, normal parallel to the line) give zeros.
    """
    dp = p2 - p1
    dist = dp.norm(dim=-1)
    safe = torch.where(dist > 0, dist, torch.ones_like(dist))
    a1 = (n1 * dp).sum(-1) / safe
    a2 = (n2 * dp).sum(-1) / safe
    swap = torch.acos(a1.abs().clamp(max=1)) > torch.acos(a2.abs().clamp(max=1))
    s = swap[..., None]
    n1s = torch.where(s, n2, n1)
    n2s = torch.where(s, n1, n2)
    dps = torch.where(s, -dp, dp)
    f2 = torch.where(swap, -a2, a1)
    v = torch.linalg.cross(dps, n1s, dim=-1)
    vn = v.norm(dim=-1)
    v = v / torch.where(vn > 0, vn, torch.ones_like(vn))[..., None]
    w = torch.linalg.cross(n1s, v, dim=-1)
    f1 = (v * n2s).sum(-1)
    f0 = torch.atan2((w * n2s).sum(-1), (n1s * n2s).sum(-1))
    out = torch.stack([f0, f1, f2, dist], -1)
    bad = (dist == 0) | (vn == 0)
    return torch.where(bad[..., None], torch.zeros_like(out), out)


def _bins(pf: torch.Tensor) -> torch.Tensor:
    """Histogram bin (0…32) of each of the three angles: (…×3) int64."""
    b0 = torch.floor(11 * (pf[..., 0] + math.pi) / (2 * math.pi))
    b1 = torch.floor(11 * (pf[..., 1] + 1.0) * 0.5)
    b2 = torch.floor(11 * (pf[..., 2] + 1.0) * 0.5)
    b = torch.stack([b0, b1, b2], -1).clamp(0, 10).to(torch.int64)
    return b + torch.tensor([0, 11, 22], device=pf.device)


def neighbourhoods(points: torch.Tensor, radius: float, max_nn: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hybrid search as Open3D's KDTreeSearchParamHybrid: the max_nn nearest within `radius`, where (as in
    Open3D) the point itself counts towards max_nn, so at most max_nn − 1 true neighbours remain.

    Returns (indices N×K, squared distances N×K, valid mask N×K, self excluded); K = max_nn.
    """
    sq, idx = knn(points, points, max_nn)
    sq, idx = sq.to(points.device), idx.to(points.device)
    me = torch.arange(len(points), device=points.device)[:, None]
    valid = (sq <= radius * radius) & (idx != me)
    # the point's own slot is column 0 unless duplicates tie with it; never keep more than max_nn − 1 others
    keep = valid.cumsum(1) <= max_nn - 1
    valid &= keep
    return idx, sq, valid


def compute_fpfh(points: torch.Tensor, normals: torch.Tensor, radius: float, max_nn: int = 100,
                 chunk: int = 2048, progress: ProgressFn | None = None) -> torch.Tensor:
    """33-d FPFH of every point (N×33, float32, histograms summing to 100 per angle plus the SPFH term).

    Computation is in float64 (bins are floors of angles; float64 keeps CPU and CUDA on the same bin).
    """
    P = points.to(torch.float64)
    Nn = normals.to(torch.float64)
    n = len(P)
    if n == 0:
        return torch.zeros(0, 33, dtype=torch.float32, device=points.device)
    idx, sq, valid = neighbourhoods(P, radius, max_nn)
    K = idx.shape[1]
    spfh = torch.zeros(n, 33, dtype=torch.float64, device=P.device)
    n_chunks = max(1, math.ceil(n / chunk))
    for c, s in enumerate(range(0, n, chunk)):
        e = min(n, s + chunk)
        ii, vv = idx[s:e], valid[s:e]
        pf = pair_features(P[s:e, None, :], Nn[s:e, None, :], P[ii], Nn[ii])  # c×K×4
        cnt = vv.sum(1, keepdim=True).to(torch.float64)
        incr = torch.where(cnt > 0, 100.0 / cnt.clamp_min(1), torch.zeros_like(cnt)).expand(-1, K)
        incr = incr * vv
        bins = _bins(pf)  # c×K×3
        rows = torch.arange(s, e, device=P.device)[:, None, None].expand(-1, K, 3)
        flat = (rows * 33 + bins).reshape(-1)
        spfh.view(-1).index_add_(0, flat, incr[..., None].expand(-1, -1, 3).reshape(-1))
        if progress is not None:
            progress(0.5 * (c + 1) / n_chunks, "SPFH")
    out = torch.zeros(n, 33, dtype=torch.float64, device=P.device)
    for c, s in enumerate(range(0, n, chunk)):
        e = min(n, s + chunk)
        ii, vv, d2 = idx[s:e], valid[s:e], sq[s:e].to(torch.float64)
        wgt = torch.where(vv & (d2 > 0), 1.0 / torch.where(d2 > 0, d2, torch.ones_like(d2)), torch.zeros_like(d2))
        acc = torch.einsum("ck,ckf->cf", wgt, spfh[ii])  # c×33
        sums = acc.view(-1, 3, 11).sum(-1, keepdim=True)
        scale = torch.where(sums != 0, 100.0 / torch.where(sums != 0, sums, torch.ones_like(sums)), torch.zeros_like(sums))
        f = (acc.view(-1, 3, 11) * scale).reshape(-1, 33) + spfh[s:e]
        has = vv.any(1, keepdim=True)
        out[s:e] = torch.where(has, f, torch.zeros_like(f))
        if progress is not None:
            progress(0.5 + 0.5 * (c + 1) / n_chunks, "FPFH")
    return out.to(torch.float32)
