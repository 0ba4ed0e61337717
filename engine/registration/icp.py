"""ICP refinement (point-to-point and point-to-plane) with Open3D's semantics — max correspondence
distance, 30 iterations, relative fitness/RMSE convergence — so `icp_refine` of the reference pipelines
is reproduced, while recording the per-iteration error the workbench plots.

The target's nearest-neighbour structure is built once (KD-tree on CPU, chunked cdist on CUDA; both exact).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .kabsch import weighted_kabsch


class NearestNeighbour:
    """Exact 1-NN queries against a fixed target cloud on the target's device."""

    def __init__(self, target: torch.Tensor, chunk: int = 4096):
        self.target = target
        self.chunk = chunk
        self.tree = None
        if target.device.type == "cpu":
            from scipy.spatial import cKDTree

            self.tree = cKDTree(target.detach().double().numpy())

    def query(self, pts: torch.Tensor, max_dist: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance, index) of each point's nearest target point; index −1 beyond max_dist."""
        if self.tree is not None:
            ub = np.inf if max_dist is None else max_dist
            d, i = self.tree.query(pts.detach().double().numpy(), k=1, distance_upper_bound=ub, workers=-1)
            i = np.where(np.isfinite(d), i, -1)
            return torch.as_tensor(d, dtype=pts.dtype), torch.as_tensor(i, dtype=torch.int64)
        from ..geometry import rows_per_chunk

        ds, ix = [], []
        chunk = rows_per_chunk(len(self.target), pts.element_size(), self.chunk, pts.device, overhead=2)
        for s in range(0, len(pts), chunk):
            D = torch.cdist(pts[s:s + chunk], self.target.to(pts.dtype))
            d, i = D.min(1)
            ds.append(d)
            ix.append(i)
        d = torch.cat(ds) if ds else torch.zeros(0, dtype=pts.dtype, device=pts.device)
        i = torch.cat(ix) if ix else torch.zeros(0, dtype=torch.int64, device=pts.device)
        if max_dist is not None:
            i = torch.where(d <= max_dist, i, torch.full_like(i, -1))
            d = torch.where(d <= max_dist, d, torch.full_like(d, float("inf")))
        return d, i


@dataclass
class ICPResult:
    transform: np.ndarray
    fitness: float  # share of source points with a target neighbour within max_dist
    rmse: float  # RMSE of those inlier pairs
    history: list[dict] = field(default_factory=list)  # per iteration: iteration, rmse, fitness, n


def _vec6_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """Open3D's TransformVector6dToMatrix4d: R = Rz(γ) Ry(β) Rx(α), t = x[3:]."""
    a, b, c = x[0], x[1], x[2]
    ca, sa, cb, sb, cc, sc = torch.cos(a), torch.sin(a), torch.cos(b), torch.sin(b), torch.cos(c), torch.sin(c)
    one, zero = torch.ones_like(a), torch.zeros_like(a)
    Rx = torch.stack([one, zero, zero, zero, ca, -sa, zero, sa, ca]).view(3, 3)
    Ry = torch.stack([cb, zero, sb, zero, one, zero, -sb, zero, cb]).view(3, 3)
    Rz = torch.stack([cc, -sc, zero, sc, cc, zero, zero, zero, one]).view(3, 3)
    T = torch.eye(4, dtype=x.dtype, device=x.device)
    T[:3, :3] = Rz @ Ry @ Rx
    T[:3, 3] = x[3:]
    return T


def icp(source: torch.Tensor, target: torch.Tensor, init: np.ndarray | None = None, max_dist: float = 0.10,
        iterations: int = 30, method: str = "point_to_point", target_normals: torch.Tensor | None = None,
        relative_fitness: float = 1e-6, relative_rmse: float = 1e-6,
        progress: Callable[[float, str], None] | None = None, nn: NearestNeighbour | None = None) -> ICPResult:
    """Refine `init` (4×4 source→target). Point-to-plane needs `target_normals`."""
    if method not in ("point_to_point", "point_to_plane"):
        raise ValueError(f"unknown ICP method {method!r}")
    if method == "point_to_plane" and target_normals is None:
        raise ValueError("point-to-plane ICP needs target normals")
    dev = source.device
    S = source.to(torch.float64)
    Tg = target.to(torch.float64)
    Nt = None if target_normals is None else target_normals.to(torch.float64)
    T = torch.as_tensor(np.eye(4) if init is None else np.asarray(init, float), dtype=torch.float64, device=dev)
    nn = nn or NearestNeighbour(Tg)
    hist: list[dict] = []

    def evaluate(T):
        cur = S @ T[:3, :3].T + T[:3, 3]
        d, i = nn.query(cur, max_dist)
        d, i = d.to(dev), i.to(dev)
        ok = i >= 0
        n = int(ok.sum())
        fit = n / max(1, len(S))
        rmse = float(torch.sqrt((d[ok] ** 2).mean())) if n else 0.0
        return cur, i, ok, n, fit, rmse

    cur, i, ok, n, fit, rmse = evaluate(T)
    hist.append({"iteration": 0, "rmse": rmse, "fitness": fit, "n": n})
    for it in range(iterations):
        if n < 3:
            break
        src_c, tgt_c = cur[ok], Tg[i[ok]]
        if method == "point_to_point":
            dT = weighted_kabsch(src_c, tgt_c)
        else:
            nrm = Nt[i[ok]]
            r = ((src_c - tgt_c) * nrm).sum(1)
            J = torch.cat([torch.linalg.cross(src_c, nrm, dim=1), nrm], 1)  # n×6
            A = J.T @ J
            bvec = -J.T @ r
            try:
                x = torch.linalg.solve(A, bvec)
            except RuntimeError:  # singular (e.g. a plane): keep the current pose
                break
            dT = _vec6_to_matrix(x)
        T = dT @ T
        prev_fit, prev_rmse = fit, rmse
        cur, i, ok, n, fit, rmse = evaluate(T)
        hist.append({"iteration": it + 1, "rmse": rmse, "fitness": fit, "n": n})
        if progress is not None:
            progress((it + 1) / iterations, f"ICP {it + 1}: rmse {rmse * 100:.2f} cm")
        if abs(fit - prev_fit) < relative_fitness and abs(rmse - prev_rmse) < relative_rmse:
            break
    return ICPResult(T.cpu().numpy(), fit, rmse, hist)
