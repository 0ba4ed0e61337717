"""RANSAC over the same correspondences as SC²-PCR, so users can compare a classic baseline in the app.

Mirrors Open3D's `registration_ransac_based_on_correspondence` as the PointDSC baseline script uses it
(spec §2: ransac_n = 4, max-correspondence distance = inlier threshold, point-to-point without scale,
1000 iterations by default), but draws and scores hypotheses in batches on the tensor device instead of
one at a time, with a seeded generator so runs are reproducible. The confidence-based early stop is the
usual k = log(1 − p) / log(1 − wⁿ).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .kabsch import apply, weighted_kabsch


@dataclass
class RansacParams:
    inlier_threshold: float = 0.10
    ransac_n: int = 4
    max_iterations: int = 1000
    confidence: float = 0.999
    batch: int = 1000
    refit: bool = True
    seed: int = 0


@dataclass
class RansacResult:
    transform: np.ndarray
    inlier: np.ndarray
    residual: np.ndarray
    iterations: int
    best_count: int


def ransac(P: torch.Tensor, Q: torch.Tensor, params: RansacParams | None = None,
           progress: Callable[[float, str], None] | None = None) -> RansacResult:
    prm = params or RansacParams()
    prog = progress or (lambda f, m="": None)
    N = len(P)
    if N < prm.ransac_n:
        raise ValueError(f"RANSAC needs at least {prm.ransac_n} correspondences, got {N}")
    P = P.to(torch.float32)
    Q = Q.to(torch.float32)
    pm, qm = P.mean(0), Q.mean(0)
    Pc, Qc = P - pm, Q - qm
    g = torch.Generator().manual_seed(prm.seed)
    best_T, best_count, done = torch.eye(4, dtype=torch.float64, device=P.device), -1, 0
    needed = prm.max_iterations
    sub = max(1, min(prm.batch, (8 * 1024 * 1024) // max(1, N)))
    while done < min(needed, prm.max_iterations):
        b = min(prm.batch, prm.max_iterations - done)
        idx = torch.randint(0, N, (b, prm.ransac_n), generator=g).to(P.device)
        T = weighted_kabsch(Pc[idx], Qc[idx])
        counts = torch.empty(b, dtype=torch.int64, device=P.device)
        for s in range(0, b, sub):
            r = (apply(T[s:s + sub], Pc[None]) - Qc[None]).norm(dim=-1)
            counts[s:s + sub] = (r < prm.inlier_threshold).sum(-1)
        i = int(torch.argmax(counts))
        if int(counts[i]) > best_count:
            best_count, best_T = int(counts[i]), T[i]
            w = best_count / N
            if 0 < w < 1:
                denom = math.log(max(1e-300, 1 - w ** prm.ransac_n))
                needed = int(math.ceil(math.log(1 - prm.confidence) / denom)) if denom < 0 else prm.max_iterations
            elif w >= 1:
                needed = 0
        done += b
        prog(min(1.0, done / max(1, min(needed, prm.max_iterations))), f"RANSAC {done} hypotheses")
    T = best_T
    if prm.refit:
        r = (apply(T, Pc) - Qc).norm(dim=1)
        inl = r < prm.inlier_threshold
        if int(inl.sum()) >= 3:
            T2 = weighted_kabsch(Pc[inl], Qc[inl])
            if int(((apply(T2, Pc) - Qc).norm(dim=1) < prm.inlier_threshold).sum()) >= int(inl.sum()):
                T = T2
    r = (apply(T, Pc) - Qc).norm(dim=1)
    out = T.clone().to(torch.float64)
    out[:3, 3] = out[:3, 3] + qm.double() - out[:3, :3] @ pm.double()
    return RansacResult(out.cpu().numpy(), (r < prm.inlier_threshold).cpu().numpy(),
                        r.cpu().numpy().astype(np.float32), done, best_count)
